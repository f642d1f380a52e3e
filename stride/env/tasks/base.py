"""Shared machinery of stride's built-in batched torch tasks.

A task subclass supplies only its physics (``_physics``), its observation (``_observe``) and how to draw initial
states (``_sample_initial_state``). This base class owns episode bookkeeping: the time limit, same-step resets,
``time_outs``, ``final_obs``, per-episode statistics, seeding and checkpointable state. Everything is batched over
``num_envs`` in torch and runs on any device without Python loops over envs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from tensordict import TensorDict

from stride.env.episodes import EndedEpisodes
from stride.env.vec_env import VecEnv
from stride.utils.errors import ConfigError

__all__ = ["BatchedTask"]


class BatchedTask(VecEnv):
    """Base class of the built-in tasks.

    Args:
        num_envs: Number of environments in the batch (>= 1).
        device: Torch device for all state and returned tensors.
        seed: Seed of the task's own random generator (initial states, noise).
        max_episode_length: Time limit in steps; ``None`` uses the task's default.

    Raises:
        ConfigError: If ``num_envs`` or ``max_episode_length`` is not a positive integer.
    """

    name: ClassVar[str] = ""
    """Registry name of the task."""

    observation_sizes: ClassVar[Mapping[str, int | tuple[int, ...]]] = {}
    """Observation groups and their sizes: an int for a flat vector, a shape such as ``(C, H, W)`` for an image
    (for listings; the tensors are authoritative)."""

    action_size: ClassVar[int] = 1
    """Size of one env's action vector."""

    default_max_episode_length: ClassVar[int] = 1000
    """Time limit used when none is given."""

    state_names: ClassVar[tuple[str, ...]] = ()
    """Names of the tensor attributes that hold the physical state (saved in checkpoints)."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int = 0,
        max_episode_length: int | None = None,
    ) -> None:
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ConfigError(f"{self.name}: num_envs must be an integer >= 1, got {num_envs!r}.")
        horizon = self.default_max_episode_length if max_episode_length is None else max_episode_length
        if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
            raise ConfigError(f"{self.name}: max_episode_length must be an integer >= 1, got {horizon!r}.")
        self.num_envs = num_envs
        self.num_actions = self.action_size
        self.max_episode_length = horizon
        self.device = torch.device(device)
        self.seed = seed
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)
        self.cfg: dict[str, Any] = {
            "task": self.name,
            "num_envs": num_envs,
            "seed": seed,
            "max_episode_length": horizon,
        }
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.episode_return_buf = torch.zeros(num_envs, dtype=torch.float32, device=self.device)
        self._init_state()
        self._set_state(self._sample_initial_state(), torch.ones(num_envs, dtype=torch.bool, device=self.device))
        self._obs = self._observe()

    # ----------------------------------------------------------------------------------------------- subclass API
    @abstractmethod
    def _init_state(self) -> None:
        """Allocate the state tensors named in ``state_names`` (values are overwritten right after)."""

    @abstractmethod
    def _sample_initial_state(self) -> dict[str, torch.Tensor]:
        """Draw an initial state for every env from ``self.generator``.

        Returns:
            One tensor per name of ``state_names``, each with leading dimension ``num_envs``.
        """

    @abstractmethod
    def _physics(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance the physical state by one step.

        Args:
            actions: Clipped actions. Shape: (num_envs, num_actions).

        Returns:
            ``(rewards, terminated)``, each of shape ``(num_envs,)`` (float32, bool).
        """

    @abstractmethod
    def _observe(self) -> TensorDict:
        """Build the observation TensorDict of the current state.

        Must return new tensors, never views of the state: ``step`` keeps the pre-reset observation as
        ``final_obs`` and then resets the state in place.
        """

    # --------------------------------------------------------------------------------------------------- helpers
    def _uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        """Uniform samples in ``[low, high)`` from the task's generator. Shape: (num_envs, *shape)."""
        u = torch.rand((self.num_envs, *shape), generator=self.generator, device=self.device)
        return low + (high - low) * u

    def _normal(self, std: float, *shape: int) -> torch.Tensor:
        """Zero-mean Gaussian samples from the task's generator. Shape: (num_envs, *shape)."""
        return std * torch.randn((self.num_envs, *shape), generator=self.generator, device=self.device)

    def _set_state(self, new_state: dict[str, torch.Tensor], mask: torch.Tensor) -> None:
        """Overwrite the state of the envs where ``mask`` is true (no host sync)."""
        for key in self.state_names:
            current = getattr(self, key)
            rows = mask.view(-1, *([1] * (current.dim() - 1)))
            current.copy_(torch.where(rows, new_state[key], current))

    # ------------------------------------------------------------------------------------------------ VecEnv API
    def get_observations(self) -> TensorDict:
        """Return the current observations. Shape per group: (num_envs, size)."""
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Advance every env one step, resetting the envs whose episode ended.

        Args:
            actions: Shape: (num_envs, num_actions); values are clipped to [-1, 1].

        Returns:
            ``(obs, rewards, dones, extras)``; ``extras`` holds ``time_outs``, ``final_obs`` and, for the
            episodes that ended this step, ``episode``: an :class:`~stride.env.episodes.EndedEpisodes` mapping that
            reads as ``{"return": (k,), "length": (k,)}`` (selected when read, not here: no host sync per step).
        """
        actions = actions.to(device=self.device, dtype=torch.float32).reshape(self.num_envs, self.num_actions)
        actions = actions.clamp(-1.0, 1.0)
        rewards, terminated = self._physics(actions)
        # ℓ ← ℓ + 1;  G ← G + r
        self.episode_length_buf += 1
        self.episode_return_buf += rewards
        # truncation only counts where the episode did not also terminate
        time_outs = (self.episode_length_buf >= self.max_episode_length) & ~terminated
        dones = terminated | time_outs
        final_obs = self._observe()
        # per-episode statistics of the episodes that ended, at the fixed shape (N,) with the done mask: no host
        # sync here; extras["episode"]["return"] still reads as the (k,) values of the ended episodes
        episode = EndedEpisodes(
            dones,
            {
                "return": torch.where(dones, self.episode_return_buf, 0.0),
                "length": torch.where(dones, self.episode_length_buf, 0).to(torch.float32),
            },
        )
        self._set_state(self._sample_initial_state(), dones)
        self.episode_length_buf.masked_fill_(dones, 0)
        self.episode_return_buf.masked_fill_(dones, 0.0)
        self._obs = self._observe()
        extras: dict[str, Any] = {"time_outs": time_outs, "final_obs": final_obs, "episode": episode}
        return self._obs, rewards, dones, extras

    # ------------------------------------------------------------------------------------------- checkpoint API
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit: physical state, episode buffers, generator state."""
        state: dict[str, Any] = {key: getattr(self, key).clone() for key in self.state_names}
        state["episode_length_buf"] = self.episode_length_buf.clone()
        state["episode_return_buf"] = self.episode_return_buf.clone()
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned.

        Raises:
            ConfigError: If a state tensor is missing or its shape does not match this task.
        """
        expected = (*self.state_names, "episode_length_buf", "episode_return_buf", "generator")
        for key in expected:
            if key not in state:
                raise ConfigError(f"{self.name}: task state has no '{key}'; expected keys {sorted(expected)}.")
        for key in expected[:-1]:
            current = getattr(self, key)
            if tuple(state[key].shape) != tuple(current.shape):
                raise ConfigError(
                    f"{self.name}: task state '{key}' has shape {tuple(state[key].shape)}, this task expects "
                    f"{tuple(current.shape)} (was it saved with another num_envs?)."
                )
            current.copy_(state[key])
        self.generator.set_state(state["generator"])
        self._obs = self._observe()
