"""Tests for stride.algorithms.distillation: β schedule, losses, frozen teacher, truncated BPTT, recurrent replay."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.algorithms.distillation import Distillation, behavior_loss, beta_value
from stride.utils.errors import ConfigError, NonFiniteError

N, A = 6, 2
GROUPS = {"student": ["policy"], "teacher": ["teacher"]}


def _obs(gen: torch.Generator, scale: float = 1.0) -> TensorDict:
    return TensorDict(
        {"policy": torch.randn(N, 3, generator=gen) * scale, "teacher": torch.randn(N, 4, generator=gen) * scale + 1},
        batch_size=[N],
    )


def _model(kind: str, distribution: bool = False, **extra: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {"class_name": "MLPModel", "hidden_dims": [16], **extra}
    if kind != "mlp":
        cfg.update({"class_name": "RNNModel", "rnn_type": kind, "rnn_hidden_dim": 8})
    if distribution:
        cfg["distribution_cfg"] = {"class_name": "GaussianDistribution", "init_std": 0.5}
    return cfg


def _alg(
    student: str = "mlp",
    teacher: str = "mlp",
    steps: int = 8,
    student_distribution: bool = False,
    teacher_normalization: bool = False,
    **algorithm: Any,
) -> Distillation:
    torch.manual_seed(0)
    train_cfg = {
        "algorithm": {"class_name": "Distillation", **algorithm},
        "student": _model(student, student_distribution),
        "teacher": _model(teacher, True, obs_normalization=teacher_normalization),
    }
    alg = Distillation.construct(_obs(torch.Generator().manual_seed(9)), N, A, steps, train_cfg, GROUPS, "cpu")
    alg.teacher_loaded = True
    return alg


def _dones(step: int) -> torch.Tensor:
    """A done pattern with episodes ending mid-rollout in some envs (env 1 every 3 steps, env 4 at step 5)."""
    dones = torch.zeros(N, dtype=torch.bool)
    dones[1] = step % 3 == 2
    dones[4] = step == 5
    return dones


def _rollout(alg: Distillation, gen: torch.Generator, steps: int) -> tuple[list[TensorDict], list[torch.Tensor]]:
    """Drive the algorithm as the runner does; returns the observations acted on and the executed actions."""
    seen, executed = [], []
    obs = _obs(gen)
    with torch.inference_mode():
        for t in range(steps):
            seen.append(obs)
            executed.append(alg.act(obs).clone())
            obs = _obs(gen)
            alg.process_env_step(obs, torch.zeros(N), _dones(t), {})
    return seen, executed


class TestBetaSchedule:
    """β decays from β₀ to exactly 0 at beta_decay_iterations, by the documented formulas (golden values)."""

    @pytest.mark.parametrize(
        ("iteration", "schedule", "expected"),
        [
            (0, "linear", 0.8),
            (5, "linear", 0.4),
            (9, "linear", 0.08),
            (10, "linear", 0.0),
            (50, "linear", 0.0),
            (0, "exponential", 0.8),
            (5, "exponential", 0.08),
            (10, "exponential", 0.0),
        ],
    )
    def test_golden_values(self, iteration: int, schedule: Any, expected: float) -> None:
        assert beta_value(iteration, 0.8, schedule, 10) == pytest.approx(expected, abs=1e-12)

    def test_zero_beta_stays_zero(self) -> None:
        assert [beta_value(i, 0.0, "linear", 3) for i in range(5)] == [0.0] * 5

    def test_algorithm_beta_follows_updates(self) -> None:
        alg = _alg(beta=0.6, beta_decay_iterations=3)
        gen = torch.Generator().manual_seed(1)
        betas = []
        for _ in range(4):
            betas.append(alg.beta)
            _rollout(alg, gen, 8)
            alg.update()
            assert alg.last_beta == pytest.approx(betas[-1])
        assert betas == pytest.approx([0.6, 0.4, 0.2, 0.0])


class TestBehaviorLoss:
    """The behaviour losses are the documented means (golden values)."""

    def test_mse(self) -> None:
        student = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
        teacher = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
        # mean of (1, 0, 4, 0)
        assert float(behavior_loss(student, teacher, "mse")) == pytest.approx(1.25)

    def test_huber(self) -> None:
        student = torch.tensor([[0.0, 0.5]])
        teacher = torch.tensor([[2.0, 0.0]])
        # |d| = 2 → 2 − 0.5 = 1.5; |d| = 0.5 → 0.5·0.25 = 0.125
        assert float(behavior_loss(student, teacher, "huber")) == pytest.approx((1.5 + 0.125) / 2)


class TestTeacherFrozen:
    """Training never changes the teacher (parameters, normalizer, mode) while the student does change."""

    @pytest.mark.parametrize("teacher", ["mlp", "gru"])
    def test_teacher_bitwise_unchanged_and_in_eval_mode(self, teacher: str) -> None:
        alg = _alg(teacher=teacher, teacher_normalization=True, gradient_length=3, num_learning_epochs=2)
        before = copy.deepcopy(alg.teacher.state_dict())
        student_before = copy.deepcopy(alg.student.state_dict())
        gen = torch.Generator().manual_seed(2)
        for _ in range(3):
            alg.train_mode()
            _rollout(alg, gen, 8)
            alg.update()
        after = alg.teacher.state_dict()
        assert [k for k in before if not torch.equal(before[k], after[k])] == []
        assert all(not p.requires_grad for p in alg.teacher.parameters())
        assert not alg.teacher.training and all(not m.training for m in alg.teacher.modules())
        changed = [k for k, v in alg.student.state_dict().items() if not torch.equal(v, student_before[k])]
        assert "mlp.0.weight" in changed


class TestActingMixture:
    """β = 0: the env gets the student's actions in 100 % of steps; β = 1: the teacher's; labels are the teacher's."""

    @pytest.mark.parametrize("beta", [0.0, 1.0])
    def test_all_steps(self, beta: float) -> None:
        alg = _alg(beta=beta, steps=12)
        seen, executed = _rollout(alg, torch.Generator().manual_seed(3), 12)
        with torch.no_grad():
            student = torch.stack([alg.student(o) for o in seen])
            teacher = torch.stack([alg.teacher(o) for o in seen])
        expected = student if beta == 0.0 else teacher
        matches = (torch.stack(executed) == expected).all(dim=-1)
        assert matches.float().mean().item() == 1.0  # every env of every step
        torch.testing.assert_close(alg.storage.teacher_actions, teacher, rtol=0, atol=0)
        alg.update()
        assert alg.last_student_action_fraction == 1.0 - beta

    def test_half_mixture(self) -> None:
        alg = _alg(beta=0.5, steps=200)
        seen, executed = _rollout(alg, torch.Generator().manual_seed(4), 200)
        with torch.no_grad():
            student = torch.stack([alg.student(o) for o in seen])
            teacher = torch.stack([alg.teacher(o) for o in seen])
        actions = torch.stack(executed)
        by_student = (actions == student).all(-1)
        by_teacher = (actions == teacher).all(-1)
        assert bool((by_student | by_teacher).all())
        fraction = by_student.float().mean().item()
        # 1200 Bernoulli(0.5) draws: 5 standard deviations is ±0.072
        assert abs(fraction - 0.5) < 0.072
        alg.update()
        assert alg.last_student_action_fraction == pytest.approx(fraction, abs=1e-6)

    def test_labels_clipped_like_actions(self) -> None:
        alg = _alg(steps=4)
        alg.clip_actions = 0.01
        _rollout(alg, torch.Generator().manual_seed(5), 4)
        assert float(alg.storage.teacher_actions.abs().max()) == pytest.approx(0.01)


