"""The VecEnv contract of the tasks for recurrent, CNN and distillation policies: pendulum-pomdp, pendulum-noisy,
memory and reach-image (shapes, check_env, same-step resets, determinism, exact resume, devices)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.checker import check_env
from stride.env.tasks import BatchedTask, make_task, task_class

TASKS = ["pendulum-pomdp", "pendulum-noisy", "memory", "reach-image"]
GROUPS = {
    "pendulum-pomdp": {"policy": (2,)},
    "pendulum-noisy": {"policy": (2,), "teacher": (3,)},
    "memory": {"policy": (2,)},
    "reach-image": {"policy": (1, 32, 32)},
}
ACTIONS = {"pendulum-pomdp": 1, "pendulum-noisy": 1, "memory": 1, "reach-image": 2}
# short time limits so that every test sees many resets (memory's is its episode length)
HORIZON = {"pendulum-pomdp": 13, "pendulum-noisy": 13, "memory": 5, "reach-image": 9}


def _make(name: str, **kwargs: Any) -> BatchedTask:
    """make_task, narrowed to the built-in task class it must return."""
    task = make_task(name, **kwargs)
    assert isinstance(task, BatchedTask)
    return task


def _random_actions(gen: torch.Generator, task: BatchedTask) -> torch.Tensor:
    """Uniform actions in [-1.2, 1.2] (some get clipped). Shape: (num_envs, num_actions)."""
    return 2.4 * torch.rand(task.num_envs, task.num_actions, generator=gen) - 1.2


def _rollout(task: BatchedTask, num_steps: int, action_seed: int) -> list[torch.Tensor]:
    """Step ``task`` with seeded random actions and collect every returned tensor (all groups)."""
    gen = torch.Generator().manual_seed(action_seed)
    groups = sorted(GROUPS[task.name])
    out: list[torch.Tensor] = [task.get_observations()[g] for g in groups]
    for _ in range(num_steps):
        obs, rewards, dones, extras = task.step(_random_actions(gen, task))
        out += [obs[g] for g in groups] + [extras["final_obs"][g] for g in groups]
        out += [rewards, dones, extras["time_outs"], extras["episode"]["return"], extras["episode"]["length"]]
    return out


def _twin(task: BatchedTask) -> BatchedTask:
    """An independent task in exactly the same state (seed deliberately different)."""
    twin = type(task)(num_envs=task.num_envs, seed=task.seed + 1000, max_episode_length=int(task.max_episode_length))
    twin.load_state_dict(task.state_dict())
    return twin


@pytest.mark.parametrize("name", TASKS)
class TestShapes:
    """Observation groups, sizes, dtypes and action size are the documented ones, at reset and after steps."""

    def test_shapes_and_dtypes(self, name: str) -> None:
        task = _make(name, num_envs=5, seed=0)
        assert task.num_actions == ACTIONS[name] == task_class(name).action_size
        sizes = {g: s if isinstance(s, tuple) else (s,) for g, s in task_class(name).observation_sizes.items()}
        assert sizes == GROUPS[name]
        obs = task.get_observations()
        assert isinstance(obs, TensorDict)
        assert obs.batch_size == torch.Size([5])
        assert sorted(obs.keys()) == sorted(GROUPS[name])
        for group, shape in GROUPS[name].items():
            assert obs[group].shape == (5, *shape)
            assert obs[group].dtype == torch.float32
        obs, rewards, dones, extras = task.step(torch.zeros(5, task.num_actions))
        for group, shape in GROUPS[name].items():
            assert obs[group].shape == (5, *shape)
            assert extras["final_obs"][group].shape == (5, *shape)
        assert rewards.shape == dones.shape == extras["time_outs"].shape == (5,)
        assert rewards.dtype == torch.float32
        assert dones.dtype == extras["time_outs"].dtype == torch.bool

    def test_check_env_passes(self, name: str) -> None:
        report = check_env(_make(name, num_envs=16, seed=1), num_steps=2 * HORIZON[name])
        assert report.groups == {g: (16, *s) for g, s in GROUPS[name].items()}
        assert report.num_actions == ACTIONS[name]
        assert report.has_time_outs and report.has_final_obs and report.restored

    def test_returned_tensors_are_not_aliased(self, name: str) -> None:
        task = _make(name, num_envs=4, seed=1)
        first = task.get_observations().clone()
        kept = task.get_observations()
        obs, rewards, _, extras = task.step(torch.ones(4, task.num_actions))
        after = (obs.clone(), rewards.clone(), extras["final_obs"].clone())
        for _ in range(5):
            task.step(-torch.ones(4, task.num_actions))
        assert (kept == first).all()
        assert (obs == after[0]).all() and torch.equal(rewards, after[1]) and (extras["final_obs"] == after[2]).all()
        assert not (task.get_observations() == after[0]).all()  # the obs did move on: the checks are not vacuous


@pytest.mark.parametrize("name", TASKS)
class TestSameStepReset:
    """final_obs is the physics-only successor; done envs return a freshly drawn initial observation."""

    def test_against_replay(self, name: str) -> None:
        task = _make(name, num_envs=32, seed=3, max_episode_length=HORIZON[name])
        gen = torch.Generator().manual_seed(0)
        total_dones = 0
        for _ in range(40):
            actions = _random_actions(gen, task)
            twin = _twin(task)
            twin._physics(actions.clamp(-1.0, 1.0))
            expected_final = twin._observe()
            twin._set_state(twin._sample_initial_state(), torch.ones(task.num_envs, dtype=torch.bool))
            expected_fresh = twin._observe()
            obs, _, dones, extras = task.step(actions)
            for group in GROUPS[name]:
                assert torch.equal(extras["final_obs"][group], expected_final[group])
                assert torch.equal(obs[group][dones], expected_fresh[group][dones])
                assert torch.equal(obs[group][~dones], expected_final[group][~dones])
            total_dones += int(dones.sum())
        assert total_dones >= 64


@pytest.mark.parametrize("name", TASKS)
class TestDeterminism:
    """Same seed: bitwise identical 200-step streams whatever the global generator holds; another seed differs."""

    def test_same_seed_same_stream(self, name: str) -> None:
        torch.manual_seed(0)
        a = _rollout(_make(name, num_envs=16, seed=11, max_episode_length=HORIZON[name]), 200, action_seed=0)
        torch.manual_seed(123)
        _ = torch.rand(7)
        b = _rollout(_make(name, num_envs=16, seed=11, max_episode_length=HORIZON[name]), 200, action_seed=0)
        assert len(a) == len(b)
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    def test_other_seed_other_stream(self, name: str) -> None:
        a = _rollout(_make(name, num_envs=16, seed=11, max_episode_length=HORIZON[name]), 50, action_seed=0)
        b = _rollout(_make(name, num_envs=16, seed=12, max_episode_length=HORIZON[name]), 50, action_seed=0)
        assert not torch.equal(a[0], b[0])
        assert not all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", TASKS)
class TestStateDict:
    """state_dict / load_state_dict, through torch.save with weights_only, continues bit for bit."""

    def test_resume_bit_for_bit(self, name: str) -> None:
        task = _make(name, num_envs=8, seed=13, max_episode_length=HORIZON[name])
        _rollout(task, 30, action_seed=1)
        buffer = io.BytesIO()
        torch.save(task.state_dict(), buffer)
        expected = _rollout(task, 60, action_seed=2)
        buffer.seek(0)
        resumed = _make(name, num_envs=8, seed=999, max_episode_length=HORIZON[name])
        resumed.load_state_dict(torch.load(buffer, weights_only=True))
        got = _rollout(resumed, 60, action_seed=2)
        assert all(torch.equal(x, y) for x, y in zip(expected, got, strict=True))


@pytest.mark.gpu
@pytest.mark.parametrize("name", TASKS)
class TestCuda:
    """On CUDA the tasks run on the device and follow the CPU trajectory (same seed and actions) to 1e-4 until the
    first reset (the generators differ between devices, so initial draws are compared only in distribution)."""

    def test_cuda_matches_cpu_dynamics(self, name: str) -> None:
        if not torch.cuda.is_available():
            pytest.skip("needs CUDA")
        cpu = _make(name, num_envs=64, seed=2, max_episode_length=HORIZON[name])
        gpu = _make(name, num_envs=64, device="cuda", seed=2, max_episode_length=HORIZON[name])
        check_env(gpu)
        state: dict[str, Any] = cpu.state_dict()
        gpu.load_state_dict({k: v.cuda() if k != "generator" else gpu.generator.get_state() for k, v in state.items()})
        gen = torch.Generator().manual_seed(5)
        same = torch.ones(64, dtype=torch.bool)  # envs not reset yet: both devices hold the same state
        for _ in range(HORIZON[name] - 1):
            actions = _random_actions(gen, cpu)
            obs_c, rew_c, done_c, _ = cpu.step(actions)
            obs_g, rew_g, done_g, _ = gpu.step(actions.cuda())
            assert rew_g.device.type == "cuda"
            assert torch.equal(done_c[same], done_g.cpu()[same])
            assert torch.allclose(rew_c[same], rew_g.cpu()[same], atol=1e-4)
            same &= ~done_c
            for group in GROUPS[name]:
                assert obs_g[group].device.type == "cuda"
                if name == "pendulum-noisy" and group == "policy":
                    continue  # its noise comes from the device's own generator
                assert torch.allclose(obs_c[group][same], obs_g[group].cpu()[same], atol=1e-4)
        assert int(same.sum()) >= 32
