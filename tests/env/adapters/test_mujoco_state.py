"""GymnasiumVecEnv.state_dict / load_state_dict: a MuJoCo env restored into a fresh one continues bit for bit."""

from __future__ import annotations

import io

import pytest
import torch

pytest.importorskip("gymnasium")
pytest.importorskip("mujoco")

from stride.env.adapters.gymnasium import GymnasiumVecEnv
from stride.env.checker import check_env
from stride.utils.errors import CheckpointError


def _roll(env: GymnasiumVecEnv, actions: torch.Tensor) -> list[torch.Tensor]:
    """Step through ``actions`` (T, N, A); every observation, reward, done, time-out and ended-episode return."""
    out = []
    for a in actions:
        obs, rewards, dones, extras = env.step(a)
        out += [obs["policy"].clone(), rewards, dones, extras["time_outs"], extras["episode"]["return"]]
    return out


def _through_checkpoint(state: dict) -> dict:
    """The state after torch.save and a weights_only load, as a checkpoint holds it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


class TestRestore:
    """After ``load_state_dict`` a fresh env (built with another seed) steps exactly as the saved one: observations,
    rewards, terminations, resets (their noise comes from the restored generators) and episode statistics. Ant-v5
    reads the torso position left by the previous step, so this also proves the derived MjData arrays are restored;
    Hopper terminates often, so resets happen after the restore."""

    @pytest.mark.parametrize(("task", "steps"), [("Hopper-v5", 300), ("Ant-v5", 120), ("HalfCheetah-v5", 60)])
    def test_continues_bitwise(self, task: str, steps: int) -> None:
        torch.manual_seed(0)
        saved = GymnasiumVecEnv(task, num_envs=2, seed=1)
        num_actions = saved.num_actions
        _roll(saved, torch.rand(37, 2, num_actions) * 2 - 1)
        state = _through_checkpoint(saved.state_dict())
        fresh = GymnasiumVecEnv(task, num_envs=2, seed=99)
        fresh.load_state_dict(state)
        assert torch.equal(fresh.get_observations()["policy"], saved.get_observations()["policy"])
        assert torch.equal(fresh.episode_length_buf, saved.episode_length_buf)
        actions = torch.rand(steps, 2, num_actions) * 2 - 1
        a, b = _roll(saved, actions), _roll(fresh, actions)
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        if task == "Hopper-v5":
            assert sum(int(d.sum()) for d in a[2::5]) >= 4, "resets happen after the restore"
        saved.close()
        fresh.close()

    def test_without_restore_the_runs_differ(self) -> None:
        """The control: the fresh env alone does not repeat the saved one (the test above can fail)."""
        torch.manual_seed(0)
        saved = GymnasiumVecEnv("Hopper-v5", num_envs=1, seed=1)
        _roll(saved, torch.rand(10, 1, saved.num_actions))
        fresh = GymnasiumVecEnv("Hopper-v5", num_envs=1, seed=99)
        actions = torch.rand(5, 1, saved.num_actions)
        assert not torch.equal(_roll(saved, actions)[0], _roll(fresh, actions)[0])


class TestRefusals:
    """What cannot be captured gives {} (a resumed run then starts from the env as built); a state of another task
    or env count is refused with CheckpointError."""

    def test_other_task_or_count(self) -> None:
        hopper = GymnasiumVecEnv("Hopper-v5", num_envs=1, seed=0).state_dict()
        with pytest.raises(CheckpointError, match="integration state of size"):
            GymnasiumVecEnv("HalfCheetah-v5", num_envs=1, seed=0).load_state_dict(hopper)
        with pytest.raises(CheckpointError, match="holds 1 MuJoCo envs, this env has 2"):
            GymnasiumVecEnv("Hopper-v5", num_envs=2, seed=0).load_state_dict(hopper)

    def test_async_and_non_mujoco_give_empty(self) -> None:
        assert GymnasiumVecEnv("Pendulum-v1", num_envs=1, seed=0).state_dict() == {}
        env = GymnasiumVecEnv("Hopper-v5", num_envs=1, seed=0, vectorization_mode="async")
        try:
            assert env.state_dict() == {}
            env.load_state_dict({})  # nothing to restore
        finally:
            env.close()


class TestCheckEnv:
    """check_env restores a MuJoCo env after its checked steps (it has a state now); an env whose state is {} is
    treated as one without state_dict (its episode lengths are put back instead; test_gymnasium.py::TestContract)."""

    def test_restored_after_check(self) -> None:
        env = GymnasiumVecEnv("Hopper-v5", num_envs=2, seed=1)
        before = env.get_observations()["policy"].clone()
        report = check_env(env, num_steps=20)
        assert report.restored
        assert torch.equal(env.get_observations()["policy"], before)
        assert torch.equal(env.episode_length_buf, torch.zeros(2, dtype=torch.long))
