"""The task registry: building tasks by name, helpful errors, registering new tasks."""

from __future__ import annotations

from typing import ClassVar

import pytest
import torch
from tensordict import TensorDict

import stride.env.tasks.registry as registry
from stride.env.tasks import CartPole, Pendulum, list_tasks, make_task, register_task, task_class
from stride.utils.errors import ConfigError


class _Drift(CartPole):
    """A user task: cartpole under another name."""

    name: ClassVar[str] = "drift"


class _Constant(Pendulum):
    """Another user task."""

    name: ClassVar[str] = "constant"

    def _observe(self) -> TensorDict:
        return TensorDict({"policy": torch.zeros(self.num_envs, 3)}, batch_size=[self.num_envs])


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register tasks without leaking them into other tests."""
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))


class TestMakeTask:
    """make_task builds the registered class with the given batch size, seed and keyword arguments."""

    def test_builtins_listed(self) -> None:
        names = list_tasks()
        assert {"cartpole", "pendulum"} <= set(names)
        assert names == sorted(names)
        assert task_class("cartpole") is CartPole
        assert task_class("pendulum") is Pendulum

    @pytest.mark.parametrize(
        ("name", "cls", "horizon", "obs_size"), [("cartpole", CartPole, 500, 4), ("pendulum", Pendulum, 200, 3)]
    )
    def test_make(self, name: str, cls: type, horizon: int, obs_size: int) -> None:
        task = make_task(name, num_envs=7, device="cpu", seed=3)
        assert type(task) is cls
        assert task.name == name
        assert task.num_envs == 7
        assert task.seed == 3
        assert task.device == torch.device("cpu")
        assert task.max_episode_length == horizon
        assert task.get_observations()["policy"].shape == (7, obs_size)
        assert task.cfg == {"task": name, "num_envs": 7, "seed": 3, "max_episode_length": horizon}
        assert make_task(name, num_envs=2, max_episode_length=17).max_episode_length == 17

    def test_unknown_keyword(self) -> None:
        with pytest.raises(ConfigError, match="max_episode_length") as info:
            make_task("cartpole", num_envs=2, max_episode_len=10)
        assert "max_episode_len'" in str(info.value)


class TestUnknownName:
    """An unknown name raises ConfigError listing the known names and the closest one."""

    @pytest.mark.parametrize(
        ("name", "suggestion"), [("cartpol", "cartpole"), ("CartPole", "cartpole"), ("pendulm", "pendulum")]
    )
    def test_suggestion(self, name: str, suggestion: str) -> None:
        for fn in (make_task, task_class):
            with pytest.raises(ConfigError) as info:
                fn(name)
            message = str(info.value)
            assert f"Did you mean '{suggestion}'?" in message
            assert ", ".join(list_tasks()) in message
            assert repr(name) in message

    def test_no_suggestion(self) -> None:
        with pytest.raises(ConfigError) as info:
            make_task("humanoid_xyz")
        assert "Did you mean" not in str(info.value)
        assert "register_task" in str(info.value)


@pytest.mark.usefixtures("isolated_registry")
class TestRegisterTask:
    """register_task adds classes by name, refuses non-tasks and silent overwrites, and is idempotent."""

    def test_register_and_make(self) -> None:
        register_task("drift", _Drift)
        assert "drift" in list_tasks()
        assert task_class("drift") is _Drift
        task = make_task("drift", num_envs=3, seed=1)
        assert type(task) is _Drift
        assert task.num_envs == 3
        register_task("drift", _Drift)  # same class again: no-op
        assert list_tasks().count("drift") == 1

    def test_registration_does_not_leak_between_tests(self) -> None:
        assert "drift" not in list_tasks()

    def test_refusals(self) -> None:
        with pytest.raises(ConfigError, match="already taken"):
            register_task("cartpole", _Drift)
        assert task_class("cartpole") is CartPole
        with pytest.raises(ConfigError, match="BatchedTask"):
            register_task("thing", dict)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="BatchedTask"):
            register_task("thing", CartPole(num_envs=1))  # type: ignore[arg-type]
        for bad in ("", " cartpole", "cart pole"):
            with pytest.raises(ConfigError, match="name"):
                register_task(bad, _Drift)
        assert "thing" not in list_tasks()

    def test_overwrite(self) -> None:
        register_task("drift", _Drift)
        register_task("drift", _Constant, overwrite=True)
        assert task_class("drift") is _Constant
        assert torch.equal(make_task("drift", num_envs=2).get_observations()["policy"], torch.zeros(2, 3))
