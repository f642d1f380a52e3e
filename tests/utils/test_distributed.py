"""stride.utils.distributed in one process: the exact merge, torchrun's variables, and hooks that change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stride.modules.normalization import EmpiricalNormalization
from stride.utils.checkpoint import latest_checkpoint
from stride.utils.distributed import (
    DistributedInfo,
    all_reduce_gradients,
    distributed_info,
    mean_and_std,
    pooled_moments,
    rank_local_parts,
    resume_after_restart,
    setup_distributed,
    union_moments,
)
from stride.utils.errors import ConfigError

TORCHRUN_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT")


@pytest.fixture
def no_torchrun(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in TORCHRUN_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class TestPooledMoments:
    """Merging per-rank (count, mean, population variance) equals the statistics of the concatenated data."""

    @pytest.mark.parametrize("counts", [(64, 64), (5, 200, 1), (1, 1), (30, 0, 7)])
    def test_equals_union(self, counts: tuple[int, ...]) -> None:
        gen = torch.Generator().manual_seed(len(counts))
        batches = [torch.randn(n, 3, generator=gen) * (1 + 3 * i) + 10 * i for i, n in enumerate(counts)]
        stats = [torch.var_mean(b.double(), dim=0, correction=0) if len(b) else (torch.zeros(3),) * 2 for b in batches]
        mean, var, total = pooled_moments(
            torch.tensor(counts, dtype=torch.float64),
            torch.stack([m.double() for _, m in stats]),
            torch.stack([v.double() for v, _ in stats]),
        )
        union = torch.cat(batches).double()
        expected_var, expected_mean = torch.var_mean(union, dim=0, correction=0)
        assert float(total) == sum(counts)
        assert float((mean - expected_mean).abs().max()) <= 1e-10
        assert float((var - expected_var).abs().max()) <= 1e-10

    def test_normalizer_merge_equals_union(self) -> None:
        """Two normalizers fed each rank's half, merged exactly, equal one normalizer fed everything (≤ 1e-6)."""
        gen = torch.Generator().manual_seed(0)
        halves = [torch.randn(100, 4, generator=gen) * 3.0 + 2.0, torch.randn(100, 4, generator=gen) - 5.0]
        var_mean = [torch.var_mean(h, dim=0, correction=0) for h in halves]
        mean, var, total = pooled_moments(
            torch.tensor([100.0, 100.0]), torch.stack([m for _, m in var_mean]), torch.stack([v for v, _ in var_mean])
        )
        merged = EmpiricalNormalization(4)
        merged.merge(mean, var, total)
        single = EmpiricalNormalization(4)
        single.update(torch.cat(halves))
        assert int(merged.count) == int(single.count) == 200
        assert float((merged.mean - single.mean).abs().max()) <= 1e-6
        assert float((merged.std - single.std).abs().max()) <= 1e-6

    def test_all_empty(self) -> None:
        mean, var, total = pooled_moments(torch.zeros(2), torch.zeros(2, 3), torch.zeros(2, 3))
        assert float(total) == 0.0 and torch.equal(mean, torch.zeros(3)) and torch.equal(var, torch.zeros(3))


class TestSingleProcessHooks:
    """Outside torchrun every hook returns its input object unchanged: single-process training is untouched."""

    def test_hooks_are_identity(self, no_torchrun: pytest.MonkeyPatch) -> None:
        param = torch.nn.Parameter(torch.ones(3))
        param.grad = torch.full((3,), 2.0)
        terms = torch.tensor([1.0, 2.0])
        assert all_reduce_gradients([param], terms) is terms
        assert torch.equal(param.grad, torch.full((3,), 2.0))
        mean, var = torch.zeros(1, 3), torch.ones(1, 3)
        out = union_moments(mean, var, 5)
        assert out[0] is mean and out[1] is var and out[2] == 5
        assert mean_and_std(torch.randn(10)) is None
        assert setup_distributed("cpu") == DistributedInfo()


class TestTorchrunVariables:
    """torchrun's variables are read and checked; a wrong device or a missing rendezvous is a clear ConfigError."""

    def test_reads_variables(self, no_torchrun: pytest.MonkeyPatch) -> None:
        no_torchrun.setenv("WORLD_SIZE", "4")
        no_torchrun.setenv("RANK", "3")
        no_torchrun.setenv("LOCAL_RANK", "1")
        no_torchrun.setenv("TORCHELASTIC_RESTART_COUNT", "2")
        info = distributed_info()
        assert info == DistributedInfo(world_size=4, rank=3, local_rank=1, restart_count=2)
        assert info.is_distributed and not info.is_main

    @pytest.mark.parametrize(
        ("variables", "match"),
        [
            ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not an integer"),
            ({"WORLD_SIZE": "2", "RANK": "2"}, r"RANK=2 is outside \[0, WORLD_SIZE=2\)"),
            ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0"),
        ],
    )
    def test_bad_variables(self, no_torchrun: pytest.MonkeyPatch, variables: dict[str, str], match: str) -> None:
        for name, value in variables.items():
            no_torchrun.setenv(name, value)
        with pytest.raises(ConfigError, match=match):
            distributed_info()

    def test_cuda_device_must_be_local_rank(self, no_torchrun: pytest.MonkeyPatch) -> None:
        for name, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
            no_torchrun.setenv(name, value)
        with pytest.raises(ConfigError, match=r"device is 'cuda:0' .* expected device='cuda:1'"):
            setup_distributed("cuda:0")
        with pytest.raises(ConfigError, match="'mps' is not supported"):
            setup_distributed("mps")

    def test_missing_rendezvous(self, no_torchrun: pytest.MonkeyPatch) -> None:
        for name, value in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
            no_torchrun.setenv(name, value)
        with pytest.raises(ConfigError, match=r"\['MASTER_ADDR', 'MASTER_PORT'\] are not set"):
            setup_distributed("cpu")


class TestRankLocalParts:
    """Ranks > 0 do not restore rank 0's env state, RNG and recurrent states; rank 0 restores everything."""

    def test_parts(self) -> None:
        parts = {"actor": True, "env": True, "rng": True, "iteration": True}
        assert rank_local_parts(parts, DistributedInfo(2, 0, 0)) == parts
        other = rank_local_parts(parts, DistributedInfo(2, 1, 1))
        assert other == {"actor": True, "env": False, "rng": False, "iteration": True, "recurrent_state": False}
        assert parts["env"]  # the caller's dict is not changed


class TestResumeAfterRestart:
    """The latest model_<N>.pt is loaded only after a torchrun restart."""

    class _Runner:
        def __init__(self) -> None:
            self.loaded: list[str] = []

        def load(self, path: str) -> None:
            self.loaded.append(path)

    def test_latest_after_restart(self, tmp_path: Path, no_torchrun: pytest.MonkeyPatch) -> None:
        for name in ("model_2.pt", "model_10.pt", "model_x.pt", "other_99.pt"):
            (tmp_path / name).write_bytes(b"")
        assert latest_checkpoint(str(tmp_path)) == str(tmp_path / "model_10.pt")
        runner = self._Runner()
        assert resume_after_restart(runner, str(tmp_path)) is None  # first start: nothing loaded
        no_torchrun.setenv("TORCHELASTIC_RESTART_COUNT", "1")
        assert resume_after_restart(runner, str(tmp_path)) == str(tmp_path / "model_10.pt")
        assert resume_after_restart(runner, str(tmp_path / "missing")) is None
        assert resume_after_restart(runner, None) is None
        assert runner.loaded == [str(tmp_path / "model_10.pt")]
