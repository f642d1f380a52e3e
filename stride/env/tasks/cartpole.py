"""Cart-pole balancing with a continuous push force, batched in torch.

The physics are Gymnasium's ``CartPole-v1`` step for step (explicit Euler, same constants, same termination
bounds), with one change: the action is a continuous force ``a * force_mag`` with ``a`` in ``[-1, 1]`` instead of
the discrete left/right push.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from tensordict import TensorDict

from stride.env.tasks.base import BatchedTask

__all__ = ["CartPole"]


class CartPole(BatchedTask):
    """Keep a pole upright on a cart by pushing the cart left or right.

    State per env: ``(x, x_dot, theta, theta_dot)`` (metres, m/s, radians from upright, rad/s). An episode
    terminates when ``|x| > 2.4`` or ``|theta| > 12`` degrees and is truncated after 500 steps. The reward is 1.0
    for every step, the terminal one included (as Gymnasium).

    Observation groups:
        ``"policy"``: ``(x, x_dot, theta, theta_dot)``. Shape: (num_envs, 4), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (initial states).
        max_episode_length: Time limit in steps; ``None`` uses 500.

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer.

    Reference:
        Barto, Sutton and Anderson, "Neuronlike adaptive elements that can solve difficult learning control
        problems", IEEE SMC 1983; Gymnasium ``CartPole-v1``.
    """

    name: ClassVar[str] = "cartpole"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 4}
    action_size: ClassVar[int] = 1
    default_max_episode_length: ClassVar[int] = 500
    state_names: ClassVar[tuple[str, ...]] = ("state",)

    gravity: ClassVar[float] = 9.8
    """Gravitational acceleration (m/s^2)."""
    masscart: ClassVar[float] = 1.0
    """Cart mass (kg)."""
    masspole: ClassVar[float] = 0.1
    """Pole mass (kg)."""
    length: ClassVar[float] = 0.5
    """Half the pole's length (m)."""
    force_mag: ClassVar[float] = 10.0
    """Force (N) applied for action 1.0."""
    tau: ClassVar[float] = 0.02
    """Integration time step (s)."""
    x_threshold: ClassVar[float] = 2.4
    """Cart position (m) beyond which the episode terminates."""
    theta_threshold_radians: ClassVar[float] = 12 * 2 * math.pi / 360
    """Pole angle (rad) beyond which the episode terminates."""
    init_range: ClassVar[float] = 0.05
    """Initial state components are uniform in ``[-init_range, init_range]``."""

    state: torch.Tensor
    """Physical state ``(x, x_dot, theta, theta_dot)``. Shape: (num_envs, 4), float32."""

    def _init_state(self) -> None:
        """Allocate the state tensor."""
        self.state = torch.zeros(self.num_envs, 4, dtype=torch.float32, device=self.device)

    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Draw ``(x, x_dot, theta, theta_dot)`` uniformly in ``[-0.05, 0.05]^4``."""
        return {"state": self._uniform(-self.init_range, self.init_range, 4)}

    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One explicit-Euler step of Gymnasium's cart-pole equations with force ``a * force_mag``.

        Args:
            actions: Clipped actions. Shape: (num_envs, 1).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)``.
        """
        x, x_dot, theta, theta_dot = self.state.unbind(-1)
        force = actions[:, 0] * self.force_mag
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        costheta = torch.cos(theta)
        sintheta = torch.sin(theta)
        # temp = (F + m_p l theta_dot^2 sin(theta)) / (m_c + m_p)
        temp = (force + polemass_length * theta_dot.square() * sintheta) / total_mass
        # theta_acc = (g sin(theta) - cos(theta) temp) / (l (4/3 - m_p cos^2(theta) / (m_c + m_p)))
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta.square() / total_mass)
        )
        # x_acc = temp - m_p l theta_acc cos(theta) / (m_c + m_p)
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        # explicit Euler: positions advance with the old velocities
        new_x = x + self.tau * x_dot
        new_x_dot = x_dot + self.tau * xacc
        new_theta = theta + self.tau * theta_dot
        new_theta_dot = theta_dot + self.tau * thetaacc
        self.state.copy_(torch.stack((new_x, new_x_dot, new_theta, new_theta_dot), dim=-1))
        terminated = (new_x.abs() > self.x_threshold) | (new_theta.abs() > self.theta_threshold_radians)
        rewards = torch.ones(self.num_envs, dtype=torch.float32, device=self.device)
        return rewards, terminated

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (x, x_dot, theta, theta_dot)}`` (a copy, never a view of the state)."""
        return TensorDict({"policy": self.state.clone()}, batch_size=[self.num_envs], device=self.device)
