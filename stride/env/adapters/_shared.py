"""What the adapters share: the per-episode book-keeping and the observation groups of a Box / Dict space."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from stride.utils.errors import ConfigError

__all__ = ["EpisodeBook", "observation_groups"]


class EpisodeBook:
    """Step count and return of the current episode of each of an adapter's envs.

    The step counts are the adapter's writable ``episode_length_buf``. On the CPU they are updated through a numpy
    view of the tensor's own memory, so a step costs no torch call; a tensor the runner assigns is adopted as is.

    Args:
        num_envs: Number of envs.
        device: Device of the counts and of the returned statistics.
    """

    def __init__(self, num_envs: int, device: torch.device) -> None:
        self.device = device
        self.returns = np.zeros(num_envs, dtype=np.float64)
        empty = torch.zeros(0, dtype=torch.float32, device=device)
        self.no_episodes: dict[str, torch.Tensor] = {"return": empty, "length": empty}
        """The ``extras["episode"]`` of a step in which no episode ended."""
        self.lengths = torch.zeros(num_envs, dtype=torch.long, device=device)

    @property
    def lengths(self) -> torch.Tensor:
        """Steps taken in each env's current episode. Shape: (num_envs,), long."""
        return self._lengths

    @lengths.setter
    def lengths(self, value: torch.Tensor) -> None:
        self._lengths = value
        self._view: np.ndarray | None = value.numpy() if value.is_cpu else None

    def count(self, rewards: np.ndarray) -> np.ndarray:
        """Add one step and its reward to every env's episode.

        Args:
            rewards: Shape: (num_envs,).

        Returns:
            The step counts after the step, on the host. Shape: (num_envs,).
        """
        self.returns += rewards
        if self._view is not None:
            self._view += 1  # the tensor's own memory
            return self._view
        self._lengths += 1
        return self._lengths.cpu().numpy()

    def close(self, lengths: np.ndarray, ended: np.ndarray, dones: torch.Tensor) -> dict[str, torch.Tensor]:
        """The statistics of the episodes that ended, whose envs then start from 0.

        Args:
            lengths: What :meth:`count` returned this step.
            ended: Indices of the envs whose episode ended. Shape: (k,).
            dones: The same envs as a mask. Shape: (num_envs,), on ``device``.

        Returns:
            ``{"return": (k,), "length": (k,)}``, float32 on ``device``.
        """
        episode = {
            "return": torch.from_numpy(self.returns[ended].astype(np.float32)).to(self.device),
            "length": torch.from_numpy(lengths[ended].astype(np.float32)).to(self.device),
        }
        self.returns[ended] = 0.0
        if self._view is not None:
            self._view[ended] = 0
        else:
            self._lengths.masked_fill_(dones, 0)
        return episode


def observation_groups(
    space: Any,
    owner: str,
    is_box: Callable[[Any], bool],
    is_dict: Callable[[Any], bool],
    fix_nested: str = "",
    fix_other: str = "",
) -> tuple[dict[str, tuple[int, ...]], bool]:
    """The observation groups of a space: ``{"policy": shape}`` for a Box, one group per key for a Dict of Boxes.

    Args:
        space: The single env's observation space.
        owner: The adapter's name, for messages.
        is_box: Whether a space is a Box (of the backend's space classes).
        is_dict: Whether a space is a Dict.
        fix_nested: Advice appended when a Dict entry is not a Box.
        fix_other: Advice appended when the space is neither.

    Returns:
        ``(groups, is_dict_space)``: group name → per-env shape.

    Raises:
        ConfigError: For any other space.
    """
    if is_box(space):
        return {"policy": tuple(space.shape)}, False
    if not is_dict(space):
        raise ConfigError(
            f"{owner}: observation space {space} is not supported; expected a Box or a Dict of Boxes.{fix_other}"
        )
    groups: dict[str, tuple[int, ...]] = {}
    for key, sub in space.spaces.items():
        if not is_box(sub):
            raise ConfigError(
                f"{owner}: observation group {key!r} is {sub}; every entry of a Dict observation space must be a "
                f"Box.{fix_nested}"
            )
        groups[str(key)] = tuple(sub.shape)
    return groups, True
