"""Preallocated on-device rollout storage and its mini-batch generator."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from tensordict import TensorDict

from stride.utils.errors import ConfigError

__all__ = ["MiniBatch", "RolloutStorage"]


@dataclass(slots=True)
class MiniBatch:
    """One mini-batch of flattened transitions. Shapes: (B, ...) with B = T·N / num_mini_batches."""

    observations: TensorDict
    actions: torch.Tensor
    old_log_prob: torch.Tensor
    old_values: torch.Tensor
    returns: torch.Tensor
    advantages: torch.Tensor
    old_dist_params: tuple[torch.Tensor, ...]


class RolloutStorage:
    """Fixed-size ``(T, N, ...)`` buffers written in place during the rollout.

    Args:
        num_envs: N.
        num_steps: T (``num_steps_per_env``).
        obs_template: Observations of one step (batch [N]); fixes the groups, shapes and dtypes stored.
        num_actions: Action size A.
        dist_param_shapes: Per-sample shape of each distribution parameter (e.g. ``[(A,), (A,)]``).
        device: Where the buffers live.
    """

    def __init__(
        self,
        num_envs: int,
        num_steps: int,
        obs_template: Mapping[str, torch.Tensor],
        num_actions: int,
        dist_param_shapes: Sequence[tuple[int, ...]],
        device: torch.device | str,
    ) -> None:
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.device = torch.device(device)
        shape = (num_steps, num_envs)
        self.obs: dict[str, torch.Tensor] = {
            key: torch.zeros(*shape, *value.shape[1:], dtype=value.dtype, device=self.device)
            for key, value in obs_template.items()
        }
        self.observations = TensorDict(self.obs, batch_size=list(shape), device=self.device)
        self.actions = torch.zeros(*shape, num_actions, device=self.device)
        self.log_probs = torch.zeros(shape, device=self.device)
        self.values = torch.zeros(shape, device=self.device)
        self.rewards = torch.zeros(shape, device=self.device)
        self.dones = torch.zeros(shape, device=self.device)
        self.returns = torch.zeros(shape, device=self.device)
        self.advantages = torch.zeros(shape, device=self.device)
        self.dist_params = tuple(torch.zeros(*shape, *s, device=self.device) for s in dist_param_shapes)
        self.step = 0

    @property
    def batch_size(self) -> int:
        """Number of transitions in a full rollout, T·N."""
        return self.num_steps * self.num_envs

    def add_policy_output(
        self,
        obs: Mapping[str, torch.Tensor],
        actions: torch.Tensor,
        log_prob: torch.Tensor,
        values: torch.Tensor,
        dist_params: Sequence[torch.Tensor],
    ) -> None:
        """Write what the policy saw and did at the current step.

        Raises:
            ConfigError: If the rollout is already full (``process`` called too often).
        """
        t = self.step
        if t >= self.num_steps:
            raise ConfigError(f"rollout storage is full ({self.num_steps} steps); call clear() after the update.")
        for key, buf in self.obs.items():
            buf[t].copy_(obs[key])
        self.actions[t].copy_(actions)
        self.log_probs[t].copy_(log_prob)
        self.values[t].copy_(values)
        for buf, p in zip(self.dist_params, dist_params, strict=True):
            buf[t].copy_(p)

    def add_env_output(self, rewards: torch.Tensor, dones: torch.Tensor) -> None:
        """Write the env's answer to the current step and advance."""
        self.rewards[self.step].copy_(rewards)
        self.dones[self.step].copy_(dones)
        self.step += 1

    def clear(self) -> None:
        """Start a new rollout (buffers are overwritten, not freed)."""
        self.step = 0

    def mini_batch_generator(
        self, num_mini_batches: int, num_epochs: int, generator: torch.Generator | None = None
    ) -> Iterator[MiniBatch]:
        """Yield ``num_epochs × num_mini_batches`` mini-batches; one random permutation per epoch.

        Raises:
            ConfigError: If ``num_mini_batches`` does not divide T·N.
        """
        total = self.batch_size
        if total % num_mini_batches != 0:
            raise ConfigError(
                f"algorithm.num_mini_batches={num_mini_batches} must divide num_envs × num_steps_per_env = {total}."
            )
        size = total // num_mini_batches
        obs = {k: v.flatten(0, 1) for k, v in self.obs.items()}
        actions = self.actions.flatten(0, 1)
        log_probs = self.log_probs.flatten(0, 1)
        values = self.values.flatten(0, 1)
        returns = self.returns.flatten(0, 1)
        advantages = self.advantages.flatten(0, 1)
        params = tuple(p.flatten(0, 1) for p in self.dist_params)
        for _ in range(num_epochs):
            perm = torch.randperm(total, device=self.device, generator=generator)
            for i in range(num_mini_batches):
                idx = perm[i * size : (i + 1) * size]
                yield MiniBatch(
                    observations=TensorDict({k: v[idx] for k, v in obs.items()}, batch_size=[size], device=self.device),
                    actions=actions[idx],
                    old_log_prob=log_probs[idx],
                    old_values=values[idx],
                    returns=returns[idx],
                    advantages=advantages[idx],
                    old_dist_params=tuple(p[idx] for p in params),
                )
