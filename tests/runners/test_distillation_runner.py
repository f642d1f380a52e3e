"""Tests for stride.runners.distillation_runner: teacher loading (stride and rsl_rl PPO checkpoints), refusals,
the student acting, save → load → play, PPO fine-tuning of the student, and a short learning run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.runners import DistillationRunner, OnPolicyRunner
from stride.utils.errors import CheckpointError, ConfigError

DATA = Path(__file__).resolve().parents[1] / "data" / "rsl_rl"
NUM_ENVS = 16

TEACHER_ACTOR: dict[str, Any] = {
    "class_name": "MLPModel",
    "hidden_dims": [32, 32],
    "obs_normalization": True,
    "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
}


def _ppo_cfg(actor_groups: list[str] | None = None) -> dict[str, Any]:
    return {
        "num_steps_per_env": 8,
        "seed": 3,
        "check_env": False,
        "obs_groups": {"actor": actor_groups or ["teacher"], "critic": ["teacher"]},
        "algorithm": {"class_name": "PPO", "num_mini_batches": 2, "num_learning_epochs": 1},
        "actor": copy.deepcopy(TEACHER_ACTOR),
        "critic": {"class_name": "MLPModel", "hidden_dims": [16]},
    }


def _distill_cfg(student: str = "gru", **algorithm: Any) -> dict[str, Any]:
    student_cfg: dict[str, Any] = {
        "class_name": "MLPModel",
        "hidden_dims": [32],
        "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 0.1},
    }
    if student != "mlp":
        student_cfg.update({"class_name": "RNNModel", "rnn_type": student, "rnn_hidden_dim": 16})
    return {
        "class_name": "DistillationRunner",
        "num_steps_per_env": 8,
        "seed": 5,
        "save_interval": 100,
        "check_env": False,
        "obs_groups": {"student": ["policy"], "teacher": ["teacher"]},
        "algorithm": {"class_name": "Distillation", "gradient_length": 4, **algorithm},
        "student": student_cfg,
        "teacher": copy.deepcopy(TEACHER_ACTOR),
    }


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PPO checkpoint of pendulum-noisy whose actor read the `teacher` group (2 iterations, normalizer updated)."""
    path = tmp_path_factory.mktemp("teacher") / "model.pt"
    runner = OnPolicyRunner(make_task("pendulum-noisy", num_envs=NUM_ENVS, seed=1), _ppo_cfg())
    runner.learn(2)
    runner.save(str(path))
    return str(path)


def _runner(cfg: dict[str, Any] | None = None, env: Any = None, log_dir: str | None = None) -> DistillationRunner:
    env = env if env is not None else make_task("pendulum-noisy", num_envs=NUM_ENVS, seed=2)
    return DistillationRunner(env, cfg or _distill_cfg(), log_dir=log_dir)


class _CountingEnv:
    """pendulum-noisy that counts step calls and records the actions it receives."""

    def __init__(self, num_envs: int = NUM_ENVS) -> None:
        self._task = make_task("pendulum-noisy", num_envs=num_envs, seed=4)
        self.steps = 0
        self.actions: list[torch.Tensor] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def step(self, actions: torch.Tensor) -> Any:
        self.steps += 1
        self.actions.append(actions.clone())
        return self._task.step(actions)


class TestTeacherRequired:
    """R12/R18: learn() refuses to start, before any env step, until teacher weights are loaded."""

    def test_no_teacher(self) -> None:
        env = _CountingEnv()
        runner = _runner(env=env)
        with pytest.raises(ConfigError, match=r"no teacher weights are loaded.*runner\.load"):
            runner.learn(1)
        assert env.steps == 0


class TestTeacherFromPPO:
    """A PPO checkpoint gives the teacher its actor (weights and normalizer) and nothing else."""

    def test_teacher_equals_actor(self, teacher_checkpoint: str) -> None:
        runner = _runner()
        student_before = copy.deepcopy(runner.alg.student.state_dict())
        runner.load(teacher_checkpoint)
        actor = torch.load(teacher_checkpoint, weights_only=True)["actor_state_dict"]
        teacher = runner.alg.teacher.state_dict()
        assert sorted(teacher) == sorted(actor)
        assert all(torch.equal(teacher[k], actor[k]) for k in actor)
        assert int(actor["obs_normalizer.count"]) > 0  # the normalizer came along
        student = runner.alg.student.state_dict()
        assert all(torch.equal(student[k], v) for k, v in student_before.items())
        assert runner.alg.teacher_loaded and runner.current_learning_iteration == 0


