"""PendingMoments: batches combined exactly without communication; one process's union is its own moments."""

from __future__ import annotations

import torch

from stride.modules.pending_moments import PendingMoments


class TestPendingMoments:
    """Three batches of different sizes give the float64 moments of their concatenation; union clears them."""

    def test_union_of_batches(self) -> None:
        gen = torch.Generator().manual_seed(0)
        batches = [torch.randn(n, 3, generator=gen) * torch.tensor([1.0, 5.0, 0.1]) + 2.0 for n in (4, 1, 7)]
        pending = PendingMoments()
        assert pending.is_empty and pending.union() is None
        for batch in batches:
            pending.add(batch)
        merged = pending.union()
        assert merged is not None and pending.is_empty and pending.union() is None
        mean, var, count = merged
        every = torch.cat(batches).double()
        assert int(count) == 12 and mean.dtype == torch.float64 and mean.shape == (1, 3)
        torch.testing.assert_close(mean, every.mean(0, keepdim=True), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(var, every.var(0, correction=0, keepdim=True), rtol=1e-12, atol=1e-12)
