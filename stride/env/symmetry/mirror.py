"""Building blocks of mirror symmetry functions: signed permutations and the rsl_rl-style augmentation call.

A left/right mirror of a robot maps every observation and action vector by a *signed permutation*: component
``i`` of the mirrored vector is ``±`` component ``index[i]`` of the original (joints swap sides, lateral
velocities and roll/yaw rates change sign). :class:`MirrorAugmentation` turns one such map per observation group
plus one for the actions into the function rsl_rl's ``symmetry_cfg["data_augmentation_func"]`` expects:
``func(env=..., obs=TensorDict | None, actions=Tensor | None) -> (obs_aug, actions_aug)`` with the originals first
and the mirrored copies after them along the batch dimension.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from tensordict import TensorDict

from stride.utils.errors import ConfigError, EnvContractError

__all__ = ["MirrorAugmentation", "SignedPermutation"]


class SignedPermutation:
    """The linear map ``y[..., i] = sign[i] · x[..., index[i]]`` on the last dimension.

    Args:
        index: A permutation of ``range(size)``.
        sign: ``+1`` or ``-1`` per output component.

    Raises:
        ConfigError: If ``index`` is not a permutation or a sign is not ±1.
    """

    def __init__(self, index: Sequence[int], sign: Sequence[float]) -> None:
        size = len(index)
        if sorted(index) != list(range(size)):
            raise ConfigError(f"SignedPermutation: index must be a permutation of range({size}), got {list(index)}.")
        if len(sign) != size or any(s not in (1, -1) for s in sign):
            raise ConfigError(f"SignedPermutation: sign must hold {size} entries of +1 or -1, got {list(sign)}.")
        self.index = torch.tensor(list(index), dtype=torch.long)
        self.sign = torch.tensor([float(s) for s in sign], dtype=torch.float64)
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def size(self) -> int:
        """Length of the vectors this map acts on."""
        return int(self.index.numel())

    @classmethod
    def identity(cls, size: int) -> SignedPermutation:
        """``y = x``."""
        return cls(range(size), [1] * size)

    @classmethod
    def negation(cls, size: int) -> SignedPermutation:
        """``y = −x``."""
        return cls(range(size), [-1] * size)

    @classmethod
    def diagonal(cls, sign: Sequence[float]) -> SignedPermutation:
        """Sign flips only: ``y[i] = sign[i] · x[i]``."""
        return cls(range(len(sign)), sign)

    @classmethod
    def from_pairs(
        cls, size: int, swaps: Iterable[tuple[int, int, int]] = (), negate: Iterable[int] = ()
    ) -> SignedPermutation:
        """Build an involution from swapped pairs and sign flips.

        Args:
            size: Vector length.
            swaps: ``(i, j, s)``: ``y[i] = s·x[j]`` and ``y[j] = s·x[i]``.
            negate: Components that stay in place and change sign.

        Returns:
            The map; components named nowhere stay as they are.
        """
        index = list(range(size))
        sign = [1] * size
        for i, j, s in swaps:
            index[i], index[j] = j, i
            sign[i] = sign[j] = s
        for i in negate:
            sign[i] = -1
        return cls(index, sign)

    @classmethod
    def concat(cls, *parts: SignedPermutation) -> SignedPermutation:
        """The block-diagonal map acting on the concatenation of the parts' vectors."""
        index: list[int] = []
        sign: list[float] = []
        offset = 0
        for part in parts:
            index += [offset + int(i) for i in part.index]
            sign += part.sign.tolist()
            offset += part.size
        return cls(index, sign)

    def repeat(self, count: int, block_index: Sequence[int] | None = None) -> SignedPermutation:
        """This map on each of ``count`` consecutive blocks, the blocks permuted by ``block_index``.

        Args:
            count: Number of blocks (e.g. bodies).
            block_index: Output block ``b`` takes input block ``block_index[b]`` (default: in place).

        Returns:
            The map on vectors of length ``count · size``.
        """
        blocks = list(range(count)) if block_index is None else list(block_index)
        index: list[int] = []
        sign: list[float] = []
        for b in range(count):
            index += [blocks[b] * self.size + int(i) for i in self.index]
            sign += self.sign.tolist()
        return SignedPermutation(index, sign)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the map to the last dimension of ``x``.

        Raises:
            EnvContractError: If ``x``'s last dimension is not :attr:`size`.
        """
        if x.shape[-1] != self.size:
            raise EnvContractError(
                f"mirror map of size {self.size} received a tensor of shape {tuple(x.shape)}; expected the last "
                f"dimension to be {self.size}. Fix: use the symmetry function that matches the env's observation "
                "layout (e.g. the make_*_symmetry factory with the env's observation options)."
            )
        key = (x.device, x.dtype)
        cached = self._cache.get(key)
        if cached is None:
            cached = (self.index.to(x.device), self.sign.to(device=x.device, dtype=x.dtype))
            self._cache[key] = cached
        index, sign = cached
        # y_i = s_i · x_{index_i}
        return x.index_select(-1, index) * sign

    def is_involution(self) -> bool:
        """Whether applying the map twice gives the identity."""
        x = torch.arange(1, self.size + 1, dtype=torch.float64)
        return bool(torch.equal(self(self(x)), x))


class MirrorAugmentation:
    """An rsl_rl-style augmentation function built from one signed permutation per group and one for actions.

    Calling it returns the originals followed by one mirrored copy (batch ``2B``); either argument may be None.

    Args:
        obs_maps: Observation group name → its mirror map. A group not listed raises at call time.
        action_map: Mirror map of the action vector.
        name: Name used in error messages (e.g. ``"cartpole"``).

    Raises:
        ConfigError: If a map is not an involution (a mirror applied twice must give the original back).
    """

    def __init__(self, obs_maps: Mapping[str, SignedPermutation], action_map: SignedPermutation, name: str) -> None:
        self.obs_maps = dict(obs_maps)
        self.action_map = action_map
        self.name = name
        for what, mapping in [*self.obs_maps.items(), ("actions", action_map)]:
            if not mapping.is_involution():
                raise ConfigError(f"{name} symmetry: the mirror map of '{what}' applied twice is not the identity.")

    def mirror_obs(self, obs: Mapping[str, torch.Tensor]) -> TensorDict:
        """Only the mirrored copy of ``obs`` (batch ``B``).

        Raises:
            EnvContractError: If ``obs`` holds a group this function has no map for, or a group of another size.
        """
        groups = self._mirror_groups(obs)
        batch = next(iter(groups.values())).shape[0] if groups else 0
        return TensorDict(groups, batch_size=[batch], device=_device_of(obs))

    def _mirror_groups(self, obs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        groups: dict[str, torch.Tensor] = {}
        for key in list(obs.keys()):
            mapping = self.obs_maps.get(key)
            if mapping is None:
                raise EnvContractError(
                    f"{self.name} symmetry received observation group '{key}'; it mirrors only "
                    f"{sorted(self.obs_maps)}. Fix: give the env only those groups, or build a MirrorAugmentation "
                    "with a map for every group."
                )
            groups[key] = mapping(obs[key])
        return groups

    def mirror_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Only the mirrored copy of ``actions``. Shape: (B, num_actions)."""
        return self.action_map(actions)

    def __call__(
        self, env: Any = None, obs: Mapping[str, torch.Tensor] | None = None, actions: torch.Tensor | None = None
    ) -> tuple[TensorDict | None, torch.Tensor | None]:
        """``(cat(obs, mirror(obs)), cat(actions, mirror(actions)))``; ``env`` is accepted and not used."""
        obs_aug = None
        if obs is not None:
            mirrored = self._mirror_groups(obs)
            batch = 2 * next(iter(mirrored.values())).shape[0] if mirrored else 0
            obs_aug = TensorDict(
                {key: torch.cat((obs[key], value), dim=0) for key, value in mirrored.items()},
                batch_size=[batch],
                device=_device_of(obs),
            )
        actions_aug = None
        if actions is not None:
            actions_aug = torch.cat((actions, self.mirror_actions(actions)), dim=0)
        return obs_aug, actions_aug


def _device_of(obs: Mapping[str, torch.Tensor]) -> torch.device | None:
    device = getattr(obs, "device", None)
    if isinstance(device, torch.device):
        return device
    for value in obs.values():
        return value.device
    return None
