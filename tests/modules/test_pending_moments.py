"""PendingMoments: batches combined exactly without communication; one process's union is its own moments; in one
process ``defer`` is an immediate update."""

from __future__ import annotations

import torch

from stride.modules.normalization import EmpiricalNormalization
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


class TestDeferInOneProcess:
    """In one process ``defer`` is ``EmpiricalNormalization.update`` bit for bit and leaves nothing pending, so
    ``merge_into`` then changes nothing; ``merge_into`` merges what ``add`` accumulated (the torchrun path)."""

    def test_defer_updates_at_once(self) -> None:
        gen = torch.Generator().manual_seed(1)
        batches = [torch.randn(n, 2, generator=gen) * 3.0 + 1.0 for n in (5, 2, 6)]
        deferred, updated = EmpiricalNormalization(2), EmpiricalNormalization(2)
        pending = PendingMoments()
        for batch in batches:
            pending.defer(deferred, batch)
            updated.update(batch)
            assert pending.is_empty
        pending.merge_into(deferred)
        for key, value in updated.state_dict().items():
            assert torch.equal(deferred.state_dict()[key], value), key
        assert int(deferred.count) == 13

    def test_merge_into_after_add(self) -> None:
        gen = torch.Generator().manual_seed(2)
        batches = [torch.randn(n, 2, generator=gen) * 2.0 - 1.0 for n in (3, 4)]
        stats, pending = EmpiricalNormalization(2), PendingMoments()
        for batch in batches:
            pending.add(batch)
        assert int(stats.count) == 0
        pending.merge_into(stats)
        every = torch.cat(batches).double()
        assert pending.is_empty and int(stats.count) == 7
        torch.testing.assert_close(stats._mean.double(), every.mean(0, keepdim=True), rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(stats._var.double(), every.var(0, correction=0, keepdim=True), rtol=1e-5, atol=1e-6)
