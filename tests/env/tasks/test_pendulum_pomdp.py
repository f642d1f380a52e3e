"""pendulum-pomdp and pendulum-noisy: pendulum's physics and reward unchanged, the documented views of the state,
the sensor-noise statistics, and scripted controllers showing what memory buys."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from stride.env.tasks import Pendulum, PendulumNoisy, PendulumPOMDP, make_task
from stride.env.tasks.pendulum import angle_normalize
from stride.utils.errors import ConfigError


def _actions(gen: torch.Generator, n: int) -> torch.Tensor:
    """Uniform actions in [-1.2, 1.2] (some get clipped). Shape: (n, 1)."""
    return 2.4 * torch.rand(n, 1, generator=gen) - 1.2


def _swing_up(theta: torch.Tensor, theta_dot: torch.Tensor) -> torch.Tensor:
    """Energy-pumping swing-up, PD balance within 0.5 rad of upright. Shape: (num_envs, 1)."""
    theta = angle_normalize(theta)
    # θ̈ = 15 sin θ + 3u, so E = θ̇²/2 + 15 (cos θ − 1) is 0 upright at rest and dE/dt = 3uθ̇
    energy = 0.5 * theta_dot.square() + 15.0 * (torch.cos(theta) - 1.0)
    torque = torch.where(theta.abs() < 0.5, -(10.0 * theta + 2.0 * theta_dot), -energy * theta_dot)
    return (torque / 2.0).clamp(-1.0, 1.0).unsqueeze(-1)


def _controller_return(task: Any, velocity: str, group: str = "policy") -> torch.Tensor:
    """Mean return of the first 200-step episode under the swing-up controller with θ̇ from ``velocity``."""
    n = task.num_envs
    obs = task.get_observations()[group]
    previous = None
    total = torch.zeros(n)
    for _ in range(200):
        theta = torch.atan2(obs[:, 1], obs[:, 0])
        if velocity == "observed":
            theta_dot = obs[:, 2]
        elif velocity == "difference" and previous is not None:
            # semi-implicit Euler: θ_t = θ_{t−1} + θ̇_t·dt, so one frame of memory recovers θ̇ exactly
            theta_dot = angle_normalize(theta - previous) / 0.05
        else:  # "blind", and the first frame of "difference"
            theta_dot = torch.zeros(n)
        previous = theta
        next_obs, rewards, _, _ = task.step(_swing_up(theta, theta_dot))
        total += rewards
        obs = next_obs[group]
    return total.mean()


class TestSamePhysicsAsPendulum:
    """Same seed and actions: the state, rewards and dones equal pendulum's bit for bit; the views are exact."""

    def test_pomdp_equals_pendulum(self) -> None:
        full = Pendulum(num_envs=16, seed=4, max_episode_length=30)
        pomdp = PendulumPOMDP(num_envs=16, seed=4, max_episode_length=30)
        assert torch.equal(pomdp.get_observations()["policy"], full.get_observations()["policy"][:, :2])
        gen = torch.Generator().manual_seed(0)
        for _ in range(100):  # with resets: noise-free, the generator draws the same initial states
            actions = _actions(gen, 16)
            obs_f, rew_f, done_f, ext_f = full.step(actions)
            obs_p, rew_p, done_p, ext_p = pomdp.step(actions)
            assert torch.equal(pomdp.state, full.state)
            assert torch.equal(rew_p, rew_f) and torch.equal(done_p, done_f)
            assert torch.equal(ext_p["time_outs"], ext_f["time_outs"])
            assert torch.equal(obs_p["policy"], obs_f["policy"][:, :2])
            assert list(obs_p.keys()) == ["policy"]

    def test_noisy_teacher_is_pendulum(self) -> None:
        full, noisy = Pendulum(num_envs=16, seed=5), PendulumNoisy(num_envs=16, seed=5)
        assert torch.equal(noisy.get_observations()["teacher"], full.get_observations()["policy"])
        gen = torch.Generator().manual_seed(1)
        for _ in range(199):  # before the first reset the noise draws cannot shift the initial states
            actions = _actions(gen, 16)
            obs_f, rew_f, _, _ = full.step(actions)
            obs_n, rew_n, _, _ = noisy.step(actions)
            assert torch.equal(rew_n, rew_f)
            assert torch.equal(obs_n["teacher"], obs_f["policy"])
            assert torch.equal(obs_n["policy"], obs_f["policy"][:, :2] + noisy.obs_noise)


