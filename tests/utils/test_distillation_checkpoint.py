"""Tests for stride.utils.distillation_checkpoint: rsl_rl's distillation checkpoints of releases 2.3.3, 3.3.0 (also
recurrent), 4.0.1 and 5.5.1 load into stride's DistillationRunner and act exactly as the release did (fixtures made by
benchmarks/make_rsl_rl_distillation_fixtures.py with the releases' own modules)."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.config.compat import migrate_train_cfg
from stride.runners import DistillationRunner, OnPolicyRunner
from stride.utils.checkpoint import load_checkpoint
from stride.utils.distillation_checkpoint import (
    convert_rsl_rl_distillation_checkpoint,
    is_rsl_rl_distillation_checkpoint,
    rsl_rl_distillation_layout,
)
from stride.utils.errors import CheckpointError

DATA = Path(__file__).resolve().parents[1] / "data" / "rsl_rl"
DISTILLATION = DATA / "distillation"

# fixture → (layout, (stride student parameter, its index in the release's optimizer))
FIXTURES: dict[str, tuple[str, tuple[str, int]]] = {
    "rsl_rl_2.3.3_student_teacher": ("2.x", ("mlp.0.weight", 1)),
    "rsl_rl_3.3.0_student_teacher": ("3.x", ("mlp.0.weight", 1)),
    "rsl_rl_3.3.0_student_teacher_recurrent": ("3.x", ("rnn.rnn.weight_ih_l0", 1)),
    "rsl_rl_4.0.1_distillation": ("4.x", ("mlp.0.weight", 1)),
    "rsl_rl_5.5.1_distillation": ("5.x", ("mlp.0.weight", 1)),
}


def _static_env(obs: dict[str, torch.Tensor]) -> Any:
    """A VecEnv holding fixed observations (batch 100) and 2 actions; never stepped (check_env is off)."""
    fixed = TensorDict(dict(obs), batch_size=[100])
    return SimpleNamespace(
        num_envs=100,
        num_actions=2,
        max_episode_length=100,
        device="cpu",
        cfg={},
        episode_length_buf=torch.zeros(100, dtype=torch.long),
        get_observations=lambda: fixed,
        step=None,
    )


def _first_step(obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v[0] for k, v in obs.items()}


def _fixture(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return load_checkpoint(str(DISTILLATION / f"{name}.pt")), torch.load(
        DISTILLATION / f"{name}_io.pt", weights_only=True
    )


def _runner(io: dict[str, Any]) -> DistillationRunner:
    cfg = dict(io["train_cfg"], check_env=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old formats warn about their migration
        return DistillationRunner(_static_env(_first_step(io["obs"])), cfg)  # type: ignore[arg-type]


def _act(model: torch.nn.Module, obs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Deterministic actions over the fixture's step sequence, from a zero recurrent state."""
    model.eval()
    model.reset()  # type: ignore[operator]
    with torch.inference_mode():
        steps = obs["policy"].shape[0]
        return torch.stack(
            [model(TensorDict({k: v[t] for k, v in obs.items()}, batch_size=[100])) for t in range(steps)]
        )


@pytest.mark.parametrize("name", list(FIXTURES))
class TestReleaseFixtures:
    """Each release's distillation checkpoint converts, loads strictly into DistillationRunner, and stride's student
    and teacher act as the release's did on 100 fixed observations (max abs difference <= 1e-6)."""

    def test_layout_detected(self, name: str) -> None:
        checkpoint, _ = _fixture(name)
        assert is_rsl_rl_distillation_checkpoint(checkpoint)
        assert rsl_rl_distillation_layout(checkpoint) == FIXTURES[name][0]

    def test_student_and_teacher_act_like_the_release(self, name: str) -> None:
        _, io = _fixture(name)
        runner = _runner(io)
        with pytest.warns(UserWarning, match="distillation checkpoint converted"):
            runner.load(
                str(DISTILLATION / f"{name}.pt"),
                load_cfg={"student": True, "teacher": True, "optimizer": True, "iteration": True},
            )
        assert runner.alg.teacher_loaded and runner.current_learning_iteration == 3
        student = _act(runner.alg.student, io["obs"])
        teacher = _act(runner.alg.teacher, io["obs"])
        assert float((student - io["student_actions"]).abs().max()) <= 1e-6
        assert float((teacher - io["teacher_actions"]).abs().max()) <= 1e-6

    def test_optimizer_state_follows_parameter_names(self, name: str) -> None:
        checkpoint, io = _fixture(name)
        runner = _runner(io)
        converted = convert_rsl_rl_distillation_checkpoint(checkpoint, runner.alg.student, runner.alg.teacher)
        param, rsl_index = FIXTURES[name][1]
        names = [k for k, p in runner.alg.student.named_parameters() if p.requires_grad]
        saved = checkpoint["optimizer_state_dict"]["state"][rsl_index]["exp_avg"]
        moved = converted["optimizer_state_dict"]["state"][names.index(param)]["exp_avg"]
        assert torch.equal(saved, moved) and float(moved.abs().sum()) > 0

    def test_student_fine_tunes_as_ppo_actor(self, name: str) -> None:
        _, io = _fixture(name)
        migrated, _ = migrate_train_cfg(io["train_cfg"])
        cfg = {
            "num_steps_per_env": 8,
            "check_env": False,
            "obs_groups": {"actor": ["policy"], "critic": ["teacher"]},
            "actor": migrated["student"],
            "critic": {"class_name": "MLPModel", "hidden_dims": [8]},
        }
        runner = OnPolicyRunner(_static_env(_first_step(io["obs"])), cfg)  # type: ignore[arg-type]
        runner.load(str(DISTILLATION / f"{name}.pt"))
        actor = _act(runner.alg.actor, io["obs"])
        assert float((actor - io["student_actions"]).abs().max()) <= 1e-6
        assert runner.current_learning_iteration == 0


