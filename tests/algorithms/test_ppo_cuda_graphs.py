"""``algorithm.cuda_graphs`` on a CUDA device: the captured act step and update equal eager PPO, replay them without
a host synchronization, and a checkpoint loads into a captured runner, which then continues as an uninterrupted run
(gpu tier, skipped without CUDA; run by ``benchmarks/gpu_session.sh``). The CPU counterpart of the same code:
tests/algorithms/test_ppo_graphs.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from cuda_checks import max_diff, no_host_sync

from stride.algorithms.ppo_graphs import WARMUP_CALLS, PPOGraphs
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

DEVICE = "cuda"
NUM_ENVS = 1024
NUM_STEPS = 16
# iterations for both graphs to be captured and replayed at least twice (the first WARMUP_CALLS updates are eager)
ITERATIONS = WARMUP_CALLS + 3


SYMMETRY = {"use_data_augmentation": True, "use_mirror_loss": True, "data_augmentation_func": "cartpole"}
RND = {"num_outputs": 8, "predictor_hidden_dims": [64], "target_hidden_dims": [64], "weight": 0.5}


def _cfg(graphs: bool, model: str, **algorithm: Any) -> dict[str, Any]:
    recurrent = {"class_name": "RNNModel", "rnn_type": model, "rnn_hidden_dim": 64} if model != "mlp" else {}
    return {
        "num_steps_per_env": NUM_STEPS,
        "save_interval": 1,
        "seed": 7,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"], "rnd_state": ["policy"]},
        # a fixed learning rate: a KL threshold crossed differently by a 1e-7 difference would not be a graph bug
        "algorithm": {
            "num_mini_batches": 4,
            "num_learning_epochs": 2,
            "schedule": "fixed",
            "cuda_graphs": graphs,
            **algorithm,
        },
        "actor": {
            "hidden_dims": [256, 256],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
            **recurrent,
        },
        "critic": {"hidden_dims": [256, 256], "obs_normalization": True, **recurrent},
    }


def _runner(graphs: bool, model: str = "mlp", log_dir: str | None = None, **algorithm: Any) -> OnPolicyRunner:
    env = make_task("cartpole", num_envs=NUM_ENVS, seed=3, device=DEVICE, max_episode_length=10)
    return OnPolicyRunner(env, _cfg(graphs, model, **algorithm), log_dir=log_dir, device=DEVICE)


def _graphs(runner: OnPolicyRunner) -> PPOGraphs:
    graphs = runner.alg._graphs
    assert isinstance(graphs, PPOGraphs)
    return graphs


def _parameters(runner: OnPolicyRunner) -> dict[str, torch.Tensor]:
    alg = runner.alg
    return {
        **{f"actor.{k}": v for k, v in alg.actor.state_dict().items()},
        **{f"critic.{k}": v for k, v in alg.critic.state_dict().items()},
    }


class TestGraphedEqualsEager:
    """After ITERATIONS iterations (both graphs captured and replayed) the parameters equal eager training's within
    1e-5: MLP, MLP with symmetry and with RND inside the captured update (RND's predictor too), and GRU (whose
    graphed update steps through env columns where the eager one pads trajectories)."""

    @pytest.mark.parametrize(
        ("model", "algorithm"),
        [("mlp", {}), ("mlp", {"symmetry_cfg": SYMMETRY}), ("mlp", {"rnd_cfg": RND}), ("gru", {})],
        ids=["mlp", "mlp-symmetry", "mlp-rnd", "gru"],
    )
    def test_parameters_after_learning(self, model: str, algorithm: dict[str, Any]) -> None:
        eager = _runner(False, model, **algorithm)
        eager.learn(ITERATIONS)
        graphed = _runner(True, model, **algorithm)
        graphed.learn(ITERATIONS)
        graphs = _graphs(graphed)
        assert graphs._act.captured and graphs._update.captured
        assert max_diff(_parameters(graphed), _parameters(eager)) <= 1e-5
        if "rnd_cfg" in algorithm:
            predictor = [dict(r.alg.rnd.predictor.named_parameters()) for r in (graphed, eager)]  # type: ignore[union-attr]
            assert max_diff(*predictor) <= 1e-5


class TestReplayWithoutHostSync:
    """Once captured, a rollout's act replays and an update's replay (with its permutation draws) run under
    ``torch.cuda.set_sync_debug_mode("error")``, MLP and GRU; the replayed update moves the parameters."""

    @pytest.mark.parametrize("model", ["mlp", "gru"])
    def test_act_and_update_replay(self, model: str) -> None:
        runner = _runner(True, model)
        runner.learn(ITERATIONS)  # both graphs captured
        alg, env = runner.alg, runner.env
        graphs = _graphs(runner)
        assert graphs._act.captured and graphs._update.captured
        obs = env.get_observations().to(runner.device)
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                with no_host_sync(DEVICE):
                    actions = alg.act(obs)
                obs, rewards, dones, extras = env.step(actions)
                alg.process_env_step(obs, rewards, dones, extras)
            alg.compute_returns(obs)
        before = _parameters(runner)
        before = {k: v.clone() for k, v in before.items()}
        with no_host_sync(DEVICE):
            flags, ext_sums = graphs.update()  # the replay; PPO.update's one host read of the losses follows it
        alg._finish_update(flags, ext_sums, 0)
        assert max_diff(_parameters(runner), before) > 0.0


class TestResumeIntoCapturedRunner:
    """A runner whose graphs are captured loads a checkpoint (state copied into the captured tensors) and continues
    as an uninterrupted run: parameters within 1e-5 after the same number of iterations."""

    def test_load_then_continue(self, tmp_path: Path) -> None:
        full = _runner(True, log_dir=str(tmp_path / "full"))
        full.learn(2 * ITERATIONS)
        first = _runner(True, log_dir=str(tmp_path / "first"))
        first.learn(ITERATIONS)
        second = _runner(True, log_dir=str(tmp_path / "second"))
        second.learn(ITERATIONS)  # captured before the load
        assert _graphs(second)._update.captured
        second.load(str(tmp_path / "first" / f"model_{ITERATIONS - 1}.pt"))
        assert _graphs(second)._update.captured  # nothing was rebound: the graphs stay valid
        second.learn(ITERATIONS)
        assert max_diff(_parameters(second), _parameters(full)) <= 1e-5
