"""benchmarks/offpolicy_mujoco.py: the resumed run equals the uninterrupted one, the report table, the presets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from bench_scripts import load_benchmark
from checkpoint_diff import differing_leaves

from stride.config.io import load_experiment, preset_path
from stride.config.off_policy import QModelCfg, SACCfg, TD3Cfg
from stride.config.schema import MLPModelCfg, RunnerCfg
from stride.config.strict import build

# a tiny run of the preset: 50 env steps then 50 gradient steps of 32 per iteration, small nets; Hopper terminates
# within tens of random steps, so resets (and their random draws) happen before and after the interruption
_TINY = [
    "num_steps_per_env=50",
    "algorithm.learning_starts=50",
    "algorithm.batch_size=32",
    "algorithm.buffer_size=1000",
    "actor.hidden_dims=[32, 32]",
    "critic.hidden_dims=[32, 32]",
]


def _checkpoint(run_dir: Path) -> dict[str, Any]:
    files = list(run_dir.glob("model_*.pt"))
    assert len(files) == 1, f"older checkpoints are deleted, found {files}"
    return torch.load(files[0], map_location="cpu", weights_only=True)


class TestResume:
    """A run stopped at a checkpoint and started again with the same arguments ends bitwise equal to a run that
    never stopped: models, target networks, optimizer moments, α, replay buffer, MuJoCo state, losses, evaluation."""

    @pytest.mark.parametrize("algo", ["SAC", "TD3"])
    def test_resumed_equals_uninterrupted(self, tmp_path: Path, algo: str) -> None:
        pytest.importorskip("mujoco")
        script = load_benchmark("offpolicy_mujoco")
        kwargs: dict[str, Any] = {"eval_episodes": 2, "checkpoint_every": 50, "overrides": _TINY}
        full = script.run(algo, "Hopper-v5", 3, str(tmp_path / "full"), env_steps=200, **kwargs)
        # the first piece stops after 2 of the 4 iterations (its JSON is what a finished run leaves: drop it)
        split = tmp_path / "split"
        first = script.run(algo, "Hopper-v5", 3, str(split), env_steps=100, **kwargs)
        name = script.run_name(algo, "Hopper-v5", 3)
        (split / f"{name}.json").unlink()
        (split / name / ".tmp-killed-mid-save.pt").write_bytes(b"partial")  # left by a kill during a save
        resumed = script.run(algo, "Hopper-v5", 3, str(split), env_steps=200, **kwargs)
        assert (first["env_steps"], resumed["env_steps"], full["env_steps"]) == (100, 200, 200)
        a, b = _checkpoint(tmp_path / "full" / name), _checkpoint(split / name)
        # the checkpoints differ only in what records the pieces: wall-clock and the config's max_iterations
        for state in (a, b):
            state.pop("infos")
        assert a["env_state"]["mujoco"], "the Gymnasium MuJoCo env state is in the checkpoint"
        assert len(a["replay_buffer"]["rewards"]) == 200
        assert differing_leaves(a, b) == []
        assert resumed["eval_returns"] == full["eval_returns"]
        assert resumed["curve"] == full["curve"]
        metrics = []
        for run_dir in (split / name, tmp_path / "full" / name):
            rows = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
            metrics.append({int(row["iteration"]): row for row in rows})
        for it in (2, 3):  # the iterations after the resume
            for key in ("Loss/critic", "Loss/actor"):
                assert metrics[0][it][key] == metrics[1][it][key]
        assert resumed["train_seconds"] > first["train_seconds"] > 0
        assert not (split / name / ".tmp-killed-mid-save.pt").exists()

    def test_other_settings_refused(self, tmp_path: Path) -> None:
        pytest.importorskip("mujoco")
        script = load_benchmark("offpolicy_mujoco")
        kwargs: dict[str, Any] = {"eval_episodes": 1, "checkpoint_every": 50}
        script.run("SAC", "Hopper-v5", 3, str(tmp_path), env_steps=50, overrides=_TINY, **kwargs)
        (tmp_path / f"{script.run_name('SAC', 'Hopper-v5', 3)}.json").unlink()
        with pytest.raises(SystemExit, match="other settings"):
            other = [*_TINY, "algorithm.tau=0.01"]
            script.run("SAC", "Hopper-v5", 3, str(tmp_path), env_steps=100, overrides=other, **kwargs)


class TestKilledProcess:
    """A run process killed with SIGKILL mid-iteration, after a checkpoint, and started again ends bitwise equal to
    an uninterrupted run: nothing the killed process did after its last checkpoint leaks into the result."""

    @pytest.mark.slow
    def test_sigkill_then_resume(self, tmp_path: Path) -> None:
        pytest.importorskip("mujoco")
        script = load_benchmark("offpolicy_mujoco")
        name = script.run_name("TD3", "Hopper-v5", 4)
        args = ["run", "--algo", "TD3", "--task", "Hopper-v5", "--seed", "4", "--env-steps", "400"]
        args += ["--checkpoint-every", "100", "--eval-episodes", "1", *(f"--set={item}" for item in _TINY)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, str(script.__file__), *args, "--out", str(tmp_path / "split")]
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        progress = tmp_path / "split" / f"{name}.progress.json"
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None:
            if progress.is_file() and json.loads(progress.read_text()).get("env_steps", 0) >= 200:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert not (tmp_path / "split" / f"{name}.json").exists(), "killed before the end"
        resumed = script.run("TD3", "Hopper-v5", 4, str(tmp_path / "split"), env_steps=400, **self._kwargs())
        full = script.run("TD3", "Hopper-v5", 4, str(tmp_path / "full"), env_steps=400, **self._kwargs())
        a, b = _checkpoint(tmp_path / "full" / name), _checkpoint(tmp_path / "split" / name)
        a.pop("infos")
        b.pop("infos")
        assert differing_leaves(a, b) == []
        assert resumed["eval_returns"] == full["eval_returns"]
        assert resumed["curve"] == full["curve"]

    @staticmethod
    def _kwargs() -> dict[str, Any]:
        return {"eval_episodes": 1, "checkpoint_every": 100, "overrides": _TINY}


class TestQueue:
    """Two lanes split the 18 runs without overlap, seed-major; a lane skips runs whose JSON exists."""

    def test_lanes(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        script = load_benchmark("offpolicy_mujoco")
        started: list[tuple[str, str, int]] = []
        monkeypatch.setattr(script, "run", lambda algo, task, seed, out, device: started.append((algo, task, seed)))
        lanes = [script.queue(str(tmp_path), lane, 2) for lane in (0, 1)]
        assert len(lanes[0]) == len(lanes[1]) == 9 and not set(lanes[0]) & set(lanes[1])
        assert lanes[0][:3] == ["SAC_HalfCheetah-v5_seed1", "SAC_Ant-v5_seed1", "TD3_Hopper-v5_seed1"]
        assert len(set(started)) == 18
        with pytest.raises(SystemExit, match="--lane"):
            script.queue(str(tmp_path), 2, 2)


class TestReport:
    """The table averages finished seeds, shows running ones from their progress file, and quotes RL-Zoo."""

    def test_table(self, tmp_path: Path) -> None:
        script = load_benchmark("offpolicy_mujoco")
        for seed, final in ((1, 9000.0), (2, 10000.0), (3, 11000.0)):
            record = {"algo": "SAC", "task": "HalfCheetah-v5", "seed": seed, "eval_mean_return": final}
            record["train_seconds"] = 3600.0 * seed
            (tmp_path / f"SAC_HalfCheetah-v5_seed{seed}.json").write_text(json.dumps(record))
        record = {"algo": "TD3", "task": "Hopper-v5", "seed": 2, "eval_mean_return": 3000.0, "train_seconds": 7200.0}
        (tmp_path / "TD3_Hopper-v5_seed2.json").write_text(json.dumps(record))
        (tmp_path / "TD3_Hopper-v5_seed1.progress.json").write_text(json.dumps({"env_steps": 425000}))
        table = script.report(str(tmp_path))
        lines = table.splitlines()
        assert len(lines) == 2 + 6  # header, rule, 2 algorithms x 3 tasks
        # mean 10000, sample std 1000, mean wall-clock 2 h; RL-Zoo SAC HalfCheetah-v3 9535 ± 100 over 150 episodes
        assert (
            "| SAC | HalfCheetah-v5 | 10000 ± 1000 (3 seeds: 9000 / 10000 / 11000) | 2.0 h | 9535 ± 100 (1 agent, "
            "150 episodes) |"
        ) in table
        assert "| TD3 | Hopper-v5 | 3000 (1 seed only: 2); running: seed 1 at 425k | 2.0 h | 3606 ± 4 " in table
        assert "| TD3 | Ant-v5 | not yet run | — | 5813 ± 590 (1 agent, 151 episodes) |" in table


class TestPresets:
    """mujoco-sac.yaml and mujoco-td3.yaml build strictly with RL-Zoo's MuJoCo settings and cover 1M env steps."""

    @pytest.mark.parametrize(
        ("name", "cfg_class", "lr", "hidden"),
        [("mujoco-sac", SACCfg, 3e-4, [256, 256]), ("mujoco-td3", TD3Cfg, 1e-3, [400, 300])],
    )
    def test_validates(self, name: str, cfg_class: type, lr: float, hidden: list[int]) -> None:
        path = preset_path(name)
        assert path is not None
        exp = load_experiment(path)
        runner = build(RunnerCfg, exp.runner)
        algorithm = build(cfg_class, runner.algorithm)
        actor, critic = build(MLPModelCfg, runner.actor), build(QModelCfg, runner.critic)
        assert exp.env["num_envs"] * runner.num_steps_per_env * (runner.max_iterations or 0) == 1_000_000
        assert (algorithm.batch_size, algorithm.num_updates_per_step, algorithm.n_step) == (256, 1, 1)
        assert (algorithm.learning_starts, algorithm.buffer_size) == (10_000, 1_000_000)
        assert (algorithm.gamma, algorithm.tau) == (0.99, 0.005)
        assert algorithm.actor_learning_rate == algorithm.critic_learning_rate == lr
        assert actor.hidden_dims == critic.hidden_dims == hidden
        assert (actor.activation, critic.activation, critic.num_critics) == ("relu", "relu", 2)
