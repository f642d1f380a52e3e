"""R11 and R12: typos and invalid values fail before the first env step, naming the field; the CLI exits 2."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stride.cli.main import main as cli_main
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.errors import ConfigError


class _CountingEnv:
    """A built-in task that counts step calls (the errors must come before the first one)."""

    def __init__(self) -> None:
        self._task = make_task("cartpole", num_envs=8, seed=0)
        self.steps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def step(self, actions: Any) -> Any:
        self.steps += 1
        return self._task.step(actions)


BASE: dict[str, Any] = {
    "num_steps_per_env": 8,
    "save_interval": 10,
    "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
    "algorithm": {"class_name": "PPO", "num_mini_batches": 2},
    "actor": {
        "class_name": "MLPModel",
        "hidden_dims": [16, 16],
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
    },
    "critic": {"class_name": "MLPModel", "hidden_dims": [16, 16]},
}


def _with(path: str, value: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(BASE)
    node = cfg
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return cfg


_DELETE = object()

# (field path, bad value, text the message must contain)
INVALID = [
    ("algorithm.learning_rate", 0.0, "learning_rate"),
    ("algorithm.learning_rate", -1e-3, "learning_rate"),
    ("algorithm.learning_rate", "fast", "learning_rate"),
    ("algorithm.gamma", 0.0, "gamma"),
    ("algorithm.gamma", 1.5, "gamma"),
    ("algorithm.lam", 1.2, "lam"),
    ("algorithm.clip_param", 0.0, "clip_param"),
    ("algorithm.num_learning_epochs", 0, "num_learning_epochs"),
    ("algorithm.num_mini_batches", 0, "num_mini_batches"),
    ("algorithm.num_mini_batches", 7, "num_mini_batches"),
    ("algorithm.entropy_coef", -0.1, "entropy_coef"),
    ("algorithm.value_loss_coef", -1.0, "value_loss_coef"),
    ("algorithm.desired_kl", 0.0, "desired_kl"),
    ("algorithm.desired_kl", None, "desired_kl"),
    ("algorithm.schedule", "cosine", "schedule"),
    ("algorithm.optimizer", "adagrad", "optimizer"),
    ("algorithm.max_grad_norm", 0.0, "max_grad_norm"),
    ("algorithm.nonfinite_update", "ignore", "nonfinite_update"),
    ("algorithm.class_name", "PPOO", "class_name"),
    ("algorithm.rnd_cfg", {"wieght": 1.0}, "algorithm.rnd_cfg.wieght"),
    ("algorithm.rnd_cfg", {"weight": -1.0}, "algorithm.rnd_cfg.weight"),
    ("algorithm.rnd_cfg", {"learning_rate": 0.0}, "algorithm.rnd_cfg.learning_rate"),
    ("algorithm.rnd_cfg", {"num_outputs": 0}, "algorithm.rnd_cfg.num_outputs"),
    ("algorithm.rnd_cfg", {"predictor_hidden_dims": [0]}, "algorithm.rnd_cfg.predictor_hidden_dims"),
    ("algorithm.rnd_cfg", {"activation": "eluu"}, "algorithm.rnd_cfg.activation"),
    ("algorithm.rnd_cfg", {"weight_schedule": {"mode": "cosine"}}, "weight_schedule.mode"),
    ("algorithm.rnd_cfg", {"weight_schedule": {"mode": "step", "final_step": 10}}, "weight_schedule.final_value"),
    (
        "algorithm.rnd_cfg",
        {"weight_schedule": {"mode": "linear", "initial_step": 100, "final_step": 50, "final_value": 0.0}},
        "weight_schedule.final_step",
    ),
    ("algorithm.rnd_cfg", {"weight_schedule": {"mode": "constant", "final_value": 0.5}}, "not used"),
    ("obs_groups", {"actor": ["policy"], "rnd_state": ["proprio"]}, "obs_groups.rnd_state"),
    ("actor.activation", "eluu", "eluu"),
    ("actor.hidden_dims", [], "hidden_dims"),
    ("actor.hidden_dims", [0], "hidden_dims"),
    ("actor.class_name", "MLPModle", "MLPModle"),
    ("actor.distribution_cfg", None, "distribution_cfg"),
    ("actor.distribution_cfg.class_name", "Gausian", "Gausian"),
    ("actor.distribution_cfg.std_range", [0.0, 1.0], "std_range"),
    ("actor.distribution_cfg.init_std", -1.0, "init_std"),
    ("critic.distribution_cfg", {"class_name": "GaussianDistribution"}, "critic.distribution_cfg"),
    ("obs_groups.actor", ["proprio"], "proprio"),
    ("obs_groups.actor", [], "obs_groups.actor"),
    ("num_steps_per_env", 0, "num_steps_per_env"),
    ("save_interval", 0, "save_interval"),
    ("clip_actions", -1.0, "clip_actions"),
    ("torch_compile_mode", "reduce-overhead", "torch_compile_mode"),
    ("class_name", "DistilationRunner", "class_name"),
]

# (misspelled dotted key, expected suggestion)
TYPOS = [
    ("num_steps_per_envs", "num_steps_per_env"),
    ("algorithm.learning_rat", "learning_rate"),
    ("algorithm.entropy_coeff", "entropy_coef"),
    ("actor.hidden_dim", "hidden_dims"),
    ("critic.activaton", "activation"),
    ("actor.distribution_cfg.init_sdt", "init_std"),
    ("obs_groups.critc", "critic"),
    ("algorithm.num_mini_batch", "num_mini_batches"),
]


class TestInvalidConfigurations:
    """R12: every invalid value or combination raises ConfigError naming the field, with 0 env steps taken."""

    def test_table_is_large_enough(self) -> None:
        assert len(INVALID) >= 20

    @pytest.mark.parametrize(("path", "value", "needle"), INVALID, ids=[f"{p}={v!r}" for p, v, _ in INVALID])
    def test_rejected_before_first_step(self, path: str, value: Any, needle: str) -> None:
        env = _CountingEnv()
        cfg = _with(path, value)
        snapshot = copy.deepcopy(cfg)
        with pytest.raises(ConfigError) as err:
            runner = OnPolicyRunner(env, cfg, log_dir=None)  # type: ignore[arg-type]
            runner.learn(1)
        assert needle in str(err.value)
        assert env.steps == 0
        assert cfg == snapshot  # the user's dict is never modified


class TestTypos:
    """R11: a misspelled key in every config section names the dotted path and suggests the right key."""

    @pytest.mark.parametrize(("typo", "suggestion"), TYPOS)
    def test_typo_caught_with_suggestion(self, typo: str, suggestion: str) -> None:
        keys = typo.split(".")
        cfg = copy.deepcopy(BASE)
        node = cfg
        for key in keys[:-1]:
            node = node[key]
        right = suggestion if keys[-1] != "critc" else "critic"
        value = node.pop(right, ["policy"]) if keys[0] != "obs_groups" else ["policy"]
        node[keys[-1]] = value
        snapshot = copy.deepcopy(cfg)
        with pytest.raises(ConfigError) as err:
            OnPolicyRunner(_CountingEnv(), cfg, log_dir=None)  # type: ignore[arg-type]
        message = str(err.value)
        assert keys[-1] in message
        assert f"'{suggestion}'" in message
        assert cfg == snapshot


class TestCommandLineErrors:
    """R11: bad CLI input exits with code 2 and one line on stderr, never a traceback."""

    @pytest.mark.parametrize(
        "argv",
        [
            ["train", "--config", "/nonexistent/x.yaml"],
            ["train", "--task", "cartpol"],
            ["train", "--set", "algorithm.learning_rat=1"],
            ["train", "--set", "novalue"],
            ["play", "/nonexistent-run"],
            ["plot", "/nonexistent-run"],
        ],
    )
    def test_exit_two_one_line(self, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        assert cli_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert err.startswith("stride: error:")
        assert "Traceback" not in err

    def test_bad_yaml_and_unknown_flag_in_subprocess(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("runner: {num_steps_per_env: [1, 2\n")
        for argv in (["train", "--config", str(bad)], ["train", "--bogus-flag"]):
            proc = subprocess.run(
                [sys.executable, "-m", "stride.cli.main", *argv], capture_output=True, text=True, timeout=120
            )
            assert proc.returncode == 2, proc.stderr
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1, proc.stderr
            assert "Traceback" not in proc.stderr