class _TwinGroupsEnv(_CountingEnv):
    """pendulum-noisy with a `privileged` group of the same size as `teacher` (a copy of it)."""

    def get_observations(self) -> TensorDict:
        obs = self._task.get_observations().clone()
        obs["privileged"] = obs["teacher"].clone()
        return obs


class TestTeacherMismatch:
    """R18: a teacher checkpoint whose observation groups or sizes differ from the teacher config is refused, with
    both listed; nothing is loaded."""

    def test_other_sizes(self, teacher_checkpoint: str) -> None:
        cfg = _distill_cfg()
        cfg["obs_groups"]["teacher"] = ["policy"]  # size 2; the actor read `teacher` of size 3
        runner = _runner(cfg)
        before = copy.deepcopy(runner.alg.teacher.state_dict())
        with pytest.raises(CheckpointError) as info:
            runner.load(teacher_checkpoint)
        message = str(info.value)
        assert "groups {'teacher': [3]} (total size 3)" in message
        assert "groups {'policy': [2]} (total size 2)" in message
        assert not runner.alg.teacher_loaded
        assert all(torch.equal(v, before[k]) for k, v in runner.alg.teacher.state_dict().items())

    def test_other_group_of_the_same_size(self, teacher_checkpoint: str) -> None:
        cfg = _distill_cfg()
        cfg["obs_groups"]["teacher"] = ["privileged"]
        with pytest.raises(CheckpointError, match=r"\{'teacher': \[3\]\}.*\{'privileged': \[3\]\}"):
            _runner(cfg, env=_TwinGroupsEnv()).load(teacher_checkpoint)

    def test_rsl_rl_checkpoint_of_other_size(self, tmp_path: Path) -> None:
        # rsl_rl records no groups: the actor's input size (5) is compared with the teacher config's (3)
        with pytest.raises(CheckpointError, match=r"input of size 5 .*groups \{'teacher': \[3\]\}"):
            _runner().load(str(DATA / "rsl_rl_5.5.1.pt"))


class TestStudentActs:
    """R18: with β = 0 the env is stepped with the student's actions in 100 % of steps."""

    def test_every_step_is_the_students(self, teacher_checkpoint: str, tmp_path: Path) -> None:
        env = _CountingEnv()
        runner = _runner(_distill_cfg("gru"), env=env, log_dir=str(tmp_path))
        runner.load(teacher_checkpoint)
        produced: list[torch.Tensor] = []
        act = runner.alg.act

        def spy(obs: Any) -> torch.Tensor:
            # what the student returned, recomputed from its own sampled output inside act
            forward = runner.alg.student.forward

            def record(*args: Any, **kwargs: Any) -> torch.Tensor:
                out = forward(*args, **kwargs)
                produced.append(out.clone())
                return out

            runner.alg.student.forward = record  # type: ignore[method-assign]
            try:
                return act(obs)
            finally:
                runner.alg.student.forward = forward  # type: ignore[method-assign]

        runner.alg.act = spy  # type: ignore[method-assign]
        runner.learn(3)
        assert env.steps == len(produced) == 24
        same = torch.stack([(a == p).all(-1) for a, p in zip(env.actions, produced, strict=True)])
        assert same.float().mean().item() == 1.0
        rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert [r["Policy/student_action_fraction"] for r in rows] == [1.0, 1.0, 1.0]
        assert [r["Policy/beta"] for r in rows] == [0.0, 0.0, 0.0]


