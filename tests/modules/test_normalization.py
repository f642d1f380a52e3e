"""Tests for stride.modules.normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rsl_rl.modules import EmpiricalNormalization as RslEmpiricalNormalization

from stride.modules.normalization import EmpiricalNormalization, ValueNormalizer, combine_moments
from stride.utils.errors import ConfigError


def _moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    var, mean = torch.var_mean(x, dim=0, correction=0)
    return mean, var, x.shape[0]


class TestCombineMoments:
    """combine_moments of split batches equals the full-batch population mean and variance (float64)."""

    @pytest.mark.parametrize("seed", range(20))
    def test_random_splits_equal_full_batch(self, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        n = int(torch.randint(2, 400, (1,), generator=gen))
        x = (
            torch.randn(n, 5, generator=gen, dtype=torch.float64) * 3.0
            + torch.randn(5, generator=gen, dtype=torch.float64) * 10.0
        )
        # Seeds 0..4 force a part of size 1 on either side; the others split at random
        cut = [1, n - 1, 1, n - 1][seed] if seed < 4 else int(torch.randint(1, n, (1,), generator=gen))
        mean, var, count = combine_moments(*_moments(x[:cut]), *_moments(x[cut:]))
        ref_mean, ref_var, _ = _moments(x)
        assert count == n
        torch.testing.assert_close(mean, ref_mean, rtol=1e-6, atol=0.0)
        torch.testing.assert_close(var, ref_var, rtol=1e-6, atol=0.0)

    def test_many_parts_sequentially(self) -> None:
        gen = torch.Generator().manual_seed(7)
        x = torch.randn(1000, 3, generator=gen, dtype=torch.float64) + 5.0
        sizes = [1, 1, 17, 300, 1, 680]
        mean, var, count = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64), 0
        for part in x.split(sizes):
            mean, var, count = combine_moments(mean, var, count, *_moments(part))
        ref_mean, ref_var, _ = _moments(x)
        assert count == 1000
        torch.testing.assert_close(mean, ref_mean, rtol=1e-6, atol=0.0)
        torch.testing.assert_close(var, ref_var, rtol=1e-6, atol=0.0)

    def test_empty_parts(self) -> None:
        mean_a, var_a = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 4.0])
        mean, var, count = combine_moments(mean_a, var_a, 0, torch.tensor([9.0, 9.0]), torch.tensor([1.0, 1.0]), 0)
        assert count == 0
        assert torch.equal(mean, mean_a)
        assert torch.equal(var, var_a)
        # An empty second part leaves the first part's statistics exactly
        mean, var, count = combine_moments(mean_a, var_a, 5, torch.tensor([9.0, 9.0]), torch.tensor([1.0, 1.0]), 0)
        assert count == 5
        assert torch.equal(mean, mean_a)
        assert torch.equal(var, var_a)

    def test_tensor_counts_and_purity(self) -> None:
        a = (torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor(1, dtype=torch.long))
        b = (torch.tensor([3.0]), torch.tensor([0.0]), torch.tensor(3, dtype=torch.long))
        snapshot = [t.clone() for t in (*a, *b)]
        mean, var, count = combine_moments(*a, *b)
        assert isinstance(count, torch.Tensor)
        assert count.dtype == torch.long
        assert int(count) == 4
        # Samples {1, 3, 3, 3}: mean 2.5, population variance 0.75
        torch.testing.assert_close(mean, torch.tensor([2.5]), rtol=0.0, atol=0.0)
        torch.testing.assert_close(var, torch.tensor([0.75]), rtol=1e-7, atol=0.0)
        for before, after in zip(snapshot, (*a, *b), strict=True):
            assert torch.equal(before, after)


class TestEmpiricalNormalization:
    """Running statistics equal those of all data seen, with rsl_rl's buffer layout, limits and merge semantics."""

    def test_equals_numpy_over_all_batches(self) -> None:
        rng = np.random.default_rng(0)
        batches = [rng.normal(loc=[0.0, 5.0, -3.0], scale=[1.0, 0.1, 20.0], size=(n, 3)) for n in (64, 1, 7, 256, 2)]
        norm = EmpiricalNormalization(3)
        for batch in batches:
            norm.update(torch.as_tensor(batch, dtype=torch.float32))
        data = np.concatenate(batches)
        assert int(norm.count) == data.shape[0]
        np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(norm._var.squeeze(0).numpy(), data.var(0), rtol=1e-5)
        np.testing.assert_allclose(norm.std.numpy(), data.std(0), rtol=1e-5)
        x = torch.as_tensor(rng.normal(size=(4, 3)), dtype=torch.float32)
        expected = (x.numpy() - data.mean(0)) / (data.std(0) + 1e-2)
        np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(norm.inverse(norm(x)), x, rtol=1e-5, atol=1e-5)

    def test_matches_rsl_rl_update_and_loads_its_state(self) -> None:
        ours, theirs = EmpiricalNormalization(4), RslEmpiricalNormalization(4)
        theirs.train()
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in theirs.state_dict().items()
        }
        assert {k: v.dtype for k, v in ours.state_dict().items()} == {
            k: v.dtype for k, v in theirs.state_dict().items()
        }
        gen = torch.Generator().manual_seed(3)
        for n in (32, 5, 100):
            x = torch.randn(n, 4, generator=gen) * 2.0 + 1.0
            ours.update(x)
            theirs.update(x)
        for key, value in theirs.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[key], value, rtol=1e-5, atol=1e-6)
        fresh = EmpiricalNormalization(4)
        fresh.load_state_dict(theirs.state_dict())
        x = torch.randn(10, 4, generator=gen)
        torch.testing.assert_close(fresh(x), theirs(x), rtol=0.0, atol=0.0)

    def test_until_stops_updates(self) -> None:
        norm = EmpiricalNormalization(2, until=10)
        first = torch.randn(6, 2)
        norm.update(first)
        norm.update(torch.randn(6, 2))  # crosses the limit: still absorbed in full (count 6 < 10)
        frozen = {k: v.clone() for k, v in norm.state_dict().items()}
        assert int(norm.count) == 12
        norm.update(torch.randn(50, 2) + 100.0)
        norm.merge(torch.full((2,), 7.0), torch.ones(2), 1000)
        for key, value in norm.state_dict().items():
            assert torch.equal(value, frozen[key]), key

    def test_merge_equals_update_on_concatenation(self) -> None:
        gen = torch.Generator().manual_seed(5)
        a, b = torch.randn(40, 3, generator=gen), torch.randn(9, 3, generator=gen) * 4.0 - 2.0
        via_update, via_merge = EmpiricalNormalization(3), EmpiricalNormalization(3)
        via_update.update(a)
        via_update.update(b)
        via_merge.update(a)
        var_b, mean_b = torch.var_mean(b, dim=0, correction=0)
        via_merge.merge(mean_b, var_b, torch.tensor(8.9999))  # a float count (all-reduced) is rounded
        for key, value in via_update.state_dict().items():
            torch.testing.assert_close(via_merge.state_dict()[key], value, rtol=0.0, atol=0.0)
        reference = EmpiricalNormalization(3)
        reference.update(torch.cat([a, b]))
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(via_update.state_dict()[key], value, rtol=1e-5, atol=1e-6)

    def test_degenerate_inputs_stay_finite(self) -> None:
        norm = EmpiricalNormalization(3)
        norm.update(torch.tensor([[1.0, 2.0, 3.0]]))  # a single sample: variance 0
        assert torch.equal(norm.mean, torch.tensor([1.0, 2.0, 3.0]))
        assert torch.equal(norm.std, torch.zeros(3))
        constant = torch.tensor([[5.0, 0.0, 1.0]]).repeat(100, 1)
        norm.update(constant)
        out = norm(constant)
        assert torch.isfinite(out).all()
        # Constant second feature after one sample of value 2: y = (0 - 2/101) / (std + eps), finite
        assert torch.isfinite(norm.std).all()
        norm.update(torch.empty(0, 3))
        assert int(norm.count) == 101

    def test_update_accepts_leading_dims_and_never_tracks_grad(self) -> None:
        norm = EmpiricalNormalization(2)
        x = torch.randn(4, 5, 2, requires_grad=True)
        norm.update(x)
        assert int(norm.count) == 20
        assert not any(b.requires_grad for b in norm.buffers())
        torch.testing.assert_close(norm.mean, x.detach().reshape(-1, 2).mean(0), rtol=1e-6, atol=1e-6)

    def test_scripted_forward_equals_eager(self) -> None:
        norm = EmpiricalNormalization(3)
        norm.update(torch.randn(50, 3) * 3.0)
        x = torch.randn(7, 3)
        torch.testing.assert_close(torch.jit.script(norm)(x), norm(x), rtol=0.0, atol=0.0)

    @pytest.mark.gpu
    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    def test_update_and_merge_never_sync_with_host(self) -> None:
        norm = EmpiricalNormalization(3, until=1000).cuda()
        x = torch.randn(64, 3, device="cuda")
        count = torch.tensor(64, device="cuda")  # made before the check: creating it copies from the host
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            norm.update(x)
            norm.merge(x.mean(0), x.var(0), count)
            norm.merge(x.mean(0), x.var(0), 64)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert int(norm.count) == 192

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [({"shape": 0}, "shape"), ({"shape": 3, "eps": -1.0}, "eps"), ({"shape": 3, "until": 0}, "until")],
    )
    def test_rejects_bad_arguments(self, kwargs: dict[str, object], field: str) -> None:
        with pytest.raises(ConfigError, match=field):
            EmpiricalNormalization(**kwargs)  # type: ignore[arg-type]


