"""YAML round-trips losslessly; every built-in task has a preset that validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stride.config import MLPModelCfg, PPOCfg, RunnerCfg, build, to_dict
from stride.config.io import (
    TASK_PRESETS,
    ExperimentCfg,
    dump_yaml,
    load_experiment,
    load_yaml,
    preset_for_task,
    preset_path,
    set_value,
    task_preset,
)
from stride.env.tasks import list_tasks
from stride.utils.errors import ConfigError


class TestPresets:
    """Each built-in task ships a preset YAML whose runner section builds strictly."""

    @pytest.mark.parametrize("task", list_tasks())
    def test_preset_exists_and_validates(self, task: str) -> None:
        path = preset_path(task)
        assert path is not None, f"no preset for {task}"
        exp = load_experiment(path)
        assert exp.task == task
        cfg = build(RunnerCfg, exp.runner)
        assert cfg.algorithm["class_name"] == "PPO"


class TestTaskPresets:
    """The task → preset rule: table entry, then a preset named after the task, then the adapter prefix's."""

    @pytest.mark.parametrize(
        ("task", "preset"),
        [
            ("envpool:Go1JoystickFlatTerrain-v1", "go1-joystick"),
            ("gym:Hopper-v5", "mujoco"),
            ("cartpole", "cartpole"),
            ("pendulum-sac", "pendulum-sac"),
            ("my_pkg_task", None),
        ],
    )
    def test_rule(self, task: str, preset: str | None) -> None:
        assert task_preset(task) == preset

    def test_envpool_task_without_preset_is_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"no preset for task 'envpool:HalfCheetah-v4'.*--config"):
            task_preset("envpool:HalfCheetah-v4")

    @pytest.mark.parametrize("task", sorted(TASK_PRESETS))
    def test_table_presets_validate(self, task: str) -> None:
        path = preset_path(TASK_PRESETS[task])
        assert path is not None
        exp = load_experiment(path)
        assert exp.task == task
        assert build(RunnerCfg, exp.runner).algorithm["class_name"] == "PPO"


class TestRoundTrip:
    """dump → load gives back exactly the same config, for presets and for full dataclass dumps."""

    @pytest.mark.parametrize("task", list_tasks())
    def test_experiment_round_trip(self, task: str, tmp_path: Path) -> None:
        path = preset_path(task)
        assert path is not None
        exp = load_experiment(path)
        dump_yaml(exp, str(tmp_path / "exp.yaml"))
        again = load_experiment(str(tmp_path / "exp.yaml"))
        assert again == exp

    def test_dataclass_round_trip_keeps_types(self, tmp_path: Path) -> None:
        cfg = build(PPOCfg, {"learning_rate": 3e-4, "desired_kl": None, "schedule": "fixed", "max_grad_norm": 0.5})
        text = yaml.safe_dump(to_dict(cfg))
        again = build(PPOCfg, yaml.safe_load(text))
        assert again == cfg
        assert isinstance(again.learning_rate, float)
        assert again.desired_kl is None

    def test_set_value_parses_numbers_and_lists(self) -> None:
        data: dict = {"runner": {}}
        set_value(data, "runner.algorithm.learning_rate", "3e-4")
        set_value(data, "runner.actor.hidden_dims", "[64, 64]")
        set_value(data, "runner.algorithm.schedule", "fixed")
        assert data["runner"]["algorithm"] == {"learning_rate": 3e-4, "schedule": "fixed"}
        assert data["runner"]["actor"]["hidden_dims"] == [64, 64]
        exp = build(ExperimentCfg, {"task": "cartpole", "runner": data["runner"]})
        assert exp.runner["algorithm"]["learning_rate"] == 3e-4