class TestTruncatedBPTT:
    """Windows of gradient_length steps: the update equals a plain reference loop with detached window boundaries."""

    @pytest.mark.parametrize("student", ["mlp", "gru", "lstm"])
    def test_equals_reference(self, student: str) -> None:
        steps, window, epochs = 10, 4, 2
        alg = _alg(student=student, steps=steps, gradient_length=window, num_learning_epochs=epochs)
        gen = torch.Generator().manual_seed(6)
        _rollout(alg, gen, steps)  # a first iteration, so the second starts from a non-zero recurrent state
        alg.update()
        seen, _ = _rollout(alg, gen, steps)
        seen = [o.clone() for o in seen]  # normal tensors (the rollout ran in inference mode)
        start = _clone(alg._start_state)
        reference = copy.deepcopy(alg.student)
        labels = alg.storage.teacher_actions.clone()
        optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
        optimizer.load_state_dict(copy.deepcopy(alg.optimizer.state_dict()))  # moments of the first update
        optimizer.param_groups[0].update({"lr": 1e-3, "fused": None, "foreach": False})
        for _ in range(epochs):
            reference.reset(hidden_state=_clone(start)) if start is not None else reference.reset()
            for t0 in range(0, steps, window):
                loss = torch.zeros(())
                for t in range(t0, min(t0 + window, steps)):
                    loss = loss + ((reference(seen[t]) - labels[t]) ** 2).mean()
                    reference.reset(_dones(t))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                reference.detach_hidden_state()
        calls = []
        step = alg.optimizer.step
        alg.optimizer.step = lambda *a, **k: calls.append(1) or step(*a, **k)  # type: ignore[method-assign]
        alg.update()
        assert len(calls) == epochs * math.ceil(steps / window)  # 2 × (4 + 4 + 2)
        for key, value in reference.state_dict().items():
            torch.testing.assert_close(alg.student.state_dict()[key], value, rtol=1e-5, atol=1e-6, msg=key)