class TestValueNormalizer:
    """ValueNormalizer tracks scalar return statistics and maps values with a floored std, shape-preserving."""

    def test_identity_before_updates(self) -> None:
        v = torch.randn(8, 3)
        vn = ValueNormalizer()
        assert torch.equal(vn.normalize(v), v)
        assert torch.equal(vn.denormalize(v), v)

    def test_statistics_and_round_trip(self) -> None:
        rng = np.random.default_rng(1)
        chunks = [rng.normal(50.0, 12.0, size=(24, 16)) for _ in range(3)]
        vn = ValueNormalizer()
        for chunk in chunks:
            vn.update(torch.as_tensor(chunk, dtype=torch.float32))
        data = np.concatenate([c.ravel() for c in chunks])
        np.testing.assert_allclose(vn.mean.numpy(), [data.mean()], rtol=1e-5)
        np.testing.assert_allclose(vn.std.numpy(), [data.std()], rtol=1e-5)
        v = torch.as_tensor(chunks[0], dtype=torch.float32)
        normalized = vn.normalize(v)
        assert normalized.shape == v.shape
        np.testing.assert_allclose(normalized.numpy(), (chunks[0] - data.mean()) / data.std(), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(vn.denormalize(normalized), v, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(vn(v), normalized, rtol=0.0, atol=0.0)

    def test_constant_returns_use_the_floor(self) -> None:
        vn = ValueNormalizer(std_floor=1e-3)
        vn.update(torch.full((32,), 4.0))
        assert float(vn.std) == 0.0
        out = vn.normalize(torch.tensor([4.0, 4.5]))
        torch.testing.assert_close(out, torch.tensor([0.0, 500.0]), rtol=1e-5, atol=1e-5)
        assert torch.isfinite(vn.denormalize(out)).all()
        with pytest.raises(ConfigError, match="std_floor"):
            ValueNormalizer(std_floor=0.0)
