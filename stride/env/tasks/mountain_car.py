"""Continuous mountain car, the classic sparse-reward exploration task, batched in torch.

The dynamics, limits, goal and reward are Gymnasium's ``MountainCarContinuous-v0`` step for step, with its
999-step time limit. The only reward besides the action cost is +100 on reaching the goal, so a policy that never
gets there learns to do nothing: the task separates exploration methods (e.g. RND) from plain action noise.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from tensordict import TensorDict

from stride.env.tasks.base import BatchedTask

__all__ = ["MountainCar"]


class MountainCar(BatchedTask):
    """Drive an under-powered car out of a valley by rocking back and forth.

    State per env: ``(position, velocity)``; the track height is ``sin(3 position)``, the goal is the hilltop at
    ``position >= 0.45``. The engine is too weak to climb directly, so the car must first swing away from the
    goal. An episode terminates at the goal (``position >= 0.45`` and ``velocity >= 0``) and is truncated after
    999 steps. The reward is ``100`` on the terminating step minus ``0.1 a^2`` on every step (``a`` the clamped
    action).

    Observation groups:
        ``"policy"``: ``(position, velocity)``, not normalized. Shape: (num_envs, 2), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (initial states).
        max_episode_length: Time limit in steps; ``None`` uses 999.

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer.

    Reference:
        Moore, "Efficient Memory-based Learning for Robot Control", PhD thesis, Cambridge 1990; Gymnasium
        ``MountainCarContinuous-v0``.
    """

    name: ClassVar[str] = "mountain-car"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 2}
    action_size: ClassVar[int] = 1
    default_max_episode_length: ClassVar[int] = 999
    state_names: ClassVar[tuple[str, ...]] = ("state",)

    min_position: ClassVar[float] = -1.2
    """Left end of the track (an inelastic wall)."""
    max_position: ClassVar[float] = 0.6
    """Right end of the track."""
    max_speed: ClassVar[float] = 0.07
    """Speed limit (position units per step)."""
    goal_position: ClassVar[float] = 0.45
    """The episode succeeds once the car reaches this position moving right (or standing)."""
    goal_velocity: ClassVar[float] = 0.0
    """Minimum velocity at the goal."""
    power: ClassVar[float] = 0.0015
    """Engine acceleration per unit action."""
    goal_reward: ClassVar[float] = 100.0
    """Reward on the step that reaches the goal."""
    action_cost: ClassVar[float] = 0.1
    """Per-step cost factor of the squared action."""

    state: torch.Tensor
    """Physical state ``(position, velocity)``. Shape: (num_envs, 2)."""

    def _init_state(self) -> None:
        """Allocate the state tensor."""
        self.state = torch.zeros(self.num_envs, 2, dtype=torch.float32, device=self.device)

    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Draw ``position ~ U(-0.6, -0.4)`` with ``velocity = 0`` (the valley floor is near -0.52)."""
        position = self._uniform(-0.6, -0.4, 1)
        return {"state": torch.cat((position, torch.zeros_like(position)), dim=-1)}

    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of Gymnasium's continuous mountain car.

        Args:
            actions: Clipped actions. Shape: (num_envs, 1).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)``.
        """
        position, velocity = self.state.unbind(-1)
        force = actions[:, 0]
        # v' = clip(v + a·power − 0.0025·cos(3x), −v_max, v_max)
        velocity = velocity + force * self.power - 0.0025 * torch.cos(3.0 * position)
        velocity = velocity.clamp(-self.max_speed, self.max_speed)
        # x' = clip(x + v', x_min, x_max); the left end is an inelastic wall: v' = 0 there when moving left
        position = (position + velocity).clamp(self.min_position, self.max_position)
        velocity = torch.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        self.state.copy_(torch.stack((position, velocity), dim=-1))
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        # r = 100·[goal reached] − 0.1·a²
        rewards = self.goal_reward * terminated.to(torch.float32) - self.action_cost * force.square()
        return rewards, terminated

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (position, velocity)}``."""
        return TensorDict({"policy": self.state.clone()}, batch_size=[self.num_envs], device=self.device)
