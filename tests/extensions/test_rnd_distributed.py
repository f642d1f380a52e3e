"""RND's intrinsic-reward normalizer under two gloo processes: local moments per step, one all-gather per iteration,
statistics equal to those of the union of the ranks' returns."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from distributed_workers import spawn
from rnd_workers import GAMMA, NUM_ENVS, NUM_ITERATIONS, NUM_STEPS, RUNNER_ENVS, RUNNER_STEPS, scenarios_worker

pytestmark = [pytest.mark.multiproc, pytest.mark.timeout(240)]

WORLD = 2


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both scenarios run once in one 2-process gloo group; each test reads what the ranks wrote."""
    path = tmp_path_factory.mktemp("rnd_distributed")
    spawn(scenarios_worker, str(path), world_size=WORLD)
    return path


def _load(out_dir: Path, name: str) -> list[dict[str, torch.Tensor]]:
    return [torch.load(out_dir / f"{name}_rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _discounted(raw: torch.Tensor) -> torch.Tensor:
    """R̄ ← γR̄ + r_int over a rank's raw intrinsic rewards (never reset), written as a loop in float64.

    Shape: (NUM_ITERATIONS, NUM_STEPS, NUM_ENVS), as ``raw``.
    """
    out = torch.zeros_like(raw, dtype=torch.float64)
    ret = torch.zeros(NUM_ENVS, dtype=torch.float64)
    for it in range(NUM_ITERATIONS):
        for t in range(NUM_STEPS):
            ret = GAMMA * ret + raw[it, t].double()
            out[it, t] = ret
    return out


class TestOneMergePerIteration:
    """With 2 ranks RND's steps make no collective and each ``after_update`` one; after iteration k the reward
    normalizer's statistics equal the population moments of both ranks' discounted intrinsic returns of iterations
    0..k (computed here in one process), bit-identical on both ranks; the intrinsic rewards of iteration k are divided
    by the std of the statistics merged before it (1 at first)."""

    def test_merged_statistics_and_calls(self, out_dir: Path) -> None:
        ranks = _load(out_dir, "extension")
        for r in ranks:
            assert r["step_calls"].tolist() == [0] * NUM_ITERATIONS  # per-step merging made NUM_STEPS each
            assert r["update_calls"].tolist() == [1] * NUM_ITERATIONS
        for key in ("mean", "var", "count"):
            assert torch.equal(ranks[0][key], ranks[1][key]), key
        returns = torch.stack([_discounted(r["raw"]) for r in ranks])  # (WORLD, I, T, N)
        # not vacuous: the ranks' returns differ, so the union's moments differ from either rank's own
        assert abs(float(returns[0].mean() - returns[1].mean())) > 0.1 * float(returns.std())
        for it in range(NUM_ITERATIONS):
            seen = returns[:, : it + 1].reshape(-1)
            assert int(ranks[0]["count"][it]) == seen.numel()
            torch.testing.assert_close(ranks[0]["mean"][it].double(), seen.mean(), rtol=1e-6, atol=0)
            torch.testing.assert_close(ranks[0]["var"][it].double(), seen.var(correction=0), rtol=1e-5, atol=0)
        for r in ranks:
            for it in range(NUM_ITERATIONS):
                std = 1.0 if it == 0 else float(ranks[0]["var"][it - 1]) ** 0.5  # empty statistics: std 1
                torch.testing.assert_close(r["returned"][it], r["raw"][it] / std, rtol=1e-6, atol=1e-7)


class TestPPORunner:
    """PPO with RND's reward normalization under 2 ranks makes exactly one collective more per iteration than without
    it (not one per env step), and the normalizer holds every step of both ranks, bit-identical across ranks."""

    def test_one_collective_per_iteration(self, out_dir: Path) -> None:
        ranks = _load(out_dir, "runner")
        for r in ranks:
            assert int(r["calls_True"]) - int(r["calls_False"]) == NUM_ITERATIONS
            assert int(r["stats.count"]) == NUM_ITERATIONS * RUNNER_STEPS * RUNNER_ENVS * WORLD
        for key in ("stats._mean", "stats._var", "stats._std", "stats.count"):
            assert torch.equal(ranks[0][key], ranks[1][key]), key
        assert float(ranks[0]["stats._var"]) > 0.0
