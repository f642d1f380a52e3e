"""`stride distill` end to end: PPO teacher run → distilled GRU student run → `stride play`; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from checkpoint_diff import differing_leaves

from stride.cli.main import main as cli_main

TEACHER_EXPERIMENT = {
    "task": "pendulum-noisy",
    "env": {"num_envs": 16, "max_episode_length": 20},  # short episodes keep the CLI's evaluations short
    "runner": {
        "num_steps_per_env": 8,
        "max_iterations": 2,
        "seed": 1,
        "obs_groups": {"actor": ["teacher"], "critic": ["teacher"]},
        "algorithm": {"class_name": "PPO", "num_mini_batches": 2, "num_learning_epochs": 1},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [16],
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
    },
}


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "teacher.yaml"
    config.write_text(yaml.safe_dump(TEACHER_EXPERIMENT))
    run = folder / "teacher"
    assert cli_main(["train", "--config", str(config), "--run-dir", str(run)]) == 0
    return run


class TestDistillPipeline:
    """train (teacher) → distill (student, GRU by default) → play: each exits 0 and the distill run holds the teacher
    run's actor as its teacher section and the teacher's weights."""

    def test_distill_then_play(self, teacher_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        run = tmp_path / "student"
        args = ["distill", "--teacher", str(teacher_run), "--iterations", "2", "--num-envs", "16"]
        args += [
            "--run-dir",
            str(run),
            "--seed",
            "3",
            "--set",
            "student.rnn_hidden_dim=8",
            "--set",
            "env.max_episode_length=20",
        ]
        assert cli_main(args) == 0
        out = capsys.readouterr().out
        assert "into a RNNModel student on pendulum-noisy for 2 iterations" in out
        assert "student " in out and "teacher " in out
        experiment = yaml.safe_load((run / "experiment.yaml").read_text())
        runner = experiment["runner"]
        assert experiment["task"] == "pendulum-noisy"  # taken from the teacher run
        assert runner["class_name"] == "DistillationRunner"
        assert runner["teacher"] == TEACHER_EXPERIMENT["runner"]["actor"]
        assert runner["obs_groups"] == {"student": ["policy"], "teacher": ["teacher"]}
        assert runner["student"]["rnn_type"] == "gru" and runner["student"]["rnn_hidden_dim"] == 8
        student = torch.load(run / "model_1.pt", weights_only=True)
        actor = torch.load(teacher_run / "model_1.pt", weights_only=True)["actor_state_dict"]
        assert all(torch.equal(student["teacher_state_dict"][k], v) for k, v in actor.items())
        assert cli_main(["play", str(run), "--episodes", "4", "--num-envs", "4"]) == 0
        assert "pendulum-noisy: return" in capsys.readouterr().out


class TestDistillResume:
    """`stride distill --resume RUN_DIR` continues a run exactly: 2 iterations + resume for 2 equal 4 in one go (every
    student and optimizer tensor, the logged losses), and the run's settings cannot be changed on resume."""

    def _args(self, teacher_run: Path, run: Path, iterations: int) -> list[str]:
        return [
            "distill", "--teacher", str(teacher_run), "--iterations", str(iterations), "--num-envs", "16",
            "--run-dir", str(run), "--seed", "3", "--set", "student.rnn_hidden_dim=8",
            "--set", "env.max_episode_length=20", "--set", "algorithm.schedule=fixed",
        ]  # fmt: skip

    def test_split_equals_straight(self, teacher_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        straight, split = tmp_path / "straight", tmp_path / "split"
        assert cli_main(self._args(teacher_run, straight, 4)) == 0
        assert cli_main(self._args(teacher_run, split, 2)) == 0
        capsys.readouterr()
        assert cli_main(["distill", "--resume", str(split), "--iterations", "2"]) == 0
        assert "for 2 more iterations (now at 4)" in capsys.readouterr().out
        a = torch.load(straight / "model_3.pt", weights_only=True)
        b = torch.load(split / "model_3.pt", weights_only=True)
        sections = ("student_state_dict", "optimizer_state_dict")
        assert differing_leaves({k: a[k] for k in sections}, {k: b[k] for k in sections}) == []
        rows = [json.loads(line) for line in (split / "metrics.jsonl").read_text().splitlines()]
        straight_rows = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
        assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
        assert [r["Loss/behavior"] for r in rows] == [r["Loss/behavior"] for r in straight_rows]

    def test_settings_cannot_change(
        self, teacher_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        run = tmp_path / "run"
        assert cli_main(self._args(teacher_run, run, 1)) == 0
        capsys.readouterr()
        assert cli_main(["distill", "--resume", str(run), "--set", "algorithm.learning_rate=1.0"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stride: error:") and "cannot change it" in err

    def test_teacher_and_resume_exclusive(self, teacher_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            cli_main(["distill", "--teacher", str(teacher_run), "--resume", str(teacher_run)])
        assert info.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err


class TestDistillBadInput:
    """Missing teacher runs and a PPO config given to distill fail with exit code 2 and one line."""

    def test_missing_teacher_run(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli_main(["distill", "--teacher", str(tmp_path / "nope"), "--task", "pendulum-noisy"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stride: error:") and err.count("\n") == 1
        assert f"run directory '{tmp_path / 'nope'}' does not exist" in err  # the directory, not experiment.yaml

    def test_teacher_flag_required(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            cli_main(["distill", "--task", "pendulum-noisy"])
        assert info.value.code == 2
        assert "--teacher" in capsys.readouterr().err  # one of --teacher / --resume is required

    def test_distillation_run_is_not_a_teacher(
        self, teacher_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        experiment = yaml.safe_load((teacher_run / "experiment.yaml").read_text())
        experiment["runner"]["class_name"] = "DistillationRunner"
        fake = tmp_path / "fake"
        fake.mkdir()
        (fake / "experiment.yaml").write_text(yaml.safe_dump(experiment))
        (fake / "model_1.pt").write_bytes((teacher_run / "model_1.pt").read_bytes())
        assert cli_main(["distill", "--teacher", str(fake)]) == 2
        assert "expected a PPO (OnPolicyRunner) run" in capsys.readouterr().err