class TestMismatchAndDetection:
    """Foreign keys and mismatched models are named; PPO and stride checkpoints are not taken for distillation ones."""

    def test_unknown_key_is_named(self) -> None:
        checkpoint, io = _fixture("rsl_rl_3.3.0_student_teacher")
        broken = {
            **checkpoint,
            "model_state_dict": {**checkpoint["model_state_dict"], "critic.0.weight": torch.ones(1)},
        }
        runner = _runner(io)
        with pytest.raises(CheckpointError, match=r"no stride counterpart: \['critic\.0\.weight'\]"):
            convert_rsl_rl_distillation_checkpoint(broken, runner.alg.student, runner.alg.teacher)

    def test_other_student_size_lists_shapes(self) -> None:
        _, io = _fixture("rsl_rl_5.5.1_distillation")
        cfg = dict(io["train_cfg"], check_env=False)
        cfg["student"] = dict(cfg["student"], hidden_dims=[16, 32])
        runner = DistillationRunner(_static_env(_first_step(io["obs"])), cfg)  # type: ignore[arg-type]
        with pytest.raises(CheckpointError, match=r"student\.mlp\.0\.weight .*checkpoint shape \(32, 5\) vs model"):
            runner.load(str(DISTILLATION / "rsl_rl_5.5.1_distillation.pt"))

    @pytest.mark.parametrize("ppo", ["rsl_rl_2.3.3", "rsl_rl_5.5.1"])
    def test_ppo_checkpoints_are_not_distillation(self, ppo: str) -> None:
        assert not is_rsl_rl_distillation_checkpoint(load_checkpoint(str(DATA / f"{ppo}.pt")))

    def test_stride_checkpoint_is_not_rsl_rl(self) -> None:
        checkpoint, _ = _fixture("rsl_rl_5.5.1_distillation")
        assert not is_rsl_rl_distillation_checkpoint({**checkpoint, "schema_version": 1})


PPO_FIXTURES = sorted(p.stem for p in DATA.glob("rsl_rl_*.pt") if not p.stem.endswith("_io"))


class TestTeacherFromRslRlPPO:
    """The teacher loads from the PPO checkpoint of every supported rsl_rl release (the actor and its normalizer) and
    acts as the release's actor did (max abs difference <= 1e-6); no migration warning (only the teacher is taken)."""

    @pytest.mark.parametrize("name", PPO_FIXTURES)
    def test_actions_match_release(self, name: str) -> None:
        io = torch.load(DATA / f"{name}_io.pt", weights_only=True)
        migrated, _ = migrate_train_cfg(io["train_cfg"])
        cfg = {
            "check_env": False,
            "obs_groups": {"student": ["critic"], "teacher": ["policy"]},
            "algorithm": {"class_name": "Distillation"},
            "student": {"class_name": "MLPModel", "hidden_dims": [8]},
            "teacher": migrated["actor"],
        }
        runner = DistillationRunner(_static_env(io["obs"]), cfg)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            runner.load(str(DATA / f"{name}.pt"))
        assert runner.alg.teacher_loaded and runner.current_learning_iteration == 0
        with torch.inference_mode():
            actions = runner.alg.teacher(TensorDict(dict(io["obs"]), batch_size=[100]))
        assert float((actions - io["actions"]).abs().max()) <= 1e-6
