"""Pendulum: Gymnasium Pendulum-v1 dynamics and reward, and its episode rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stride.env.tasks import Pendulum
from stride.env.tasks.pendulum import angle_normalize

NUM_SAMPLES = 512

_classic = pytest.importorskip("gymnasium.envs.classic_control")
PendulumEnv = _classic.PendulumEnv
gym_angle_normalize = pytest.importorskip("gymnasium.envs.classic_control.pendulum").angle_normalize


class TestMatchesGymnasium:
    """One step of Pendulum equals Gymnasium's own PendulumEnv.step to 1e-5 (state, obs and reward)."""

    def test_one_step_against_gymnasium(self) -> None:
        gen = torch.Generator().manual_seed(321)
        # unwrapped angles (several turns) and speeds up to the limit, so the clip on theta_dot is exercised
        theta = 3 * math.pi * (2 * torch.rand(NUM_SAMPLES, generator=gen) - 1)
        theta_dot = 8.0 * (2 * torch.rand(NUM_SAMPLES, generator=gen) - 1)
        states = torch.stack((theta, theta_dot), dim=-1)
        actions = -1.5 + 3.0 * torch.rand(NUM_SAMPLES, 1, generator=gen)
        actions[:5, 0] = torch.tensor([0.0, 1.0, -1.0, 3.0, -3.0])

        task = Pendulum(num_envs=NUM_SAMPLES, seed=0)
        task.state.copy_(states)
        _, rewards, dones, extras = task.step(actions)
        next_obs = extras["final_obs"]["policy"]

        ref_state = np.zeros((NUM_SAMPLES, 2))
        ref_obs = np.zeros((NUM_SAMPLES, 3), dtype=np.float32)
        ref_reward = np.zeros(NUM_SAMPLES)
        env = PendulumEnv()
        for i in range(NUM_SAMPLES):
            env.reset(seed=i)
            env.state = states[i].double().numpy().copy()
            # Gymnasium takes the torque in N·m and clips it to [-2, 2]
            obs, reward, term, trunc, _ = env.step(np.array([float(actions[i, 0]) * 2.0]))
            ref_state[i], ref_obs[i], ref_reward[i] = env.state, obs, reward
            assert term is False
            assert trunc is False

        assert np.abs(task.state.double().numpy() - ref_state).max() <= 1e-5
        assert np.abs(next_obs.numpy() - ref_obs).max() <= 1e-5
        assert np.abs(rewards.double().numpy() - ref_reward).max() <= 1e-5
        assert not dones.any()
        # the speed clip and the torque clip were both exercised
        assert int((np.abs(ref_state[:, 1]) == 8.0).sum()) >= 10
        assert int((actions.abs() > 1.0).sum()) >= 50

    def test_angle_normalize_matches_gymnasium(self) -> None:
        x = torch.linspace(-25.0, 25.0, 10001, dtype=torch.float64)
        ours = angle_normalize(x).numpy()
        ref = gym_angle_normalize(x.numpy())
        assert np.abs(ours - ref).max() <= 1e-12
        assert ours.min() >= -math.pi
        assert ours.max() < math.pi


class TestInitialState:
    """Initial states: theta ~ U(-pi, pi), theta_dot ~ U(-1, 1); the observation is (cos, sin, theta_dot)."""

    def test_range_and_observation(self) -> None:
        task = Pendulum(num_envs=8192, seed=5)
        theta, theta_dot = task.state.unbind(-1)
        assert theta.min() >= -math.pi
        assert theta.max() <= math.pi
        assert theta.min() < -3.1
        assert theta.max() > 3.1
        assert theta_dot.min() >= -1.0
        assert theta_dot.max() <= 1.0
        assert theta_dot.min() < -0.99
        assert theta_dot.max() > 0.99
        assert abs(float(theta.std()) - math.pi / math.sqrt(3.0)) < 0.03
        obs = task.get_observations()["policy"]
        assert obs.dtype == torch.float32
        assert obs.shape == (8192, 3)
        expected = torch.stack((theta.cos(), theta.sin(), theta_dot), dim=-1)
        assert torch.equal(obs, expected)


class TestEpisodeRules:
    """Pendulum never terminates; every env times out at exactly step 200 and 400."""

    def test_time_limit_200(self) -> None:
        num_envs = 8
        task = Pendulum(num_envs=num_envs, seed=9)
        assert task.max_episode_length == 200
        gen = torch.Generator().manual_seed(0)
        returns = torch.zeros(num_envs)
        for step in range(1, 401):
            actions = 2 * torch.rand(num_envs, 1, generator=gen) - 1
            _, rewards, dones, extras = task.step(actions)
            returns += rewards
            assert (rewards <= 0).all()
            assert torch.equal(dones, extras["time_outs"])
            if step % 200 == 0:
                assert dones.all(), step
                assert torch.equal(extras["episode"]["length"], torch.full((num_envs,), 200.0))
                assert torch.equal(extras["episode"]["return"], returns)
                assert (task.episode_length_buf == 0).all()
                returns.zero_()
            else:
                assert not dones.any(), step
                assert extras["episode"]["return"].numel() == 0
                assert (task.episode_length_buf == step % 200).all()
