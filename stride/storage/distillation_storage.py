"""Preallocated rollout storage of distillation: what the student saw, what the teacher would have done, dones."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from stride.storage.rollout_storage import observation_buffers
from stride.utils.errors import ConfigError

__all__ = ["DistillationStorage"]


class DistillationStorage:
    """Fixed-size ``(T, N, ...)`` buffers written in place during the rollout, read in time order by the update.

    Args:
        num_envs: N.
        num_steps: T (``num_steps_per_env``).
        obs_template: Observations of one step (batch [N]); fixes the groups, shapes and dtypes stored.
        num_actions: Action size A.
        device: Where the buffers live.
    """

    def __init__(
        self,
        num_envs: int,
        num_steps: int,
        obs_template: Mapping[str, torch.Tensor],
        num_actions: int,
        device: torch.device | str,
    ) -> None:
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.device = torch.device(device)
        shape = (num_steps, num_envs)
        self.observations = observation_buffers(obs_template, shape, self.device)
        self._obs_buffers = {key: self.observations[key] for key in obs_template.keys()}  # noqa: SIM118
        self.teacher_actions = torch.zeros(*shape, num_actions, device=self.device)
        self.teacher_acted = torch.zeros(shape, device=self.device)
        self.dones = torch.zeros(shape, device=self.device)
        self.step = 0

    def add_step(
        self, obs: Mapping[str, torch.Tensor], teacher_actions: torch.Tensor, teacher_acted: torch.Tensor
    ) -> None:
        """Write what the student saw, the teacher's label and which envs executed the teacher's action.

        Args:
            obs: Observations of the step, each group (N, ...).
            teacher_actions: The teacher's deterministic actions. Shape: (N, A).
            teacher_acted: 1 where the env was stepped with the teacher's action (β mixture), else 0. Shape: (N,).

        Raises:
            ConfigError: If the rollout is already full.
        """
        t = self.step
        if t >= self.num_steps:
            raise ConfigError(f"distillation storage is full ({self.num_steps} steps); call clear() after the update.")
        for key, buf in self._obs_buffers.items():
            buf[t].copy_(obs[key])
        self.teacher_actions[t].copy_(teacher_actions)
        self.teacher_acted[t].copy_(teacher_acted)

    def add_dones(self, dones: torch.Tensor) -> None:
        """Write the env's dones of the current step and advance."""
        self.dones[self.step].copy_(dones)
        self.step += 1

    def clear(self) -> None:
        """Start a new rollout (buffers are overwritten, not freed)."""
        self.step = 0
