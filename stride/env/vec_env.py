"""The vectorized-environment contract (rsl_rl compatible).

Any object with these members works with stride; subclassing :class:`VecEnv` is optional and only documents
intent. ``stride.env.checker.check_env`` validates an environment against this contract.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from tensordict import TensorDict

__all__ = ["VecEnv"]


class VecEnv(ABC):
    """A batch of ``num_envs`` environments stepped together on one device.

    Contract:
        * ``get_observations()`` returns a TensorDict with ``batch_size=[num_envs]``, one float32 entry per
          observation group (``"policy"``, ``"critic"``, ...), on ``device``.
        * ``step(actions)`` takes ``(num_envs, num_actions)`` and returns ``(obs, rewards, dones, extras)`` with
          ``rewards`` and ``dones`` of shape ``(num_envs,)``. ``done = terminated or truncated``; the observation
          returned for a done env is already the first observation of its next episode (same-step reset).
        * ``extras["time_outs"]`` (``(num_envs,)``) marks the dones that are truncations.
        * ``extras["final_obs"]`` (optional, beyond rsl_rl) is a TensorDict like ``obs`` holding, for every env that
          is done this step, the last observation of the episode that ended. Rows of other envs are unspecified.
        * ``extras["log"]`` / ``extras["episode"]``: dicts of scalars or tensors to log.
    """

    num_envs: int
    """Number of environments in the batch."""

    num_actions: int
    """Size of one env's action vector."""

    max_episode_length: int | torch.Tensor
    """Time limit in steps: one int, or a ``(num_envs,)`` tensor."""

    episode_length_buf: torch.Tensor
    """Steps taken in the current episode of each env. Shape: (num_envs,), long. Writable by the runner."""

    device: torch.device | str
    """Device of every tensor the env returns."""

    cfg: dict[str, Any] | object
    """The env's own configuration (logged with the run)."""

    @abstractmethod
    def get_observations(self) -> TensorDict:
        """Return the current observations without stepping.

        Returns:
            TensorDict with ``batch_size=[num_envs]``, one entry per observation group.
        """

    @abstractmethod
    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Apply one action per env and advance every env by one step.

        Args:
            actions: Shape: (num_envs, num_actions).

        Returns:
            ``(obs, rewards, dones, extras)`` as described in the class docstring.
        """
