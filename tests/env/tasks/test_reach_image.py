"""reach-image: rendering, kinematics and reward golden numbers, Markov frames, and the optimal vs blind returns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stride.env.tasks import ReachImage, make_task
from stride.utils.errors import ConfigError


def _set(task: ReachImage, agent: list[list[float]], target: list[list[float]]) -> None:
    """Put the task into the given state (and refresh its current observation)."""
    task.agent_pos.copy_(torch.tensor(agent))
    task.target_pos.copy_(torch.tensor(target))
    task._obs = task._observe()


def _episode_returns(task: ReachImage, policy: str, gen: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Return, reached flag and length of the first episode of every env under a policy of the true state."""
    n = task.num_envs
    returns, lengths = torch.zeros(n), torch.zeros(n)
    reached, ended = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    for _ in range(int(task.max_episode_length)):
        if policy == "optimal":
            actions = task.optimal_actions()
        elif policy == "zero":
            actions = torch.zeros(n, 2)
        elif policy == "centre":  # blind: the best it can do without seeing the target is to wait in the middle
            actions = ((0.5 - task.agent_pos) / task.max_speed).clamp(-1.0, 1.0)
        elif policy == "noisy-optimal":
            assert gen is not None
            actions = task.optimal_actions() + 0.5 * torch.randn(n, 2, generator=gen)
        else:
            assert gen is not None
            actions = 2 * torch.rand(n, 2, generator=gen) - 1
        _, rewards, dones, extras = task.step(actions)
        returns += torch.where(ended, 0.0, rewards)
        lengths += (~ended).float()
        reached |= dones & ~extras["time_outs"] & ~ended
        ended |= dones
    assert ended.all()
    return returns, reached, lengths


