"""R23 (recurrent): a GRU solves the cue-memory task where an MLP stays at chance; on the pendulum with the
velocity hidden a GRU reaches a return the MLP does not.

Judged by the deterministic evaluation of the trained policy on fresh episodes (``evaluate_policy`` resets a
recurrent policy's state before it starts and on every done).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.runners.evaluate import evaluate_policy


def _model(kind: str, actor: bool, rnn_hidden_dim: int) -> dict[str, Any]:
    section: dict[str, Any] = {"hidden_dims": [64], "activation": "elu"}
    if kind != "mlp":
        section.update(class_name="RNNModel", rnn_type=kind, rnn_hidden_dim=rnn_hidden_dim)
    if actor:
        section["distribution_cfg"] = {"class_name": "GaussianDistribution", "init_std": 1.0}
    return section


def train_and_evaluate(
    task: str, kind: str, seed: int, iterations: int, num_envs: int, rnn_hidden_dim: int = 32
) -> tuple[float, float]:
    """Train ``kind`` ("mlp" | "gru" | "lstm") on ``task``; return (deterministic mean return, seconds)."""
    cfg = {
        "num_steps_per_env": 24,
        "seed": seed,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"num_mini_batches": 4, "num_learning_epochs": 5, "entropy_coef": 0.005},
        "actor": _model(kind, True, rnn_hidden_dim),
        "critic": _model(kind, False, rnn_hidden_dim),
    }
    runner = OnPolicyRunner(make_task(task, num_envs=num_envs, seed=seed), cfg, log_dir=None)
    start = time.perf_counter()
    runner.learn(iterations, init_at_random_ep_len=task.startswith("pendulum"))
    seconds = time.perf_counter() - start
    result = evaluate_policy(make_task(task, num_envs=64, seed=1000 + seed), runner.get_inference_policy(), 64)
    assert result.num_episodes == 64
    return result.mean_return, seconds


class TestMemory:
    """Cue memory (12 steps): optimal return 1, any memoryless policy 0 in expectation."""

    def test_gru_solves_mlp_at_chance(self, record_property: pytest.RecordProperty) -> None:
        gru, gru_s = train_and_evaluate("memory", "gru", 1, iterations=20, num_envs=64)
        mlp, mlp_s = train_and_evaluate("memory", "mlp", 1, iterations=20, num_envs=64)
        record_property("memory_seed1", f"gru={gru:.3f} ({gru_s:.0f}s) mlp={mlp:.3f} ({mlp_s:.0f}s)")
        assert gru >= 0.9
        assert abs(mlp) <= 0.3

    # GRU only: an LSTM with the same 30-iteration budget solved seeds 1 and 3 but stayed at chance on seed 2
    # (-0.03), so the LSTM needs a larger budget than this test gives
    @pytest.mark.slow
    @pytest.mark.parametrize("kind", ["gru"])
    def test_every_seed(self, kind: str, record_property: pytest.RecordProperty) -> None:
        results = {seed: train_and_evaluate("memory", kind, seed, iterations=30, num_envs=64) for seed in (1, 2, 3)}
        mlp = {seed: train_and_evaluate("memory", "mlp", seed, iterations=30, num_envs=64) for seed in (1, 2, 3)}
        record_property(f"memory_{kind}", str(results))
        record_property("memory_mlp", str(mlp))
        assert all(ret >= 0.9 for ret, _ in results.values()), results
        assert all(abs(ret) <= 0.3 for ret, _ in mlp.values()), mlp


class TestPendulumPOMDP:
    """Pendulum with θ̇ hidden (observation cos θ, sin θ): the GRU can infer the velocity, the MLP cannot."""

    @pytest.mark.slow
    def test_gru_beats_mlp(self, record_property: pytest.RecordProperty) -> None:
        # measured with one torch thread (2026-12-05; seeds 1, 2, 3; 128 envs): GRU -419 / -716 / -202 after 100
        # iterations (two threads gave -220 on seed 1: at 100 iterations the result hung on the reduction order),
        # -247 / -235 / -199 after 150, -191 / -208 / -243 after 200; MLP -1094 / -1064 / -1073 after 150. Solved
        # pendulum is about -150 to -200. One thread, 150 iterations: the margin no longer depends on the machine.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            gru = {s: train_and_evaluate("pendulum-pomdp", "gru", s, 150, 128, rnn_hidden_dim=64) for s in (1, 2)}
            mlp = {s: train_and_evaluate("pendulum-pomdp", "mlp", s, 150, 128) for s in (1, 2)}
        finally:
            torch.set_num_threads(threads)
        record_property("pendulum_pomdp", f"gru={gru} mlp={mlp}")
        assert all(ret >= -400.0 for ret, _ in gru.values()), gru
        assert all(ret <= -700.0 for ret, _ in mlp.values()), mlp