class TestSaveLoadPlay:
    """A distilled recurrent student survives save → load → play: identical actions on a 60-step sequence with
    resets, iteration and β position restored."""

    def test_round_trip(self, teacher_checkpoint: str, tmp_path: Path) -> None:
        runner = _runner(_distill_cfg("lstm", beta=0.5, beta_decay_iterations=4), log_dir=str(tmp_path))
        runner.load(teacher_checkpoint)
        runner.learn(2)
        loaded = _runner(_distill_cfg("lstm", beta=0.5, beta_decay_iterations=4))
        loaded.load(str(tmp_path / "model_1.pt"))
        assert loaded.current_learning_iteration == 2 and loaded.alg.num_updates == 2
        assert loaded.alg.teacher_loaded and loaded.alg.beta == pytest.approx(0.25)
        gen = torch.Generator().manual_seed(0)
        sequence = [torch.randn(NUM_ENVS, 2, generator=gen) for _ in range(60)]
        outputs = []
        for r in (runner, loaded):
            policy: Any = r.get_inference_policy()
            assert not policy.training
            policy.reset()
            actions = []
            with torch.inference_mode():
                for t, x in enumerate(sequence):
                    actions.append(policy(TensorDict({"policy": x}, batch_size=[NUM_ENVS])))
                    policy.reset((torch.arange(NUM_ENVS) % 7 == t % 7).float())
            outputs.append(torch.stack(actions))
        assert torch.equal(outputs[0], outputs[1])


class TestLinearSchedule:
    """schedule='linear': lr_k = lr_0·(1 − min(k, H − 1)/H) with H the runner's max_iterations, and the position
    (the iteration count) survives save → load."""

    def test_rates_and_resume(self, teacher_checkpoint: str, tmp_path: Path) -> None:
        cfg = {**_distill_cfg("gru", learning_rate=1e-3, schedule="linear"), "max_iterations": 4}
        runner = _runner(cfg, log_dir=str(tmp_path))
        runner.load(teacher_checkpoint)
        rates = []
        for _ in range(2):
            runner.learn(1)
            rates.append(runner.alg.learning_rate)
        assert rates == pytest.approx([1e-3, 0.75e-3], rel=1e-6)
        loaded = _runner(cfg)
        loaded.load(str(tmp_path / "model_1.pt"))
        for _ in range(3):
            loaded.learn(1)
            rates.append(loaded.alg.learning_rate)
        # iteration 2 continues the schedule; past H = 4 it stays at lr_0/H
        assert rates == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3, 0.25e-3], rel=1e-6)

    def test_no_horizon(self) -> None:
        with pytest.raises(ConfigError, match="schedule_iterations"):
            _runner(_distill_cfg(schedule="linear"))


class TestFineTuneWithPPO:
    """OnPolicyRunner.load(distillation checkpoint) makes the student the PPO actor (nothing else), and PPO trains."""

    def test_student_becomes_actor(self, teacher_checkpoint: str, tmp_path: Path) -> None:
        cfg = _distill_cfg("mlp")
        distill = _runner(cfg, log_dir=str(tmp_path))
        distill.load(teacher_checkpoint)
        distill.learn(1)
        ppo_cfg = _ppo_cfg(["policy"])
        ppo_cfg["actor"] = copy.deepcopy(cfg["student"])
        ppo = OnPolicyRunner(make_task("pendulum-noisy", num_envs=NUM_ENVS, seed=6), ppo_cfg)
        critic_before = copy.deepcopy(ppo.alg.critic.state_dict())
        ppo.load(str(tmp_path / "model_0.pt"))
        student = distill.alg.student.state_dict()
        actor = ppo.alg.actor.state_dict()
        assert sorted(actor) == sorted(student) and all(torch.equal(actor[k], student[k]) for k in student)
        assert all(torch.equal(v, critic_before[k]) for k, v in ppo.alg.critic.state_dict().items())
        assert ppo.current_learning_iteration == 0
        ppo.learn(1)
        assert ppo.current_learning_iteration == 1

    def test_mismatched_actor_lists_keys(self, teacher_checkpoint: str, tmp_path: Path) -> None:
        distill = _runner(_distill_cfg("mlp"), log_dir=str(tmp_path))
        distill.load(teacher_checkpoint)
        distill.learn(1)
        ppo = OnPolicyRunner(make_task("pendulum-noisy", num_envs=NUM_ENVS, seed=6), _ppo_cfg(["policy"]))
        with pytest.raises(
            CheckpointError, match=r"actor\.mlp\.2\.weight: checkpoint shape \(1, 32\) vs model shape \(32, 32\)"
        ):
            ppo.load(str(tmp_path / "model_0.pt"))


