"""Distillation reliability: exact resume (R08) and, in the slow tier, the 3-seed learning figure of R18.

The figure test runs the whole pipeline of docs/algorithms/distillation.md on pendulum-noisy for seeds 1, 2, 3: PPO
teacher from the task's preset (the pendulum preset on the clean `teacher` group), then `stride distill` with the
pendulum-noisy-distill preset, and checks the behaviour-loss drop and the student's normalized return.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils._pytree import tree_flatten

from stride.env.tasks import make_task
from stride.runners import DistillationRunner, OnPolicyRunner

K = 3

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from stride.env.tasks import make_task
    from stride.runners import DistillationRunner
    cfg = json.loads(sys.argv[1])
    log_dir, mode, k, checkpoint = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    runner = DistillationRunner(make_task("pendulum-noisy", num_envs=32, seed=5), cfg, log_dir=log_dir)
    runner.load(checkpoint)  # the PPO teacher (fresh) or the distillation checkpoint (resume)
    runner.learn(k, init_at_random_ep_len=True)
    """
)

DISTILL_CFG: dict[str, Any] = {
    "class_name": "DistillationRunner",
    "num_steps_per_env": 12,
    "save_interval": 1000,
    "seed": 11,
    "check_env": False,
    "obs_groups": {"student": ["policy"], "teacher": ["teacher"]},
    # β > 0 draws random numbers during the rollout; the recurrent state crosses the split
    "algorithm": {"class_name": "Distillation", "gradient_length": 5, "num_learning_epochs": 2, "beta": 0.5},
    "student": {
        "class_name": "RNNModel",
        "rnn_type": "gru",
        "rnn_hidden_dim": 16,
        "hidden_dims": [16],
        "obs_normalization": True,
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.2},
    },
    "teacher": {
        "class_name": "MLPModel",
        "hidden_dims": [16],
        "obs_normalization": True,
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
    },
}


def _run(args: list[str]) -> None:
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run([sys.executable, "-c", _SCRIPT, *args], check=True, env=env, capture_output=True, timeout=300)


def _teacher(tmp_path: Path) -> str:
    teacher = OnPolicyRunner(
        make_task("pendulum-noisy", num_envs=16, seed=1),
        {
            "num_steps_per_env": 8,
            "check_env": False,
            "obs_groups": {"actor": ["teacher"], "critic": ["teacher"]},
            "algorithm": {"num_mini_batches": 2, "num_learning_epochs": 1},
            "actor": DISTILL_CFG["teacher"],
            "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
        },
    )
    teacher.learn(1)
    path = str(tmp_path / "teacher.pt")
    teacher.save(path)
    return path


def _in_process(cfg: dict[str, Any], log_dir: Path, k: int, checkpoint: str) -> None:
    """What _SCRIPT does, in this process; the global generators are scrambled first (the checkpoint restores them)."""
    torch.manual_seed(12345)
    runner = DistillationRunner(make_task("pendulum-noisy", num_envs=32, seed=5), cfg, log_dir=str(log_dir))
    runner.load(checkpoint)
    runner.learn(k, init_at_random_ep_len=True)


class TestExactResume:
    """R08: 2K distillation iterations equal K + save + (new runner | new process) + load + K, bit for bit on CPU
    (GRU student with normalizer, β mixture, random episode starts)."""

    def test_split_run_equals_continuous_run(self, tmp_path: Path) -> None:
        teacher = _teacher(tmp_path)
        _in_process(DISTILL_CFG, tmp_path / "full", 2 * K, teacher)
        _in_process(DISTILL_CFG, tmp_path / "split", K, teacher)
        _in_process(DISTILL_CFG, tmp_path / "split", K, str(tmp_path / "split" / f"model_{K - 1}.pt"))
        _assert_same_runs(tmp_path)

    @pytest.mark.slow
    def test_split_across_processes(self, tmp_path: Path) -> None:
        teacher = _teacher(tmp_path)
        cfg = json.dumps(DISTILL_CFG)
        _run([cfg, str(tmp_path / "full"), "fresh", str(2 * K), teacher])
        _run([cfg, str(tmp_path / "split"), "fresh", str(K), teacher])
        _run([cfg, str(tmp_path / "split"), "resume", str(K), str(tmp_path / "split" / f"model_{K - 1}.pt")])
        _assert_same_runs(tmp_path)


