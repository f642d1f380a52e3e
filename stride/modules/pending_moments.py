"""Moments of samples a rank has seen but not yet merged with the other ranks: one collective per flush.

Under torchrun a running statistic fed every env step would cost one collective per step if each step were merged
across ranks at once. :class:`PendingMoments` combines the steps' moments on its own rank instead (exactly, in
float64, without communication), and :meth:`PendingMoments.union` merges every rank's accumulated moments in one
all-gather when the owner decides (once per iteration).

Reference:
    Chan, Golub, LeVeque (1979), "Updating Formulae and a Pairwise Algorithm for Computing Sample Variances".
"""

from __future__ import annotations

import torch

from stride.modules.normalization import combine_moments
from stride.utils.distributed import union_moments

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