class TestGymPresets:
    """``preset_for_task`` gives a Gymnasium id its own tuned preset when one ships, else the general MuJoCo one."""

    @pytest.mark.parametrize(
        ("task", "preset"),
        [
            ("gym:HalfCheetah-v5", "mujoco-halfcheetah.yaml"),
            ("gym:HalfCheetah-v4", "mujoco-halfcheetah.yaml"),
            ("gym:Ant-v5", "mujoco-ant.yaml"),
            ("gym:Hopper-v5", "mujoco.yaml"),
            ("gym:Walker2d-v5", "mujoco-walker2d.yaml"),
            ("gym:Walker2d-v4", "mujoco-walker2d.yaml"),
            ("gym:Reacher-v5", "mujoco-reacher.yaml"),
            ("gym:Reacher-v4", "mujoco-reacher.yaml"),
            ("gym:InvertedDoublePendulum-v5", "mujoco-inverteddoublependulum.yaml"),
            ("gym:InvertedPendulum-v5", "mujoco.yaml"),
            ("gym:Swimmer-v5", "mujoco-swimmer.yaml"),
            ("gym:Humanoid-v5", "mujoco.yaml"),
            ("gym:Pendulum-v1", "mujoco.yaml"),
            ("cartpole", "cartpole.yaml"),
        ],
    )
    def test_choice(self, task: str, preset: str) -> None:
        path = preset_for_task(task)
        assert path is not None and Path(path).name == preset
        assert preset_for_task("no-such-task") is None

    @pytest.mark.parametrize(
        "name",
        [
            "mujoco",
            "mujoco-halfcheetah",
            "mujoco-ant",
            "mujoco-walker2d",
            "mujoco-reacher",
            "mujoco-inverteddoublependulum",
            "mujoco-swimmer",
        ],
    )
    def test_validates(self, name: str) -> None:
        path = preset_path(name)
        assert path is not None
        exp = load_experiment(path)
        runner = build(RunnerCfg, exp.runner)
        algorithm = build(PPOCfg, {k: v for k, v in runner.algorithm.items() if k != "class_name"})
        # every preset covers 1M env steps: envs x steps x iterations within one iteration of 1,000,000
        per_iteration = exp.env["num_envs"] * runner.num_steps_per_env
        assert runner.max_iterations is not None
        assert 0 <= per_iteration * runner.max_iterations - 1_000_000 < per_iteration
        transitions = per_iteration // algorithm.num_mini_batches
        assert transitions * algorithm.num_mini_batches == per_iteration
        for model in ("actor", "critic"):
            assert build(MLPModelCfg, getattr(runner, model)).obs_normalization is True


class TestBase:
    """``base:`` in a YAML file: the file's keys laid over the base's, mappings merged, other values replaced."""

    def test_merge(self, tmp_path: Path) -> None:
        (tmp_path / "parent.yaml").write_text("a: {x: 1, y: [1, 2]}\nb: 3\nc: {d: {e: 4, f: 5}}\n")
        (tmp_path / "child.yaml").write_text("base: parent.yaml\na: {y: [9]}\nc: {d: {f: 6}}\ng: 7\n")
        (tmp_path / "grandchild.yaml").write_text("base: child.yaml\nb: 8\n")
        data = load_yaml(str(tmp_path / "grandchild.yaml"))
        assert data == {"a": {"x": 1, "y": [9]}, "b": 8, "c": {"d": {"e": 4, "f": 6}}, "g": 7}
        assert list(data) == ["a", "b", "c", "g"]  # the base's key order, new keys after

    def test_builtin_preset(self, tmp_path: Path) -> None:
        (tmp_path / "mine.yaml").write_text("base: mujoco\ntask: gym:Hopper-v5\nrunner: {algorithm: {gamma: 0.95}}\n")
        mine, general = load_yaml(str(tmp_path / "mine.yaml")), load_yaml(str(preset_path("mujoco")))
        assert mine["runner"]["algorithm"]["gamma"] == 0.95 and general["runner"]["algorithm"]["gamma"] == 0.99
        mine["runner"]["algorithm"]["gamma"], mine["task"] = 0.99, general["task"]
        assert mine == general

    def test_errors(self, tmp_path: Path) -> None:
        (tmp_path / "a.yaml").write_text("base: b.yaml\n")
        (tmp_path / "b.yaml").write_text("base: a.yaml\n")
        with pytest.raises(ConfigError, match="cycle"):
            load_yaml(str(tmp_path / "a.yaml"))
        (tmp_path / "c.yaml").write_text("base: no-such-preset\n")
        with pytest.raises(ConfigError, match="neither a built-in preset"):
            load_yaml(str(tmp_path / "c.yaml"))
        (tmp_path / "d.yaml").write_text("base: [1]\n")
        with pytest.raises(ConfigError, match="must be a preset name"):
            load_yaml(str(tmp_path / "d.yaml"))