class TestRendering:
    """The image is agent_intensity·blob(p) + target_intensity·blob(g) at the pixel centres, to 1e-6."""

    def test_against_direct_formula(self) -> None:
        task = ReachImage(num_envs=3, seed=0)
        agent = [[0.5, 0.25], [0.03, 0.97], [0.4, 0.4]]
        target = [[0.2, 0.8], [0.9, 0.1], [0.41, 0.42]]
        _set(task, agent, target)
        image = task.get_observations()["policy"]
        assert image.shape == (3, 1, 32, 32)
        assert image.dtype == torch.float32
        sigma = 1.5 / 32
        centres = (np.arange(32) + 0.5) / 32
        x, y = np.meshgrid(centres, centres, indexing="xy")  # x varies along columns, y along rows
        for k in range(3):
            ref = 1.0 * np.exp(-((x - agent[k][0]) ** 2 + (y - agent[k][1]) ** 2) / (2 * sigma**2))
            ref += 0.5 * np.exp(-((x - target[k][0]) ** 2 + (y - target[k][1]) ** 2) / (2 * sigma**2))
            assert np.abs(image[k, 0].double().numpy() - ref).max() <= 1e-6
        # golden pixels: agent (0.5, 0.25) sits on the corner of pixels (row 7/8, column 15/16)
        corner = math.exp(-2 * (0.5 / 1.5) ** 2 / 2)
        assert abs(float(image[0, 0, 7, 15]) - corner) <= 1e-6
        assert abs(float(image[0, 0, 8, 16]) - corner) <= 1e-6
        assert float(image.max()) <= 1.5
        assert float(image.min()) >= 0.0

    def test_single_frame_holds_the_state(self) -> None:
        # a frame is Markov: both positions are read back from one image (centroid of a 5x5 window around each
        # peak) to within a third of a pixel whenever the blobs are apart
        task = ReachImage(num_envs=2048, seed=8)
        image = task.get_observations()["policy"][:, 0]
        num = image.shape[0]
        centres = (torch.arange(32) + 0.5) / 32
        rows = torch.arange(num)[:, None, None]

        def centroid(peak: torch.Tensor) -> torch.Tensor:
            ii = (peak // 32)[:, None] + torch.arange(-2, 3)
            jj = (peak % 32)[:, None] + torch.arange(-2, 3)
            ii, jj = ii.clamp(0, 31), jj.clamp(0, 31)
            window = image[rows, ii[:, :, None], jj[:, None, :]]
            weights = window / window.sum((1, 2), keepdim=True)
            return torch.stack(((weights.sum(1) * centres[jj]).sum(1), (weights.sum(2) * centres[ii]).sum(1)), -1)

        agent_peak = image.reshape(num, -1).argmax(1)
        ii, jj = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
        near_agent = ((ii - (agent_peak // 32)[:, None, None]).abs() <= 4) & (
            (jj - (agent_peak % 32)[:, None, None]).abs() <= 4
        )
        target_peak = image.masked_fill(near_agent, -1.0).reshape(num, -1).argmax(1)
        apart = torch.linalg.vector_norm(task.agent_pos - task.target_pos, dim=-1) > 0.3
        assert int(apart.sum()) >= 1000
        for peak, truth in ((agent_peak, task.agent_pos), (target_peak, task.target_pos)):
            error = (centroid(peak) - truth).abs().max(-1).values[apart]
            assert float(error.max()) <= 0.01


class TestDynamicsAndReward:
    """p ← clip(p + 0.05·a, 0, 1); r = −‖p − g‖ (+1 and termination within 0.05 of g): golden values."""

    def test_golden_steps(self) -> None:
        task = ReachImage(num_envs=3, seed=0)
        _set(task, [[0.5, 0.5], [0.99, 0.02], [0.3, 0.3]], [[0.6, 0.5], [0.5, 0.5], [0.3, 0.3]])
        _, rewards, dones, extras = task.step(torch.tensor([[1.0, 0.5], [3.0, -3.0], [0.0, 0.0]]))
        assert torch.allclose(task.agent_pos[:2], torch.tensor([[0.55, 0.525], [1.0, 0.0]]), atol=1e-7)
        expected = [-math.hypot(0.05, 0.025), -math.hypot(0.5, 0.5), 1.0]
        assert torch.allclose(rewards, torch.tensor(expected), atol=1e-6)
        assert dones.tolist() == [False, False, True]
        assert not extras["time_outs"].any()
        _, rewards, dones, extras = task.step(torch.tensor([[1.0, -0.5], [-1.0, 1.0], [0.0, 0.0]]))
        # env 0 lands exactly on the target: bonus 1.0 and termination
        assert abs(float(rewards[0]) - 1.0) <= 1e-6
        assert abs(float(rewards[1]) + math.hypot(0.45, 0.45)) <= 1e-6
        assert dones.tolist()[:2] == [True, False]
        assert not extras["time_outs"].any()
        # final frame of env 0: both blobs at (0.6, 0.5) = pixel coordinates (19.2, 16.0); brightest pixel is
        # column 19 (centre 19.5), row 15 or 16 (centres 15.5, 16.5): 1.5·exp(−(0.3² + 0.5²) / (2·1.5²))
        peak = 1.5 * math.exp(-(0.3**2 + 0.5**2) / (2 * 1.5**2))
        assert abs(float(extras["final_obs"]["policy"][0, 0].max()) - peak) <= 1e-5
        assert abs(float(extras["final_obs"]["policy"][0, 0, 16, 19]) - peak) <= 1e-5

    def test_initial_positions(self) -> None:
        task = ReachImage(num_envs=8192, seed=2)
        for pos in (task.agent_pos, task.target_pos):
            assert float(pos.min()) >= 0.1
            assert float(pos.max()) <= 0.9
            assert abs(float(pos.mean()) - 0.5) <= 0.01
        assert abs(float(torch.corrcoef(torch.cat((task.agent_pos, task.target_pos), 1).T)[0, 2])) <= 0.05

    def test_time_limit_50(self) -> None:
        # standing still, an env ends early only if it started on its target (terminated, with the bonus)
        task = make_task("reach-image", num_envs=256, seed=4)
        assert isinstance(task, ReachImage)
        assert task.max_episode_length == 50
        start_on_target = torch.linalg.vector_norm(task.agent_pos - task.target_pos, dim=-1) <= 0.05
        ended_before = torch.zeros(256, dtype=torch.bool)
        for step in range(1, 51):
            _, rewards, dones, extras = task.step(torch.zeros(256, 2))
            if step == 1:
                assert torch.equal(dones, start_on_target)
                assert bool((rewards[dones] > 0.9).all())
            if step < 50:
                assert not extras["time_outs"].any()
                ended_before |= dones
        assert torch.equal(extras["time_outs"], ~ended_before)
        assert torch.equal(extras["episode"]["length"], torch.full((int((~ended_before).sum()),), 50.0))
        assert 1 <= int(start_on_target.sum()) <= 10


class TestReturns:
    """The greedy policy is optimal (closed-form return, beats 31 perturbed policies per start state); blind
    policies stay far below it."""

    def test_greedy_matches_closed_form(self) -> None:
        task = ReachImage(num_envs=1024, seed=3)
        gap = (task.target_pos - task.agent_pos).abs()
        returns, reached, lengths = _episode_returns(task, "optimal")
        # after k steps the per-axis gap is max(|Δ| − 0.05 k, 0): d_k = ‖that‖, episode ends at the first d_k ≤ 0.05
        ks = torch.arange(1, 51, dtype=torch.float32)
        d = torch.linalg.vector_norm((gap[:, None, :] - 0.05 * ks[None, :, None]).clamp_min(0.0), dim=-1)
        first = (d <= 0.05).float().argmax(1)
        upto = ks[None, :] <= (first[:, None] + 1).float()
        expected = -(d * upto).sum(1) + 1.0
        assert reached.all()
        assert torch.equal(lengths, first.float() + 1)
        assert float((returns - expected).abs().max()) <= 1e-4
        # golden mean over these 1024 start states
        assert abs(float(returns.mean()) - (-0.6460)) <= 1e-3
        assert float(lengths.max()) <= 16

    def test_greedy_beats_perturbed_policies(self) -> None:
        copies = 32
        base = ReachImage(num_envs=16, seed=6)
        task = ReachImage(num_envs=16 * copies, seed=0)
        _set(task, base.agent_pos.repeat(copies, 1).tolist(), base.target_pos.repeat(copies, 1).tolist())
        greedy, _, _ = _episode_returns(_clone(task, 16), "optimal")
        gen = torch.Generator().manual_seed(1)
        noisy, _, _ = _episode_returns(task, "noisy-optimal", gen)
        best_other = noisy.view(copies, 16).max(0).values
        assert bool((greedy >= best_other - 1e-5).all())
        assert float((greedy - noisy.view(copies, 16).mean(0)).min()) > 0.0

    def test_blind_policies_far_below_optimum(self) -> None:
        gen = torch.Generator().manual_seed(2)
        means = {}
        for policy in ("optimal", "zero", "centre", "random"):
            returns, _, _ = _episode_returns(ReachImage(num_envs=512, seed=3), policy, gen)
            means[policy] = float(returns.mean())
        assert means["optimal"] > -0.7
        assert max(means["zero"], means["centre"], means["random"]) < -14.0  # measured -20.6, -14.8, -20.9


def _clone(task: ReachImage, num_envs: int) -> ReachImage:
    """A task holding the first ``num_envs`` states of ``task``."""
    out = ReachImage(num_envs=num_envs, seed=0)
    _set(out, task.agent_pos[:num_envs].tolist(), task.target_pos[:num_envs].tolist())
    return out


@pytest.mark.parametrize("bad", [0, -3])
def test_bad_horizon_rejected(bad: int) -> None:
    """A non-positive time limit is a ConfigError (BatchedTask's check)."""
    with pytest.raises(ConfigError, match="max_episode_length"):
        ReachImage(num_envs=2, max_episode_length=bad)
