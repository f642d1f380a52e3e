"""Moments of samples a rank has seen but not yet merged with the other ranks: one collective per flush.

Under torchrun a running statistic fed every env step would cost one collective per step if each step were merged
across ranks at once. :class:`PendingMoments` combines the steps' moments on its own rank instead (exactly, in
float64, without communication), and :meth:`PendingMoments.union` merges every rank's accumulated moments in one
all-gather when the owner decides (once per iteration). :meth:`PendingMoments.defer` and
:meth:`PendingMoments.merge_into` are that pattern for a running :class:`EmpiricalNormalization` fed every step (PPO's
reward scaler, RND's intrinsic-reward normalizer): immediate in one process, one merge per flush under torchrun.

Reference:
    Chan, Golub, LeVeque (1979), "Updating Formulae and a Pairwise Algorithm for Computing Sample Variances".
"""

from __future__ import annotations

import torch

from stride.modules.normalization import EmpiricalNormalization, combine_moments
from stride.utils.distributed import is_distributed, union_moments

__all__ = ["PendingMoments"]


class PendingMoments:
    """(mean, population variance, count) of the samples added since the last :meth:`union`, in float64.

    Shape:
        Samples ``(B, D)``; the moments ``(1, D)``, ``(1, D)`` and a 0-d count.
    """

    def __init__(self) -> None:
        """Start with nothing pending."""
        self._moments: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @property
    def is_empty(self) -> bool:
        """Whether nothing was added since the last :meth:`union`."""
        return self._moments is None

    @torch.no_grad()
    def add(self, x: torch.Tensor) -> None:
        """Combine a batch of samples into the pending moments (no communication, no host sync).

        Args:
            x: Samples. Shape: (B, D), B > 0.
        """
        x = x.detach().double()
        var_b, mean_b = torch.var_mean(x, dim=0, correction=0, keepdim=True)
        count_b = torch.full((), float(x.shape[0]), dtype=torch.float64, device=x.device)
        if self._moments is None:
            self._moments = (mean_b, var_b, count_b)
            return
        mean, var, count = combine_moments(*self._moments, mean_b, var_b, count_b)
        self._moments = (mean, var, torch.as_tensor(count))

    def union(self) -> tuple[torch.Tensor, torch.Tensor, int | torch.Tensor] | None:
        """The pending moments of every rank together (one all-gather; this rank's alone in one process); clears them.

        Every rank must call it at the same point, each with something pending (ranks step together). The result is
        bit-identical on every rank.

        Returns:
            ``(mean, var, count)`` of the union, float64 (``(1, D)``, ``(1, D)``, 0-d); None when nothing is pending.
        """
        if self._moments is None:
            return None
        mean, var, count = union_moments(*self._moments)
        self._moments = None
        return mean, var, count

    @torch.no_grad()
    def defer(self, stats: EmpiricalNormalization, x: torch.Tensor) -> None:
        """Feed a batch to ``stats``: at once in one process, into the pending moments under torchrun.

        In one process this is ``stats.update(x)`` (the statistics include ``x`` right away); in a multi-process run
        ``x`` waits here, without communication, until :meth:`merge_into`.

        Args:
            stats: The running statistics the samples belong to.
            x: Samples. Shape: (B, D), B > 0.
        """
        if is_distributed():
            self.add(x)
        else:
            stats.update(x)

    @torch.no_grad()
    def merge_into(self, stats: EmpiricalNormalization) -> None:
        """Merge every rank's pending moments into ``stats`` (one all-gather); nothing when nothing is pending.

        Every rank must call it at the same point; ``stats`` is bit-identical on every rank afterwards (its ``until``
        is respected as by :meth:`EmpiricalNormalization.merge`).
        """
        merged = self.union()
        if merged is not None:
            stats.merge(*merged)
