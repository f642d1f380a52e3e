"""CartPole: Gymnasium CartPole-v1 dynamics with a continuous force, and its episode rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stride.env.tasks import CartPole

NUM_SAMPLES = 512

CartPoleEnv = pytest.importorskip("gymnasium.envs.classic_control").CartPoleEnv


def _balance(obs: torch.Tensor) -> torch.Tensor:
    """A linear state-feedback controller that keeps every start state of CartPole up for 1000+ steps."""
    gains = torch.tensor([0.1, 0.15, 2.0, 0.3])
    return (obs @ gains).unsqueeze(-1)


class TestMatchesGymnasium:
    """One step of CartPole equals Gymnasium's own CartPoleEnv.step to 1e-5 with identical termination flags."""

    def test_one_step_against_gymnasium(self) -> None:
        gen = torch.Generator().manual_seed(123)
        low = torch.tensor([-2.5, -3.0, -0.25, -3.0])
        high = -low
        states = low + (high - low) * torch.rand(NUM_SAMPLES, 4, generator=gen)
        actions = -1.3 + 2.6 * torch.rand(NUM_SAMPLES, 1, generator=gen)
        # exact corners: no force, full force both ways, and out-of-range actions that must be clipped
        actions[:8, 0] = torch.tensor([0.0, 1.0, -1.0, 2.0, -2.0, 1.5, -0.5, 0.5])

        task = CartPole(num_envs=NUM_SAMPLES, seed=0)
        task.state.copy_(states)
        _, rewards, dones, extras = task.step(actions)
        next_obs = extras["final_obs"]["policy"]
        terminated = dones & ~extras["time_outs"]

        ref_state = np.zeros((NUM_SAMPLES, 4))
        ref_obs = np.zeros((NUM_SAMPLES, 4), dtype=np.float32)
        ref_reward = np.zeros(NUM_SAMPLES)
        ref_terminated = np.zeros(NUM_SAMPLES, dtype=bool)
        env = CartPoleEnv()
        assert env.kinematics_integrator == "euler"
        for i in range(NUM_SAMPLES):
            env.reset(seed=i)
            env.state = states[i].double().numpy().copy()
            # Gymnasium applies +force_mag for action 1: a signed force_mag reproduces the continuous push
            env.force_mag = float(actions[i, 0].clamp(-1.0, 1.0)) * 10.0
            obs, reward, term, trunc, _ = env.step(1)
            ref_state[i], ref_obs[i], ref_reward[i], ref_terminated[i] = env.state, obs, reward, term
            assert trunc is False

        assert np.abs(next_obs.numpy() - ref_obs).max() <= 1e-5
        assert np.abs(next_obs.double().numpy() - ref_state).max() <= 1e-5
        assert np.abs(rewards.double().numpy() - ref_reward).max() <= 1e-5
        assert np.array_equal(terminated.numpy(), ref_terminated)
        # both outcomes occur often enough for the flag comparison to mean something
        assert 50 <= int(terminated.sum()) <= NUM_SAMPLES - 50
        # reward is 1.0 on every step, the terminal step included
        assert torch.equal(rewards, torch.ones(NUM_SAMPLES))

    def test_clipped_actions_equal_unit_actions(self) -> None:
        a = CartPole(num_envs=3, seed=4)
        b = CartPole(num_envs=3, seed=4)
        obs_a, *_ = a.step(torch.tensor([[7.0], [-3.0], [0.25]]))
        obs_b, *_ = b.step(torch.tensor([[1.0], [-1.0], [0.25]]))
        assert torch.equal(obs_a["policy"], obs_b["policy"])


class TestInitialState:
    """Initial states are uniform in [-0.05, 0.05]^4, as Gymnasium's reset."""

    def test_range_and_spread(self) -> None:
        obs = CartPole(num_envs=8192, seed=7).get_observations()["policy"]
        assert obs.dtype == torch.float32
        assert obs.shape == (8192, 4)
        assert obs.min() >= -0.05
        assert obs.max() <= 0.05
        assert (obs.amin(0) < -0.049).all()
        assert (obs.amax(0) > 0.049).all()
        # std of U(-a, a) is a / sqrt(3); the sample mean's std is ~3e-4 here
        assert torch.allclose(obs.std(0), torch.full((4,), 0.05 / math.sqrt(3.0)), atol=1e-3)
        assert obs.mean(0).abs().max() < 2e-3


class TestEpisodeRules:
    """Terminations at the bounds, time-outs at exactly step 500 and only where the pole did not also fall."""

    def test_time_limit_500_and_terminations(self) -> None:
        num_envs = 16
        task = CartPole(num_envs=num_envs, seed=2)
        assert task.max_episode_length == 500
        pushed = torch.arange(num_envs) % 2 == 1  # odd envs are pushed right constantly and fall
        obs = task.get_observations()
        steps_in_episode = torch.zeros(num_envs, dtype=torch.long)
        num_terminations = torch.zeros(num_envs, dtype=torch.long)
        for step in range(1, 1001):
            actions = torch.where(pushed.unsqueeze(-1), torch.ones(num_envs, 1), _balance(obs["policy"]))
            obs, _, dones, extras = task.step(actions)
            steps_in_episode += 1
            time_outs = extras["time_outs"]
            terminated = dones & ~time_outs
            last = extras["final_obs"]["policy"]
            out_of_bounds = (last[:, 0].abs() > 2.4) | (last[:, 2].abs() > 12 * 2 * math.pi / 360)
            assert torch.equal(terminated, out_of_bounds), step
            assert torch.equal(time_outs, (steps_in_episode == 500) & ~terminated), step
            assert not (time_outs & pushed).any()
            assert torch.equal(task.episode_length_buf, torch.where(dones, 0, steps_in_episode)), step
            num_terminations += terminated.long()
            steps_in_episode.masked_fill_(dones, 0)
            if step in (500, 1000):
                assert torch.equal(time_outs, ~pushed), step
        assert (num_terminations[~pushed] == 0).all()
        # a constant full push drops the pole in well under 100 steps
        assert (num_terminations[pushed] >= 10).all()

    def test_termination_wins_over_time_out_on_the_same_step(self) -> None:
        task = CartPole(num_envs=2, seed=0)
        # env 0 leaves the track this step (x' = 2.39 + 0.02 * 3 = 2.45); env 1 stays upright at rest
        task.state.copy_(torch.tensor([[2.39, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]))
        task.episode_length_buf.fill_(499)
        _, _, dones, extras = task.step(torch.zeros(2, 1))
        assert dones.tolist() == [True, True]
        assert extras["time_outs"].tolist() == [False, True]
        assert extras["episode"]["length"].tolist() == [500.0, 500.0]

    @pytest.mark.parametrize(
        ("state", "terminated"),
        [
            ([2.4, 0.0, 0.0, 0.0], False),  # exactly on the bound stays alive (strict inequality, as Gymnasium)
            ([2.39, 1.0, 0.0, 0.0], True),
            ([-2.39, -1.0, 0.0, 0.0], True),
            ([0.0, 0.0, 0.2, 0.5], True),
            ([0.0, 0.0, -0.2, -0.5], True),
            ([0.0, 0.0, 0.2, -0.5], False),
        ],
    )
    def test_bounds(self, state: list[float], terminated: bool) -> None:
        task = CartPole(num_envs=1, seed=0)
        task.state.copy_(torch.tensor([state]))
        _, _, dones, extras = task.step(torch.zeros(1, 1))
        assert bool(dones[0]) is terminated
        assert not bool(extras["time_outs"][0])