class TestRecurrentReplay:
    """A recurrent student's update replays exactly the rollout it acted in, and the teacher keeps its own state."""

    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_update_forward_equals_rollout_actions(self, kind: str) -> None:
        steps = 8
        # one window, so every forward pass of the update runs before the first optimizer step
        alg = _alg(student=kind, teacher=kind, steps=steps, gradient_length=steps)
        gen = torch.Generator().manual_seed(7)
        for _ in range(2):  # the second rollout starts from the state the first update left
            _, executed = _rollout(alg, gen, steps)
            replayed: list[torch.Tensor] = []
            forward = alg.student.forward

            def spy(*args: Any, _forward: Any = forward, _out: list = replayed, **kwargs: Any) -> torch.Tensor:
                out = _forward(*args, **kwargs)
                _out.append(out.detach())
                return out

            alg.student.forward = spy  # type: ignore[method-assign]
            teacher_state = [h.clone() for h in _tensors(alg.teacher.get_hidden_state())]
            alg.update()
            alg.student.forward = forward  # type: ignore[method-assign]
            torch.testing.assert_close(torch.stack(replayed), torch.stack(executed), rtol=0, atol=1e-6)
            after = _tensors(alg.teacher.get_hidden_state())
            assert all(torch.equal(a, b) for a, b in zip(after, teacher_state, strict=True))
            assert all(h.grad_fn is None and not h.requires_grad for h in _tensors(alg.student.get_hidden_state()))

    def test_done_resets_only_that_env(self) -> None:
        alg = _alg(student="gru", teacher="gru", steps=3)
        gen = torch.Generator().manual_seed(8)
        with torch.inference_mode():
            alg.act(_obs(gen))
            before = [_tensors(m.get_hidden_state())[0].clone() for m in (alg.student, alg.teacher)]
            dones = torch.zeros(N)
            dones[2] = 1.0  # float dones, as some envs send
            alg.process_env_step(_obs(gen), torch.zeros(N), dones, {})
        for model, old in zip((alg.student, alg.teacher), before, strict=True):
            new = _tensors(model.get_hidden_state())[0]
            assert float(new[:, 2].abs().max()) == 0.0 and float(old[:, 2].abs().max()) > 0.0
            keep = [i for i in range(N) if i != 2]
            assert torch.equal(new[:, keep], old[:, keep])


def _clone(hidden: Any) -> Any:
    if hidden is None:
        return None
    return tuple(h.clone() for h in hidden) if isinstance(hidden, tuple) else hidden.clone()


