"""Two gloo processes on the CPU: the distributed hooks give the single-process result on the union of the data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from distributed_workers import (
    NUM_ENVS,
    build_ppo,
    fill,
    fixed_randperm,
    moments_data,
    rollout,
    scenarios_worker,
    spawn,
    state_of,
    union_perms,
)

from stride.modules.normalization import EmpiricalNormalization

pytestmark = [pytest.mark.multiproc, pytest.mark.timeout(180)]

WORLD = 2


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every scenario run once in one 2-process gloo group; each test reads what the ranks wrote."""
    path = tmp_path_factory.mktemp("distributed")
    spawn(scenarios_worker, str(path), world_size=WORLD)
    return path


def _reference(kind: str) -> dict[str, torch.Tensor]:
    """One process, both ranks' envs, each mini-batch the union of the ranks' mini-batches."""
    alg = build_ppo(kind, WORLD * NUM_ENVS)
    fill(alg, rollout(WORLD * NUM_ENVS), slice(None))
    with fixed_randperm(union_perms(WORLD, alg.is_recurrent)):
        alg.update(iteration=0)
    return state_of(alg)


class TestUpdateEquivalence:
    """One update with 2 ranks × N envs equals one process on the 2N envs with the same mini-batch partition.

    Covers the flat gradient all-reduce (actor, critic, RND predictor), the KL-driven learning rate, advantage
    normalization over both ranks, and the observation, value and RND-state normalizer merges; with symmetry
    augmentation and mirror loss, for an MLP (with RND) and a GRU.
    """

    @pytest.mark.parametrize("kind", ["mlp", "gru"])
    def test_two_ranks_equal_one_process(self, kind: str, out_dir: Path) -> None:
        ranks = [torch.load(out_dir / f"{kind}_rank{r}.pt", weights_only=True) for r in range(WORLD)]
        expected = _reference(kind)
        initial = state_of(build_ppo(kind, NUM_ENVS))
        assert set(ranks[0]) == set(expected)
        worst = max(float((ranks[0][k].double() - v.double()).abs().max()) for k, v in expected.items())
        assert worst <= 1e-6, worst
        # the update did move the parameters, the learning rate and the statistics (the comparison is not vacuous)
        assert not torch.equal(ranks[0]["actor.mlp.0.weight"], initial["actor.mlp.0.weight"])
        assert float(ranks[0]["learning_rate"]) != float(initial["learning_rate"])
        assert int(ranks[0]["actor.obs_normalizer.count"]) == WORLD * NUM_ENVS * 6
        # and both ranks hold the very same bits
        for key, value in ranks[0].items():
            assert torch.equal(value, ranks[1][key]), key


class TestNormalizerMerge:
    """Normalizer updates on two ranks with different data equal the statistics of the union, bit-identical on both."""

    def test_union_statistics(self, out_dir: Path) -> None:
        ranks = [torch.load(out_dir / f"moments_rank{r}.pt", weights_only=True) for r in range(WORLD)]
        union = torch.cat([moments_data(r, s) for s in range(3) for r in range(WORLD)])
        var, mean = torch.var_mean(union.double(), dim=0, correction=0)
        assert float((ranks[0]["_mean"].double().squeeze(0) - mean).abs().max()) <= 1e-6
        assert float((ranks[0]["_var"].double().squeeze(0) - var).abs().max() / var.max()) <= 1e-6
        assert int(ranks[0]["count"]) == union.shape[0]
        advantages = torch.cat([moments_data(r, 9)[:, 0] for r in range(WORLD)]).double()
        assert abs(float(ranks[0]["adv_mean"]) - float(advantages.mean())) <= 1e-6
        assert abs(float(ranks[0]["adv_std"]) - float(advantages.std())) <= 1e-6
        for key, value in ranks[0].items():
            assert torch.equal(value, ranks[1][key]), key
        # the single-process normalizer on the concatenated batches agrees too
        single = EmpiricalNormalization(3)
        for step in range(3):
            single.update(torch.cat([moments_data(r, step) for r in range(WORLD)]))
        assert torch.allclose(single._mean, ranks[0]["_mean"], atol=1e-5)


class TestSetupMismatch:
    """Ranks that disagree on the config get a ConfigError naming the entry and each rank's value, not a hang."""

    def test_every_rank_raises(self, out_dir: Path) -> None:
        for rank in range(WORLD):
            message = (out_dir / f"mismatch_rank{rank}.txt").read_text(encoding="utf-8")
            assert "config.algorithm.learning_rate (rank 0: 0.001, rank 1: 0.002)" in message, message
            assert "env.num_envs" not in message
