"""Observation-normalizer updates of the replay learners: every stored step, one collective per iteration.

In one process every stored step is merged into each normalizer at once (acting sees the statistics of every step
stored so far). Under torchrun the steps' moments are accumulated on each rank without communication, and at the
start of the update the ranks' accumulated moments of every normalizer are merged in one all-gather.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from stride.models.mlp_model import Observations
from stride.modules.normalization import EmpiricalNormalization
from stride.modules.pending_moments import PendingMoments
from stride.utils.distributed import is_distributed

__all__ = ["ObservationMoments"]


class ObservationMoments:
    """The normalizers of the actor and the critic, fed from the stored steps.

    Args:
        sources: Each normalizer with the function selecting its (unnormalized) input from the observations.
    """

    def __init__(
        self, sources: Sequence[tuple[EmpiricalNormalization, Callable[[Observations], torch.Tensor]]]
    ) -> None:
        self.sources = list(sources)
        self._pending = PendingMoments()
        """Multi-process only: the moments of the steps not merged yet, the normalizers' features side by side."""
        self._widths: list[int] = []
        """Feature count of each normalizer, in ``sources`` order."""

    def add(self, obs: Observations) -> None:
        """Take one stored step: merge it now (one process) or add it to this rank's pending moments (torchrun)."""
        if not self.sources:
            return
        if not is_distributed():
            for normalizer, select in self.sources:
                x = select(obs)
                normalizer.update(x.reshape(-1, x.shape[-1]))
            return
        # every normalizer sees the same rows, so their features share one count and one set of moments
        parts = [select(obs) for _, select in self.sources]
        self._widths = [part.shape[-1] for part in parts]
        self._pending.add(torch.cat([part.reshape(-1, part.shape[-1]) for part in parts], -1))

    def flush(self) -> None:
        """Merge the pending moments of every rank into the normalizers: one all-gather; nothing in one process."""
        merged = self._pending.union()
        if merged is None:
            return
        mean, var, count = merged
        start = 0
        for (normalizer, _), width in zip(self.sources, self._widths, strict=True):
            normalizer.merge(mean[:, start : start + width], var[:, start : start + width], count)
            start += width
