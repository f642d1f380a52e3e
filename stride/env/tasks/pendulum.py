"""Torque-limited pendulum swing-up, batched in torch.

The physics, reward and limits are Gymnasium's ``Pendulum-v1`` step for step; the action is normalized to
``[-1, 1]`` and scaled by the maximum torque (2 N·m).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from tensordict import TensorDict

from stride.env.tasks.base import BatchedTask

__all__ = ["Pendulum", "angle_normalize"]


def angle_normalize(theta: torch.Tensor) -> torch.Tensor:
    """Wrap angles into ``[-pi, pi)``.

    Args:
        theta: Angles in radians, any shape.

    Returns:
        The wrapped angles, same shape.
    """
    # ((theta + pi) mod 2 pi) - pi, with a floor-style modulo as numpy's %
    return torch.remainder(theta + math.pi, 2 * math.pi) - math.pi


class Pendulum(BatchedTask):
    """Swing a pendulum up and hold it upright with a weak motor.

    State per env: ``(theta, theta_dot)``, ``theta = 0`` upright. The reward is
    ``-(angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)`` computed on the state before the step with the
    applied torque ``u``. The episode never terminates and is truncated after 200 steps.

    Observation groups:
        ``"policy"``: ``(cos(theta), sin(theta), theta_dot)``. Shape: (num_envs, 3), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (initial states).
        max_episode_length: Time limit in steps; ``None`` uses 200.

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer.

    Reference:
        Gymnasium ``Pendulum-v1``.
    """

    name: ClassVar[str] = "pendulum"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 3}
    action_size: ClassVar[int] = 1
    default_max_episode_length: ClassVar[int] = 200
    state_names: ClassVar[tuple[str, ...]] = ("state",)

    g: ClassVar[float] = 10.0
    """Gravitational acceleration (m/s^2)."""
    m: ClassVar[float] = 1.0
    """Pendulum mass (kg)."""
    l: ClassVar[float] = 1.0  # noqa: E741  (Gymnasium's name for the length)
    """Pendulum length (m)."""
    dt: ClassVar[float] = 0.05
    """Integration time step (s)."""
    max_torque: ClassVar[float] = 2.0
    """Torque (N·m) applied for action 1.0."""
    max_speed: ClassVar[float] = 8.0
    """Angular speed limit (rad/s)."""

    state: torch.Tensor
    """Physical state ``(theta, theta_dot)``; ``theta`` is not wrapped, as in Gymnasium. Shape: (num_envs, 2)."""

    def _init_state(self) -> None:
        """Allocate the state tensor."""
        self.state = torch.zeros(self.num_envs, 2, dtype=torch.float32, device=self.device)

    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Draw ``theta ~ U(-pi, pi)`` and ``theta_dot ~ U(-1, 1)``."""
        u = self._uniform(-1.0, 1.0, 2)
        # one draw for both columns: theta = pi * u_0, theta_dot = u_1
        return {"state": torch.stack((math.pi * u[:, 0], u[:, 1]), dim=-1)}

    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of Gymnasium's pendulum equations with torque ``a * max_torque``.

        Args:
            actions: Clipped actions. Shape: (num_envs, 1).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)``; ``terminated`` is always false.
        """
        th, thdot = self.state.unbind(-1)
        u = actions[:, 0] * self.max_torque
        # cost = angle_normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2, on the state before the step
        costs = angle_normalize(th).square() + 0.1 * thdot.square() + 0.001 * u.square()
        # theta_dot' = clip(theta_dot + (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, -max_speed, max_speed)
        newthdot = thdot + (3 * self.g / (2 * self.l) * torch.sin(th) + 3.0 / (self.m * self.l**2) * u) * self.dt
        newthdot = newthdot.clamp(-self.max_speed, self.max_speed)
        # theta' = theta + theta_dot' dt (semi-implicit Euler)
        newth = th + newthdot * self.dt
        self.state.copy_(torch.stack((newth, newthdot), dim=-1))
        terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return -costs, terminated

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (cos(theta), sin(theta), theta_dot)}``."""
        th, thdot = self.state.unbind(-1)
        obs = torch.stack((torch.cos(th), torch.sin(th), thdot), dim=-1)
        return TensorDict({"policy": obs}, batch_size=[self.num_envs], device=self.device)