def _assert_same_runs(tmp_path: Path) -> None:
    full = torch.load(tmp_path / "full" / f"model_{2 * K - 1}.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / f"model_{2 * K - 1}.pt", weights_only=True)
    keys = ("student_state_dict", "teacher_state_dict", "optimizer_state_dict", "distillation_state", "env_state")
    leaves_full, spec_full = tree_flatten({k: full[k] for k in keys})
    leaves_split, spec_split = tree_flatten({k: split[k] for k in keys})
    assert spec_full == spec_split
    same = [
        torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b
        for a, b in zip(leaves_full, leaves_split, strict=True)
    ]
    assert all(same), f"{same.count(False)} of {len(same)} entries differ"
    assert full["distillation_state"]["num_updates"] == 2 * K
    assert full["distillation_state"]["student_hidden_state"] is not None
    rows = {
        name: [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("full", "split")
    }
    assert [r["iteration"] for r in rows["split"]] == list(range(2 * K))
    for key in ("Loss/behavior", "Policy/beta", "Policy/student_action_fraction", "Train/mean_reward"):
        assert [r[key] for r in rows["split"]] == [r[key] for r in rows["full"]], key


SEEDS = (1, 2, 3)


def _cli(args: list[str], cwd: Path) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "stride.cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=3000
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
class TestDistillationFigure:
    """R18 figure on pendulum-noisy, 3/3 seeds: how far the behaviour loss falls from first to last (mean of the
    last 5 iterations) and the student's normalized return (R_student − R_zero) / (R_teacher − R_zero), with R_zero
    the return of the zero-torque policy on the same evaluation episodes (pendulum returns are negative). R18's
    targets are >= 0.9 for both, and both are asserted."""

    @pytest.mark.parametrize("seed", SEEDS)
    def test_pipeline(self, seed: int, tmp_path: Path, record_property: Any) -> None:
        from stride.cli.distill import evaluate_student_and_teacher
        from stride.config.io import load_experiment
        from stride.runners import DistillationRunner
        from stride.runners.evaluate import evaluate_policy

        teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
        _cli(["train", "--task", "pendulum-noisy", "--seed", str(seed), "--run-dir", str(teacher_dir)], tmp_path)
        _cli(["distill", "--teacher", str(teacher_dir), "--seed", str(seed), "--run-dir", str(student_dir)], tmp_path)
        losses = [
            json.loads(line)["Loss/behavior"] for line in (student_dir / "metrics.jsonl").read_text().splitlines()
        ]
        drop = 1.0 - sum(losses[-5:]) / 5 / losses[0]
        exp = load_experiment(str(student_dir / "experiment.yaml"))
        runner = DistillationRunner(make_task(exp.task, **exp.env), exp.runner)
        runner.load(str(sorted(student_dir.glob("model_*.pt"), key=lambda p: int(p.stem[6:]))[-1]))
        student, teacher = evaluate_student_and_teacher(runner, exp, "cpu")
        env = make_task(exp.task, num_envs=64, seed=10_000 + seed)
        zero = evaluate_policy(env, lambda obs: torch.zeros(64, 1), num_episodes=64).mean_return
        ratio = (student - zero) / (teacher - zero)
        for name, value in (("loss_first", losses[0]), ("loss_last", sum(losses[-5:]) / 5), ("drop", drop)):
            record_property(name, value)
        for name, value in (("student", student), ("teacher", teacher), ("zero", zero), ("ratio", ratio)):
            record_property(name, value)
        # R18: the behaviour loss falls >= 90 % (measured 97.3 / 97.3 / 94.8 % with the preset's linear learning-rate
        # decay; 97.2 / 94.4 / 87.5 % with a fixed rate) and the student reaches >= 90 % of the teacher's normalized
        # return (measured 0.98 / 0.99 / 0.99)
        assert drop >= 0.9, losses
        assert ratio >= 0.9, (student, teacher, zero)
