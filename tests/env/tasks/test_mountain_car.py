"""Mountain car: Gymnasium MountainCarContinuous-v0 dynamics and reward, and its episode rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stride.env.checker import check_env
from stride.env.tasks import MountainCar, make_task

NUM_SAMPLES = 1024

_classic = pytest.importorskip("gymnasium.envs.classic_control")
Continuous_MountainCarEnv = _classic.Continuous_MountainCarEnv


def _bang_bang(obs: torch.Tensor) -> torch.Tensor:
    """Push along the velocity (right when standing): pumps energy and reaches the goal. Shape: (N, 1)."""
    return torch.where(obs[:, 1:2] < 0, -1.0, 1.0)


class TestMatchesGymnasium:
    """One step equals Gymnasium's Continuous_MountainCarEnv.step to 1e-5 on 1,024 random states × actions."""

    def test_one_step_against_gymnasium(self) -> None:
        gen = torch.Generator().manual_seed(123)
        position = -1.2 + 1.8 * torch.rand(NUM_SAMPLES, generator=gen)
        velocity = -0.07 + 0.14 * torch.rand(NUM_SAMPLES, generator=gen)
        actions = -1.5 + 3.0 * torch.rand(NUM_SAMPLES, 1, generator=gen)
        # the wall (left end, moving left), the speed limit, the goal from both sides, and exact actions
        position[:8] = torch.tensor([-1.2, -1.19, -1.2, 0.44, 0.449, 0.45, 0.6, 0.59])
        velocity[:8] = torch.tensor([-0.07, -0.05, 0.0, 0.02, -0.0005, 0.0, 0.07, -0.01])
        actions[:8, 0] = torch.tensor([-1.0, -1.0, 0.0, 1.0, 1.0, 0.0, 1.0, -2.0])
        states = torch.stack((position, velocity), dim=-1)

        task = MountainCar(num_envs=NUM_SAMPLES, seed=0)
        task.state.copy_(states)
        _, rewards, dones, extras = task.step(actions)
        next_state = extras["final_obs"]["policy"]  # the observation is the state, before any reset
        terminated = dones & ~extras["time_outs"]

        ref_state = np.zeros((NUM_SAMPLES, 2))
        ref_reward = np.zeros(NUM_SAMPLES)
        ref_terminated = np.zeros(NUM_SAMPLES, dtype=bool)
        env = Continuous_MountainCarEnv()
        env.reset(seed=0)
        for i in range(NUM_SAMPLES):
            env.state = states[i].numpy().copy()
            obs, _, term, trunc, _ = env.step(actions[i].numpy().copy())
            ref_state[i], ref_terminated[i] = obs, term
            assert trunc is False
            # stride's action cost uses the clamped action (Gymnasium's uses the raw one): same step, clamped input
            env.state = states[i].numpy().copy()
            _, ref_reward[i], _, _, _ = env.step(np.clip(actions[i].numpy(), -1.0, 1.0))

        assert np.abs(next_state.double().numpy() - ref_state).max() <= 1e-5
        assert np.abs(rewards.double().numpy() - ref_reward).max() <= 1e-5
        assert np.array_equal(terminated.numpy(), ref_terminated)
        # not vacuous: the wall, the speed clip, the force clamp and the goal were all exercised
        assert ref_state[0, 0] == np.float32(-1.2) and ref_state[0, 1] == 0.0
        assert int((np.abs(ref_state[:, 1]) >= 0.07 - 1e-7).sum()) >= 1
        assert int((actions.abs() > 1.0).sum()) >= 100
        assert 5 <= int(ref_terminated.sum()) < NUM_SAMPLES // 2
        assert float(rewards.max()) > 99.0


class TestInitialState:
    """Initial states: position ~ U(-0.6, -0.4), velocity 0; the observation is (position, velocity)."""

    def test_range_and_observation(self) -> None:
        task = MountainCar(num_envs=4096, seed=5)
        position, velocity = task.state.unbind(-1)
        assert float(position.min()) >= -0.6
        assert float(position.max()) <= -0.4
        assert float(position.min()) < -0.599
        assert float(position.max()) > -0.401
        assert torch.equal(velocity, torch.zeros(4096))
        obs = task.get_observations()["policy"]
        assert obs.dtype == torch.float32
        assert obs.shape == (4096, 2)
        assert torch.equal(obs, task.state)


class TestEpisodeRules:
    """Doing nothing never reaches the goal and times out at exactly 999 steps; pumping energy reaches it."""

    def test_idle_car_times_out_at_999(self) -> None:
        task = make_task("mountain-car", num_envs=4, seed=1)
        assert task.max_episode_length == 999
        zero = torch.zeros(4, 1)
        for step in range(1, 1000):
            _, rewards, dones, extras = task.step(zero)
            assert torch.equal(rewards, torch.zeros(4))
            if step < 999:
                assert not dones.any(), step
        assert dones.all()
        assert extras["time_outs"].all()
        assert torch.equal(extras["episode"]["length"], torch.full((4,), 999.0))

    def test_energy_pumping_reaches_the_goal(self) -> None:
        task = make_task("mountain-car", num_envs=8, seed=2)
        obs = task.get_observations()["policy"]
        lengths = torch.zeros(8)
        returns = torch.zeros(8)
        done_at = torch.zeros(8, dtype=torch.bool)
        for _ in range(400):
            obs_td, rewards, dones, extras = task.step(_bang_bang(obs))
            obs = obs_td["policy"]
            active = ~done_at
            lengths += active.float()
            returns += torch.where(active, rewards, 0.0)
            assert not (dones & extras["time_outs"]).any()
            done_at |= dones
            if done_at.all():
                break
        assert done_at.all()
        # |a| = 1 on every step: return = 100 − 0.1·length
        torch.testing.assert_close(returns, 100.0 - 0.1 * lengths, rtol=0, atol=1e-3)
        assert float(lengths.max()) < 400


class TestContract:
    """The task passes check_env and is registered under 'mountain-car'."""

    def test_check_env_passes(self) -> None:
        report = check_env(make_task("mountain-car", num_envs=16, seed=3))
        assert report.num_actions == 1