class TestWrongRunner:
    """Each runner refuses the other's config before any env step."""

    def test_ppo_config_to_distillation_runner(self) -> None:
        with pytest.raises(ConfigError, match=r"\['actor', 'critic'\] section"):
            _runner(_ppo_cfg())

    def test_distillation_config_to_ppo_runner(self) -> None:
        with pytest.raises(ConfigError, match=r"build stride\.runners\.DistillationRunner"):
            OnPolicyRunner(make_task("pendulum-noisy", num_envs=NUM_ENVS), _distill_cfg())


_DELETE = object()

# (field path, bad value, text the message must contain)
INVALID: list[tuple[str, Any, str]] = [
    ("algorithm.learning_rate", 0.0, "learning_rate"),
    ("algorithm.learning_rate", -1e-3, "learning_rate"),
    ("algorithm.num_learning_epochs", 0, "num_learning_epochs"),
    ("algorithm.gradient_length", 0, "gradient_length"),
    ("algorithm.max_grad_norm", 0.0, "max_grad_norm"),
    ("algorithm.loss_type", "l1", "loss_type"),
    ("algorithm.optimizer", "adagrad", "optimizer"),
    ("algorithm.beta", 1.5, "beta"),
    ("algorithm.beta", -0.1, "beta"),
    ("algorithm.beta_schedule", "cosine", "beta_schedule"),
    ("algorithm.beta_decay_iterations", 0, "beta_decay_iterations"),
    ("algorithm.nonfinite_update", "ignore", "nonfinite_update"),
    ("algorithm.schedule", "adaptive", "schedule"),
    ("algorithm.schedule_iterations", 0, "schedule_iterations"),
    ("algorithm.class_name", "PPO", "algorithm.class_name"),
    ("algorithm.gradient_lenght", 4, "did you mean 'gradient_length'"),
    ("student.hidden_dim", [8], "did you mean 'hidden_dims'"),
    ("student.rnn_type", "rnn", "rnn_type"),
    ("teacher", _DELETE, "no 'teacher' section"),
    ("student", _DELETE, "no 'student' section"),
    ("obs_groups.teacher", ["privileged"], "obs_groups.teacher names group 'privileged'"),
    ("class_name", "OnPolicyRunner", "this is the DistillationRunner"),
]


class TestInvalidConfig:
    """R12: invalid values and combinations of a distillation config raise ConfigError before the first env step,
    naming the field."""

    @pytest.mark.parametrize(("path", "value", "text"), INVALID, ids=[f"{p}={v!r}" for p, v, _ in INVALID])
    def test_rejected_before_any_step(self, path: str, value: Any, text: str) -> None:
        cfg = _distill_cfg()
        node = cfg
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        env = _CountingEnv()
        with pytest.raises(ConfigError) as info:
            _runner(cfg, env=env)
        assert text in str(info.value)
        assert env.steps == 0


class TestShortLearning:
    """On pendulum-noisy a GRU student's behaviour loss falls by >= 70 % in 25 short iterations (default-tier budget
    of the 3-seed figure in tests/reliability/test_distillation.py)."""

    def test_loss_falls(self, teacher_checkpoint: str, tmp_path: Path) -> None:
        cfg = _distill_cfg("gru", learning_rate=3e-3, num_learning_epochs=4)
        cfg["clip_actions"] = 1.0
        runner = _runner(cfg, env=make_task("pendulum-noisy", num_envs=32, seed=7), log_dir=str(tmp_path))
        runner.load(teacher_checkpoint)
        runner.learn(25)
        losses = [json.loads(line)["Loss/behavior"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        drop = 1.0 - sum(losses[-3:]) / 3 / losses[0]
        assert drop >= 0.7, losses
