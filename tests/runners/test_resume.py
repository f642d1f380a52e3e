"""Exact resume (R08) and interruption safety (R22): nothing is lost or changed by stopping and continuing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from checkpoint_diff import differing_leaves

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.runners.evaluate import evaluate_policy

K = 3

_SCRIPT = textwrap.dedent(
    """
    import json, sys, torch
    from stride.env.tasks import make_task
    from stride.runners import OnPolicyRunner
    cfg = json.loads(sys.argv[1]); log_dir = sys.argv[2]; mode = sys.argv[3]; k = int(sys.argv[4])
    env = make_task("cartpole", num_envs=64, seed=5)
    runner = OnPolicyRunner(env, cfg, log_dir=log_dir)
    if mode == "resume":
        runner.load(sys.argv[5])
    runner.learn(k, init_at_random_ep_len=True)
    """
)


def _cfg(obs_normalization: bool, kind: str = "mlp", schedule: str = "adaptive") -> dict:
    recurrent = {"class_name": "RNNModel", "rnn_type": kind, "rnn_hidden_dim": 16} if kind != "mlp" else {}
    cfg = {
        "num_steps_per_env": 16,
        "save_interval": 1000,
        "seed": 11,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "max_iterations": 2 * K,
        "algorithm": {"class_name": "PPO", "num_mini_batches": 4, "entropy_coef": 0.005, "schedule": schedule},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [32, 32],
            "obs_normalization": obs_normalization,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32], "obs_normalization": obs_normalization},
    }
    cfg["actor"].update(recurrent)
    cfg["critic"].update(recurrent)
    return cfg


def _run(args: list[str]) -> None:
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run([sys.executable, "-c", _SCRIPT, *args], check=True, env=env, capture_output=True, timeout=300)


def _losses(path: Path) -> list[tuple[int, float, float]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [(r["iteration"], r["Loss/value"], r["Loss/surrogate"]) for r in rows]


class TestExactResume:
    """2K iterations in one process equal K + save + new process + load + K, bit for bit on CPU."""

    @pytest.mark.parametrize(("kind", "schedule"), [("mlp", "adaptive"), ("gru", "adaptive"), ("mlp", "linear")])
    def test_split_run_equals_continuous_run(self, tmp_path: Path, kind: str, schedule: str) -> None:
        # normalizer statistics (and a GRU's carried states) must survive the split too; a linear schedule spans
        # max_iterations in both runs, not the length of one learn() call
        cfg = json.dumps(_cfg(obs_normalization=True, kind=kind, schedule=schedule))
        _run([cfg, str(tmp_path / "full"), "fresh", str(2 * K)])
        _run([cfg, str(tmp_path / "split"), "fresh", str(K)])
        _run([cfg, str(tmp_path / "split"), "resume", str(K), str(tmp_path / "split" / f"model_{K - 1}.pt")])
        full = torch.load(tmp_path / "full" / f"model_{2 * K - 1}.pt", weights_only=True)
        split = torch.load(tmp_path / "split" / f"model_{2 * K - 1}.pt", weights_only=True)
        sections = ("actor_state_dict", "critic_state_dict", "optimizer_state_dict")
        assert differing_leaves({k: full[k] for k in sections}, {k: split[k] for k in sections}) == []
        assert full["learning_rate"] == split["learning_rate"]
        assert full["iter"] == split["iter"] == 2 * K
        # the logged losses of the second half are identical too, and the split run logged every iteration once
        full_losses = _losses(tmp_path / "full" / "metrics.jsonl")
        split_losses = _losses(tmp_path / "split" / "metrics.jsonl")
        assert [r[0] for r in split_losses] == list(range(2 * K))
        assert split_losses == full_losses
        if schedule == "linear":
            rates = [json.loads(line)["Policy/learning_rate"] for line in (tmp_path / "split" / "metrics.jsonl").open()]
            assert rates == pytest.approx([1e-3 * (1 - k / (2 * K)) for k in range(2 * K)], rel=1e-6)

    def test_episode_lengths_not_rerandomized_on_resume(self, tmp_path: Path) -> None:
        runner = OnPolicyRunner(make_task("cartpole", num_envs=32, seed=2), _cfg(False), log_dir=str(tmp_path))
        runner.learn(1, init_at_random_ep_len=True)
        path = tmp_path / "model_0.pt"
        resumed = OnPolicyRunner(make_task("cartpole", num_envs=32, seed=99), _cfg(False), log_dir=None)
        resumed.load(str(path))
        before = resumed.env.episode_length_buf.clone()
        torch.testing.assert_close(before, runner.env.episode_length_buf, rtol=0, atol=0)
        resumed.learn(0, init_at_random_ep_len=True)
        torch.testing.assert_close(resumed.env.episode_length_buf, before, rtol=0, atol=0)


class TestEvaluationBetweenLearnCalls:
    """An evaluation between two learn() calls (a recurrent policy on other envs) leaves training exactly as it was."""

    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_interleaved_evaluation_changes_nothing(self, kind: str) -> None:
        # the evaluation runs the same models on 4 envs: their states come back with 4 rows, which crashed the next
        # rollout's storage write (32 rows) before learn() restored the training envs' states
        cfg = _cfg(obs_normalization=True, kind=kind) | {"seed": 3}
        straight = OnPolicyRunner(make_task("pendulum-pomdp", num_envs=32, seed=4), cfg, log_dir=None)
        straight.learn(2 * K)
        split = OnPolicyRunner(make_task("pendulum-pomdp", num_envs=32, seed=4), cfg, log_dir=None)
        split.learn(K)
        rng = torch.get_rng_state()
        result = evaluate_policy(make_task("pendulum-pomdp", num_envs=4, seed=9), split.get_inference_policy(), 4)
        torch.set_rng_state(rng)  # the evaluation's env resets draw from the global generator
        assert result.num_episodes == 4
        assert split.alg.actor.get_hidden_state() is not None
        split.learn(K)
        assert differing_leaves(split.alg.state_dict(), straight.alg.state_dict()) == []


_SIGNAL_SCRIPT = textwrap.dedent(
    """
    import sys
    from stride.env.tasks import make_task
    from stride.runners import OnPolicyRunner
    cfg = {"num_steps_per_env": 16, "save_interval": 1000, "seed": 1,
           "actor": {"class_name": "MLPModel", "hidden_dims": [32, 32],
                     "distribution_cfg": {"class_name": "GaussianDistribution"}},
           "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32]}}
    runner = OnPolicyRunner(make_task("cartpole", num_envs=64, seed=1), cfg, log_dir=sys.argv[1])
    runner.learn(100000)
    """
)


class TestStopOnSignal:
    """SIGINT/SIGTERM during training finish the iteration, write a loadable checkpoint and end the process."""

    # SIGINT re-raises KeyboardInterrupt, which Python turns into death by SIGINT (return code -2)
    @pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 128 + signal.SIGTERM)])
    def test_signal_writes_loadable_checkpoint(self, tmp_path: Path, sig: int, code: int) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SIGNAL_SCRIPT, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        metrics = tmp_path / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            time.sleep(0.2)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, err.decode()[-2000:]
        # rsl_rl's save points: model_0.pt after the first iteration, then the one the signal wrote
        checkpoints = sorted(tmp_path.glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
        assert checkpoints[0].name == "model_0.pt" and len(checkpoints) == 2
        iteration = int(checkpoints[-1].stem.split("_")[1]) + 1  # completed iterations
        assert iteration >= 2
        data = torch.load(checkpoints[-1], weights_only=True)
        assert data["iter"] == iteration
        # the checkpoint restores into a fresh runner and training continues
        runner = OnPolicyRunner(make_task("cartpole", num_envs=64, seed=1), _cfg(False) | {"seed": 1}, log_dir=None)
        runner.alg.actor.load_state_dict(data["actor_state_dict"])
        assert len(metrics.read_text().splitlines()) == iteration
