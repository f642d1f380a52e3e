"""RewardScaler under two gloo processes: local moments per step, one all-gather per iteration, exact union."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from distributed_workers import spawn
from reward_scaling_workers import GAMMA, NUM_ITERATIONS, NUM_STEPS, scenarios_worker, script

pytestmark = [pytest.mark.multiproc, pytest.mark.timeout(240)]

WORLD = 2


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both scenarios run once in one 2-process gloo group; each test reads what the ranks wrote."""
    path = tmp_path_factory.mktemp("reward_scaling_distributed")
    spawn(scenarios_worker, str(path), world_size=WORLD)
    return path


def _load(out_dir: Path, name: str) -> list[dict[str, torch.Tensor]]:
    return [torch.load(out_dir / f"{name}_rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _returns(rank: int) -> torch.Tensor:
    """Rank ``rank``'s discounted returns R ← γR + r (restarted after a done), written as a loop in float64.

    Shape: (NUM_ITERATIONS, NUM_STEPS, NUM_ENVS).
    """
    rewards, dones = script(rank)
    rewards, dones = rewards.double(), dones.double()
    out = torch.zeros_like(rewards)
    ret = torch.zeros(rewards.shape[-1], dtype=torch.float64)
    for it in range(NUM_ITERATIONS):
        for t in range(NUM_STEPS):
            ret = GAMMA * ret + rewards[it, t]
            out[it, t] = ret
            ret = ret * (1.0 - dones[it, t])
    return out


class TestOneMergePerIteration:
    """With 2 ranks the scaler's steps make no collective and each sync one; after iteration k its statistics equal
    the population moments of both ranks' returns of iterations 0..k (computed here in one process), identical on
    both ranks; the rewards of iteration k are scaled by the statistics of the sync before it (scale 1 at first)."""

    def test_merged_statistics_and_calls(self, out_dir: Path) -> None:
        ranks = _load(out_dir, "scaler")
        for r in ranks:
            assert r["step_calls"].tolist() == [0] * NUM_ITERATIONS  # per-step merging would make NUM_STEPS each
            assert r["sync_calls"].tolist() == [1] * NUM_ITERATIONS
        for key in ("mean", "var", "count", "scaled"):
            if key != "scaled":
                assert torch.equal(ranks[0][key], ranks[1][key]), key
        returns = torch.stack([_returns(r) for r in range(WORLD)])  # (WORLD, I, T, N)
        for it in range(NUM_ITERATIONS):
            seen = returns[:, : it + 1].reshape(-1)
            assert int(ranks[0]["count"][it]) == seen.numel()
            torch.testing.assert_close(ranks[0]["mean"][it].double(), seen.mean(), rtol=1e-6, atol=0)
            torch.testing.assert_close(ranks[0]["var"][it].double(), seen.var(correction=0), rtol=1e-5, atol=0)
        # not vacuous: the ranks' returns differ, so the union differs from either rank's own moments
        assert abs(float(returns[0].mean() - returns[1].mean())) > 0.5
        for rank, r in enumerate(ranks):
            rewards, _ = script(rank)
            for it in range(NUM_ITERATIONS):
                var = 1.0 if it == 0 else float(ranks[0]["var"][it - 1])  # empty statistics: variance 1
                expected = (rewards[it] / (var + 1e-8) ** 0.5).clamp(-10.0, 10.0)
                torch.testing.assert_close(r["scaled"][it], expected, rtol=1e-6, atol=1e-6)


class TestPPORunner:
    """PPO with reward_scaling under 2 ranks makes exactly one collective more per iteration than without it (not
    one per env step), and its scaler holds every step of both ranks, bit-identical across ranks."""

    def test_one_collective_per_iteration(self, out_dir: Path) -> None:
        ranks = _load(out_dir, "runner")
        for r in ranks:
            assert int(r["calls_True"]) - int(r["calls_False"]) == NUM_ITERATIONS
            assert int(r["stats.count"]) == NUM_ITERATIONS * 6 * 8 * WORLD
        for key in ("stats._mean", "stats._var", "stats._std", "stats.count"):
            assert torch.equal(ranks[0][key], ranks[1][key]), key
        assert float(ranks[0]["stats._var"]) > 0.0
