"""The stride command: train → play → plot → resume, tasks and check-env, driven through main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stride.cli.main import main


class TestCommandLine:
    """Every subcommand works end to end on a tiny run and prints what it promises."""

    def test_train_play_plot_resume(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        run = tmp_path / "run"
        argv = ["train", "--task", "cartpole", "--num-envs", "32", "--iterations", "2", "--seed", "3"]
        assert main([*argv, "--run-dir", str(run), "--set", "actor.hidden_dims=[16, 16]"]) == 0
        out = capsys.readouterr().out
        assert f"checkpoint: {run / 'model_1.pt'}" in out
        assert "deterministic evaluation: return" in out
        for name in ("model_1.pt", "metrics.jsonl", "learning_curve.png", "config.yaml", "experiment.yaml"):
            assert (run / name).is_file(), name
        config = (run / "config.yaml").read_text()
        assert "hidden_dims:\n    - 16\n    - 16" in config or "- 16" in config

        assert main(["play", str(run), "--episodes", "8", "--num-envs", "8"]) == 0
        assert "over 8 episodes" in capsys.readouterr().out

        assert main(["plot", str(run), "--out", str(tmp_path / "curves.png")]) == 0
        assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"

        # resume continues the same run: iterations 3 and 4 are appended to the metrics
        assert main(["train", "--resume", str(run), "--iterations", "2"]) == 0
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["iteration"] for r in rows] == [0, 1, 2, 3]
        assert (run / "model_3.pt").is_file()

    def test_tasks_and_check_env(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["tasks"]) == 0
        listing = capsys.readouterr().out
        assert "cartpole" in listing
        assert "pendulum" in listing
        assert main(["check-env", "pendulum"]) == 0
        assert "follows the VecEnv contract" in capsys.readouterr().out


class TestOffPolicyCommandLine:
    """`stride train --task pendulum-sac/td3` finds the preset, builds the OffPolicyRunner from its class_name,
    and `stride play` evaluates the run's tanh actor."""

    @pytest.mark.parametrize("preset", ["pendulum-sac", "pendulum-td3"])
    def test_train_and_play_preset(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], preset: str) -> None:
        run = tmp_path / preset
        argv = ["train", "--task", preset, "--num-envs", "4", "--iterations", "2", "--run-dir", str(run)]
        small = ["--set", "actor.hidden_dims=[16]", "--set", "critic.hidden_dims=[16]"]
        buffer = ["--set", "algorithm.save_replay_buffer=true"]  # play on other num_envs must skip it
        assert main([*argv, *small, *buffer, "--set", "algorithm.learning_starts=2"]) == 0
        assert "trained pendulum for 2 iterations (64 env steps)" in capsys.readouterr().out
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["Train/num_updates"] for r in rows] == [32.0, 32.0]  # 8 steps × 4 updates per step, from it 0
        assert main(["play", str(run), "--episodes", "4", "--num-envs", "2"]) == 0
        assert "pendulum: return" in capsys.readouterr().out