class TestSensorNoise:
    """policy − (cos θ, sin θ) is N(0, σ²) per entry, fresh every step (uncorrelated in time and across entries)."""

    @pytest.mark.parametrize(
        ("name", "kwargs", "sigma"), [("pendulum-noisy", {}, 0.005), ("pendulum-pomdp", {"obs_noise_std": 0.2}, 0.2)]
    )
    def test_statistics(self, name: str, kwargs: dict[str, Any], sigma: float) -> None:
        task = make_task(name, num_envs=2048, seed=6, **kwargs)
        assert isinstance(task, PendulumPOMDP)
        assert task.cfg["obs_noise_std"] == sigma
        gen = torch.Generator().manual_seed(2)
        errors = []
        for _ in range(10):
            obs, *_ = task.step(_actions(gen, 2048))
            theta = task.state[:, 0]
            errors.append(obs["policy"] - torch.stack((theta.cos(), theta.sin()), dim=-1))
        noise = torch.stack(errors)  # (10, 2048, 2)
        assert abs(float(noise.mean())) <= 0.03 * sigma  # 6 standard errors
        assert abs(float(noise.std()) / sigma - 1.0) <= 0.02
        lag = torch.corrcoef(torch.stack((noise[1:].flatten(), noise[:-1].flatten())))[0, 1]
        cross = torch.corrcoef(torch.stack((noise[..., 0].flatten(), noise[..., 1].flatten())))[0, 1]
        assert abs(float(lag)) <= 0.02 and abs(float(cross)) <= 0.02

    def test_noise_free_pomdp_draws_nothing(self) -> None:
        # without noise the generator advances exactly as pendulum's (reset draws only), so the streams coincide
        task, full = PendulumPOMDP(num_envs=8, seed=0), Pendulum(num_envs=8, seed=0)
        assert task.obs_noise_std == 0.0
        for _ in range(20):
            task.step(torch.zeros(8, 1))
            full.step(torch.zeros(8, 1))
        assert torch.equal(task.generator.get_state(), full.generator.get_state())
        assert torch.equal(task.obs_noise, torch.zeros(8, 2))
        noisy, full = PendulumPOMDP(num_envs=8, seed=0, obs_noise_std=0.01), Pendulum(num_envs=8, seed=0)
        noisy.step(torch.zeros(8, 1))
        full.step(torch.zeros(8, 1))
        assert not torch.equal(noisy.generator.get_state(), full.generator.get_state())

    @pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), True, "0.1"])
    def test_bad_noise_rejected(self, bad: Any) -> None:
        with pytest.raises(ConfigError, match="obs_noise_std"):
            make_task("pendulum-noisy", num_envs=2, obs_noise_std=bad)


class TestScriptedControllers:
    """An energy swing-up controller solves pendulum (return ≥ −200) from the full state; fed θ̇ from one frame of
    memory it does as well on pendulum-pomdp, and without θ̇ it fails."""

    def test_memory_recovers_full_state_performance(self) -> None:
        full = float(_controller_return(Pendulum(num_envs=256, seed=7), "observed"))
        teacher = float(_controller_return(PendulumNoisy(num_envs=256, seed=7), "observed", group="teacher"))
        memory = float(_controller_return(PendulumPOMDP(num_envs=256, seed=7), "difference"))
        blind = float(_controller_return(PendulumPOMDP(num_envs=256, seed=7), "blind"))
        # measured: full = teacher −153.6, one-frame memory −153.9, blind −1,170
        assert abs(full - (-153.6)) <= 1.0
        assert teacher == full
        assert memory >= -200.0 and abs(memory - full) <= 2.0
        assert blind <= -1000.0
