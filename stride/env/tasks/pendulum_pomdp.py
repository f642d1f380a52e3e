"""Partially observed pendulums: the built-in pendulum with its angular velocity hidden from the policy.

``pendulum-pomdp`` shows the policy only ``(cos θ, sin θ)``: a memoryless policy cannot tell which way the
pendulum swings, a recurrent one can recover ``θ̇`` from two consecutive frames. ``pendulum-noisy`` adds Gaussian
sensor noise to that view and a clean, full-state ``teacher`` group, for student–teacher distillation. Both keep
the pendulum's physics, reward and time limit unchanged (they subclass :class:`~stride.env.tasks.Pendulum`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from tensordict import TensorDict

from stride.env.tasks.pendulum import Pendulum
from stride.utils.errors import ConfigError

__all__ = ["PendulumNoisy", "PendulumPOMDP"]


class PendulumPOMDP(Pendulum):
    """Pendulum swing-up from the angle alone: the policy sees cos θ and sin θ, not the angular velocity.

    Physics, reward, initial states and the 200-step time limit are those of ``pendulum``; with
    ``obs_noise_std = 0`` (the default) the state trajectory and rewards equal ``pendulum``'s for the same seed and
    actions. With ``obs_noise_std > 0`` every observation gets fresh i.i.d. noise ``N(0, obs_noise_std²)`` on each
    of its two entries, drawn from the task's generator; the draw is kept in the state (``obs_noise``), so
    observations are a pure function of the state and resume stays exact.

    Observation groups:
        ``"policy"``: ``(cos θ + ε₁, sin θ + ε₂)``. Shape: (num_envs, 2), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (initial states, sensor noise).
        max_episode_length: Time limit in steps; ``None`` uses 200.
        obs_noise_std: Standard deviation of the sensor noise on ``(cos θ, sin θ)`` (>= 0); ``None`` uses the
            task's default (0 for ``pendulum-pomdp``, 0.005 for ``pendulum-noisy``).

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer, or ``obs_noise_std`` is
            not a finite number >= 0.
    """

    name: ClassVar[str] = "pendulum-pomdp"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 2}
    state_names: ClassVar[tuple[str, ...]] = ("state", "obs_noise")

    default_obs_noise_std: ClassVar[float] = 0.0
    """Sensor noise used when the constructor gets ``obs_noise_std=None``."""

    obs_noise: torch.Tensor
    """Sensor noise of the current observation on ``(cos θ, sin θ)``. Shape: (num_envs, 2), float32."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int = 0,
        max_episode_length: int | None = None,
        obs_noise_std: float | None = None,
    ) -> None:
        std = self.default_obs_noise_std if obs_noise_std is None else obs_noise_std
        if not isinstance(std, int | float) or isinstance(std, bool) or not math.isfinite(std) or std < 0:
            raise ConfigError(
                f"{self.name}: obs_noise_std must be a finite number >= 0, got {std!r}. "
                "Fix: pass e.g. obs_noise_std=0.05, or 0 for noise-free observations."
            )
        self.obs_noise_std = float(std)
        """Standard deviation of the sensor noise (0 = noise-free)."""
        super().__init__(num_envs=num_envs, device=device, seed=seed, max_episode_length=max_episode_length)
        self.cfg["obs_noise_std"] = self.obs_noise_std

    def _init_state(self) -> None:
        """Allocate the physical state and the noise of the current observation."""
        super()._init_state()
        self.obs_noise = torch.zeros(self.num_envs, 2, dtype=torch.float32, device=self.device)

    def _draw_noise(self) -> torch.Tensor:
        """Fresh sensor noise for every env; zeros, without touching the generator, when the noise is off."""
        if self.obs_noise_std == 0.0:
            return torch.zeros(self.num_envs, 2, dtype=torch.float32, device=self.device)
        return self._normal(self.obs_noise_std, 2)

    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Pendulum's initial state (drawn first, so it equals ``pendulum``'s), then the first frame's noise."""
        initial = super()._sample_initial_state()
        initial["obs_noise"] = self._draw_noise()
        return initial

    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pendulum's step, then new sensor noise for the observation of the new state.

        Args:
            actions: Clipped actions. Shape: (num_envs, 1).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)``; ``terminated`` is always false.
        """
        rewards, terminated = super()._physics(actions)
        if self.obs_noise_std > 0.0:
            self.obs_noise.copy_(self._draw_noise())
        return rewards, terminated

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (cos θ, sin θ) + obs_noise}``."""
        th = self.state[:, 0]
        policy = torch.stack((torch.cos(th), torch.sin(th)), dim=-1) + self.obs_noise
        return TensorDict({"policy": policy}, batch_size=[self.num_envs], device=self.device)


class PendulumNoisy(PendulumPOMDP):
    """Noisy angle-only pendulum for the student, clean full state for the teacher (DAgger distillation).

    Same physics, reward and time limit as ``pendulum``. The ``teacher`` group is exactly ``pendulum``'s
    observation, so a PPO policy trained on it (the preset) is a teacher; the student sees the noisy
    ``policy`` group and must filter it over time.

    Observation groups:
        ``"policy"``: ``(cos θ + ε₁, sin θ + ε₂)`` with ``ε ~ N(0, obs_noise_std²)``, fresh every step.
        Shape: (num_envs, 2), float32.
        ``"teacher"``: ``(cos θ, sin θ, θ̇)``, noise-free. Shape: (num_envs, 3), float32.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's random generator (initial states, sensor noise).
        max_episode_length: Time limit in steps; ``None`` uses 200.
        obs_noise_std: Standard deviation of the sensor noise (>= 0); ``None`` uses 0.005.

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer, or ``obs_noise_std`` is
            not a finite number >= 0.
    """

    name: ClassVar[str] = "pendulum-noisy"
    observation_sizes: ClassVar[dict[str, int]] = {"policy": 2, "teacher": 3}
    default_obs_noise_std: ClassVar[float] = 0.005

    def _observe(self) -> TensorDict:
        """Observation ``{"policy": (cos θ, sin θ) + obs_noise, "teacher": (cos θ, sin θ, θ̇)}``."""
        th, thdot = self.state.unbind(-1)
        clean = torch.stack((torch.cos(th), torch.sin(th), thdot), dim=-1)
        policy = clean[:, :2] + self.obs_noise
        return TensorDict({"policy": policy, "teacher": clean}, batch_size=[self.num_envs], device=self.device)
