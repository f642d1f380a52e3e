"""``algorithm.cuda_graphs`` for SAC and TD3 on a CUDA device: the captured gradient step and act step equal eager
training, replay without a host synchronization, and a checkpoint loads into a captured runner, which then continues
as an uninterrupted run (gpu tier, skipped without CUDA; run by ``benchmarks/gpu_session.sh``). The CPU counterpart of
the same code: tests/algorithms/test_off_policy_graphs.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from cuda_checks import max_diff, no_host_sync
from off_policy_workers import state_of

from stride.algorithms.off_policy_graphs import OffPolicyGraphs
from stride.env.tasks import make_task
from stride.runners import OffPolicyRunner

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

DEVICE = "cuda"
NUM_ENVS = 512
NUM_STEPS = 8
# iteration 1 acts at random; from iteration 2 on every graph (act, SAC's step, TD3's two steps) has warmed up
# (3 eager calls), been captured and replayed several times
ITERATIONS = 4
TOL = 1e-5
SYMMETRY = {
    "use_data_augmentation": True,
    "use_mirror_loss": True,
    "mirror_loss_coeff": 0.5,
    "data_augmentation_func": "pendulum",
}
C51 = {"num_atoms": 51, "v_min": -100.0, "v_max": 0.0}
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "sac": ("SAC", {}, {}),
    "td3": ("TD3", {"policy_delay": 2}, {}),
    "sac-c51-symmetry": ("SAC", {"symmetry_cfg": SYMMETRY}, C51),
    "td3-c51-symmetry": ("TD3", {"symmetry_cfg": SYMMETRY, "policy_delay": 3}, C51),
    "sac-bf16": ("SAC", {"use_mixed_precision": True, "max_grad_norm": 1.0}, {}),
}


def _runner(
    graphs: bool, algo: str, algorithm: dict[str, Any], critic: dict[str, Any], log_dir: str | None = None
) -> OffPolicyRunner:
    cfg = {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": NUM_STEPS,
        "save_interval": 1,
        "seed": 7,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {
            "class_name": algo,
            "batch_size": 1024,
            # 24 steps per env: the buffer wraps in the fourth iteration
            "buffer_size": NUM_ENVS * 24,
            "learning_starts": NUM_STEPS,
            "n_step": 3,
            "cuda_graphs": graphs,
            "save_replay_buffer": log_dir is not None,
            **algorithm,
        },
        "actor": {"hidden_dims": [256, 256], "obs_normalization": True},
        "critic": {"hidden_dims": [256, 256], "obs_normalization": True, **critic},
    }
    # time limit 10: time-outs with final observations from the second iteration on
    env = make_task("pendulum", num_envs=NUM_ENVS, seed=3, device=DEVICE, max_episode_length=10)
    return OffPolicyRunner(env, cfg, log_dir=log_dir, device=DEVICE)


def _graphs(runner: OffPolicyRunner) -> OffPolicyGraphs:
    graphs = runner.alg._graphs
    assert isinstance(graphs, OffPolicyGraphs)
    return graphs


class TestGraphedEqualsEager:
    """After ITERATIONS iterations (32 gradient steps, most of them replays) every parameter, target parameter,
    normalizer statistic, Adam moment and log α is within TOL of eager training's: SAC and TD3, scalar and C51
    critics, symmetry inside the captured step, bfloat16 autocast with clipping. The graphs were captured and the
    update moved the parameters."""

    @pytest.mark.parametrize("case", list(CASES))
    def test_state_after_learning(self, case: str) -> None:
        algo, algorithm, critic = CASES[case]
        eager = _runner(False, algo, algorithm, critic)
        initial = state_of(eager.alg)
        eager.learn(ITERATIONS)
        graphed = _runner(True, algo, algorithm, critic)
        graphed.learn(ITERATIONS)
        graphs = _graphs(graphed)
        assert graphs._act.captured and graphs._steps[True].captured
        assert graphs._steps[False].captured is (algo == "TD3")
        assert graphed.alg.num_updates == eager.alg.num_updates
        assert max_diff(state_of(graphed.alg), state_of(eager.alg)) <= TOL
        trained = state_of(eager.alg)
        assert max_diff({k: trained[k] for k in initial}, initial) > 1e-3  # optimizer moments appear only after


class TestReplayWithoutHostSync:
    """Once captured, a rollout's act replays and an update's gradient steps (index draws, replays, flag copies)
    run under ``torch.cuda.set_sync_debug_mode("error")``; the replayed steps move the actor."""

    @pytest.mark.parametrize("case", ["sac", "td3-c51-symmetry"])
    def test_act_and_gradient_steps(self, case: str) -> None:
        runner = _runner(True, *CASES[case])
        runner.learn(ITERATIONS)
        alg, env = runner.alg, runner.env
        graphs = _graphs(runner)
        assert graphs._act.captured and graphs._steps[True].captured
        obs = env.get_observations().to(runner.device)
        with torch.inference_mode():
            for _ in range(NUM_STEPS):
                with no_host_sync(DEVICE):
                    actions = alg.act(obs)
                obs, rewards, dones, extras = env.step(actions)
                alg.process_env_step(obs, rewards, dones, extras)
        before = [p.detach().clone() for p in alg.actor.parameters()]
        with no_host_sync(DEVICE):
            sums, presence, flags = alg._gradient_steps(6)  # the update's one host read follows, outside
        assert len(presence) == len(flags) == 6
        assert not bool(torch.stack(flags).any()) and bool(torch.isfinite(sums).all())
        moved = max(float((p.detach() - b).abs().max()) for p, b in zip(alg.actor.parameters(), before, strict=True))
        assert moved > 0.0


class TestResumeIntoCapturedRunner:
    """A runner whose graphs are captured loads a checkpoint (replay buffer included; state copied into the captured
    tensors) and continues as an uninterrupted run: within TOL after the same number of iterations."""

    @pytest.mark.parametrize("case", ["sac", "td3"])
    def test_load_then_continue(self, case: str, tmp_path: Path) -> None:
        full = _runner(True, *CASES[case], log_dir=str(tmp_path / "full"))
        full.learn(2 * ITERATIONS)
        first = _runner(True, *CASES[case], log_dir=str(tmp_path / "first"))
        first.learn(ITERATIONS)
        second = _runner(True, *CASES[case], log_dir=str(tmp_path / "second"))
        second.learn(ITERATIONS)
        assert _graphs(second)._steps[True].captured
        second.load(str(tmp_path / "first" / f"model_{ITERATIONS - 1}.pt"))
        assert _graphs(second)._steps[True].captured  # nothing was rebound: the graphs stay valid
        second.learn(ITERATIONS)
        assert max_diff(state_of(second.alg), state_of(full.alg)) <= TOL
