"""``extras["episode"]`` of the built-in tasks: the statistics of the episodes that ended, without a host sync.

Selecting the k envs that ended in a step (``dones.nonzero()``) needs k on the host: a device-to-host
synchronization per step on accelerators. :class:`EndedEpisodes` keeps the step's statistics at a fixed shape
``(num_envs,)`` with the done mask instead. Reading an entry the usual way (``extras["episode"]["return"]``) still
gives the ``(k,)`` values of the ended episodes, exactly as before, but the selection happens only then (rsl_rl's
logger reads them once, at the end of an iteration); stride's runner reduces the fixed-shape tensors on the device
(:meth:`EndedEpisodes.masked`) and reads one sum and one count per key per iteration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

import torch

__all__ = ["EndedEpisodes"]


class EndedEpisodes(MutableMapping[str, torch.Tensor]):
    """Per-episode statistics of the episodes that ended at one step, held at the batch's fixed shape.

    Args:
        mask: The envs whose episode ended. Shape: (num_envs,), bool.
        values: Statistic name → per-env values, 0 where ``mask`` is false (already copies: the caller may reuse
            its buffers). Shape: (num_envs,) each.
    """

    def __init__(self, mask: torch.Tensor, values: Mapping[str, torch.Tensor]) -> None:
        self._mask = mask
        self._full = dict(values)
        self._selected: dict[str, torch.Tensor] = {}
        self._assigned: dict[str, torch.Tensor] = {}

    def __getitem__(self, key: str) -> torch.Tensor:
        """The values of the ended episodes, in env order. Shape: (k,). The first read of a key selects them."""
        if key in self._assigned:
            return self._assigned[key]
        if key not in self._selected:
            self._selected[key] = self._full[key][self._mask]  # KeyError for an unknown key
        return self._selected[key]

    def __setitem__(self, key: str, value: torch.Tensor) -> None:
        """Replace an entry by a plain value (a consumer rewriting the dict, e.g. a 0-d tensor unsqueezed)."""
        self._assigned[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self._full and key not in self._assigned:
            raise KeyError(key)
        self._full.pop(key, None)
        self._selected.pop(key, None)
        self._assigned.pop(key, None)

    def __iter__(self) -> Iterator[str]:
        return iter([*self._full, *(k for k in self._assigned if k not in self._full)])

    def __len__(self) -> int:
        return len(set(self._full) | set(self._assigned))

    def masked(self) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
        """Every entry without a host sync.

        Returns:
            Key → ``(values, mask)`` at the fixed shape (values 0 outside the mask), or ``(values, None)`` for an
            entry a consumer assigned (all of its values count).
        """
        out: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {
            key: (value, self._mask) for key, value in self._full.items() if key not in self._assigned
        }
        out.update({key: (value, None) for key, value in self._assigned.items()})
        return out
