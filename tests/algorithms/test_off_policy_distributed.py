"""SAC and TD3 under two gloo processes on the CPU: the same update as one process on the union, ranks in sync."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from distributed_workers import spawn
from off_policy_workers import BATCH, build, prepared, scenarios_worker, state_of, union_batches

pytestmark = [pytest.mark.multiproc, pytest.mark.timeout(240)]

WORLD = 2
ALGOS = ("SAC", "TD3")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every scenario run once in one 2-process gloo group; each test reads what the ranks wrote."""
    path = tmp_path_factory.mktemp("off_policy_distributed")
    spawn(scenarios_worker, str(path), world_size=WORLD)
    return path


def _load(out_dir: Path, name: str) -> list[dict[str, torch.Tensor]]:
    return [torch.load(out_dir / f"{name}_rank{r}.pt", weights_only=True) for r in range(WORLD)]


class TestUpdateEquivalence:
    """One update (3 gradient steps: critic, actor, α, targets, symmetry augmentation and mirror loss) with 2 ranks ×
    B transitions per step equals one process on the 2B-transition union batches, within 1e-6.

    The flat all-reduce averages each optimizer's gradients; with equal per-rank batches the mean of the ranks'
    mean-loss gradients is the gradient of the union's mean loss. SAC's reparameterization noise is a fixed function
    of each row in both runs (a random draw would differ between a rank and the union), TD3's smoothing noise is 0.
    """

    @pytest.mark.parametrize("algo", ALGOS)
    def test_two_ranks_equal_one_process(self, algo: str, out_dir: Path) -> None:
        ranks = _load(out_dir, f"{algo}_update")
        reference = build(algo, WORLD * BATCH)
        initial = state_of(reference)
        with prepared(reference, union_batches()):
            reference.update(iteration=0)
        expected = state_of(reference)
        assert set(ranks[0]) == set(expected)
        worst = max(float((ranks[0][k].double() - v.double()).abs().max()) for k, v in expected.items())
        assert worst <= 1e-6, worst
        # the update moved the actor, the critic (and α) — the comparison is not vacuous
        for key in ("actor_state_dict.mlp.0.weight", "critic_state_dict.head.weights.0"):
            if key in expected:
                assert not torch.equal(expected[key], initial[key]), key
        if algo == "SAC":
            assert float(expected["log_alpha"]) != float(initial["log_alpha"])
        for key, value in ranks[0].items():
            assert torch.equal(value, ranks[1][key]), key


class TestRunnerInSync:
    """3 iterations of an OffPolicyRunner on each rank's own pendulum envs (different data, both normalizers' moments
    accumulated per step on each rank and merged across ranks once per iteration, symmetry on): every parameter,
    target network, optimizer moment and normalizer is bit-identical across ranks, the replay buffers are not, the
    normalizers hold every stored step of both ranks after one all-gather per iteration (3, where merging each step
    took 3 × 4 steps × 2 normalizers = 24), and only rank 0 wrote files."""

    @pytest.mark.parametrize("algo", ALGOS)
    def test_zero_divergence(self, algo: str, out_dir: Path) -> None:
        ranks = _load(out_dir, f"{algo}_runner")
        rewards = [r.pop("replay_rewards") for r in ranks]
        assert [int(r.pop("all_gathers")) for r in ranks] == [3, 3]
        stored = torch.cat([r.pop("replay_observations") for r in ranks]).double()
        for model in ("actor", "critic"):
            mean = ranks[0][f"{model}_state_dict.obs_normalizer._mean"].double().squeeze(0)
            var = ranks[0][f"{model}_state_dict.obs_normalizer._var"].double().squeeze(0)
            assert torch.allclose(mean, stored.mean(0), rtol=0, atol=1e-5), model
            assert torch.allclose(var, stored.var(0, correction=0), rtol=1e-5, atol=1e-5), model
        assert len(ranks[0]) > 10 and set(ranks[0]) == set(ranks[1])
        assert [k for k, v in ranks[0].items() if not torch.equal(v, ranks[1][k])] == []
        assert not torch.equal(rewards[0], rewards[1])
        # every stored observation of both ranks went into the normalizers: 3 iterations × 4 steps × 8 envs × 2
        assert int(ranks[0]["actor_state_dict.obs_normalizer.count"]) == 3 * 4 * 8 * WORLD

    @pytest.mark.parametrize("algo", ALGOS)
    def test_only_rank_zero_writes(self, algo: str, out_dir: Path) -> None:
        runs = out_dir / f"{algo}_runs"
        assert sorted(p.name for p in runs.iterdir()) == ["rank0"]
        files = sorted(p.name for p in (runs / "rank0").iterdir())
        assert [f for f in files if f.startswith("model_")] == ["model_0.pt", "model_2.pt"]