def _tensors(hidden: Any) -> tuple[torch.Tensor, ...]:
    return hidden if isinstance(hidden, tuple) else (hidden,)


class TestStateDict:
    """state_dict → load_state_dict restores every tensor, the β position and the recurrent states."""

    def test_round_trip(self) -> None:
        alg = _alg(student="gru", student_distribution=True, beta=0.5, beta_decay_iterations=10)
        gen = torch.Generator().manual_seed(10)
        for _ in range(2):
            _rollout(alg, gen, 8)
            alg.update()
        state = copy.deepcopy(alg.state_dict())
        other = _alg(student="gru", student_distribution=True, beta=0.5, beta_decay_iterations=10)
        assert not other.teacher_loaded or other.teacher_loaded  # built with the flag set by the helper
        other.teacher_loaded = False
        other.load_state_dict(state)
        assert other.teacher_loaded and other.num_updates == 2 and other.beta == pytest.approx(0.4)
        for name in ("student", "teacher"):
            mine, theirs = getattr(alg, name).state_dict(), getattr(other, name).state_dict()
            assert all(torch.equal(mine[k], theirs[k]) for k in mine)
        torch.testing.assert_close(other.student.get_hidden_state(), alg.student.get_hidden_state(), rtol=0, atol=0)
        assert all(group["lr"] is other._lr for group in other.optimizer.param_groups)
        moments = other.optimizer.state_dict()["state"]
        for idx, entry in alg.optimizer.state_dict()["state"].items():
            assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(moments[idx][k])) for k, v in entry.items())

    def test_hidden_state_of_other_num_envs_is_refused(self) -> None:
        alg = _alg(student="gru")
        _rollout(alg, torch.Generator().manual_seed(11), 8)
        alg.update()
        state = alg.state_dict()
        state["distillation_state"]["student_hidden_state"] = torch.zeros(1, N + 1, 8)
        with pytest.raises(Exception, match=r"student_hidden_state: checkpoint shape \(1, 7, 8\)"):
            _alg(student="gru").load_state_dict(state)


class TestNonFiniteUpdate:
    """A NaN label never reaches the student: 'raise' names the term, 'skip' leaves the bad window unapplied."""

    def _nan_rollout(self, alg: Distillation) -> None:
        _rollout(alg, torch.Generator().manual_seed(12), 8)
        alg.storage.teacher_actions[3, 1, 0] = float("nan")

    def test_raise(self) -> None:
        alg = _alg(gradient_length=4)
        self._nan_rollout(alg)
        with pytest.raises(NonFiniteError, match=r"behavior loss.*window 0 of iteration 7"):
            alg.update(iteration=7)

    def test_skip(self) -> None:
        alg = _alg(gradient_length=4, nonfinite_update="skip")
        self._nan_rollout(alg)
        before = copy.deepcopy(alg.student.state_dict())
        result = alg.update()
        # the first window (steps 0-3) held the NaN and was skipped; the second was applied
        assert result["skipped_updates"] == 1.0 and math.isfinite(result["behavior"])
        assert alg.num_skipped_updates == 1
        assert any(not torch.equal(v, before[k]) for k, v in alg.student.state_dict().items())


class TestConstruction:
    """Missing sections and bad values fail at construction with the config path."""

    def test_missing_teacher_section(self) -> None:
        cfg = {"algorithm": {"class_name": "Distillation"}, "student": _model("mlp")}
        with pytest.raises(ConfigError, match="no 'teacher' section"):
            Distillation.construct(_obs(torch.Generator()), N, A, 4, cfg, GROUPS, "cpu")

    def test_ppo_keys_are_refused(self) -> None:
        cfg = {"algorithm": {"class_name": "Distillation", "clip_param": 0.2}, "student": {}, "teacher": {}}
        with pytest.raises(ConfigError, match=r"algorithm\.clip_param"):
            Distillation.construct(_obs(torch.Generator()), N, A, 4, cfg, GROUPS, "cpu")
