"""memory: the cue/answer schedule step by step, termination (not time-out) at L, optimal return 1 with memory and
chance (0) without."""

from __future__ import annotations

import pytest
import torch

from stride.env.tasks import MemoryCue, make_task
from stride.utils.errors import ConfigError


def _run(task: MemoryCue, policy: str, num_episodes: int) -> tuple[float, int]:
    """Mean return over the first ``num_episodes`` episodes of every env under a scripted policy."""
    n = task.num_envs
    obs = task.get_observations()["policy"]
    memory = torch.zeros(n, 1)
    total, ended = 0.0, 0
    for _ in range(num_episodes * task.episode_length):
        # a policy with memory stores the cue while the clock reads 0
        memory = torch.where(obs[:, 1:2] == 0.0, obs[:, 0:1], memory)
        if policy == "remember":
            actions = 3.0 * memory  # out of range on purpose: clipped to ±1
        elif policy == "constant":
            actions = torch.ones(n, 1)
        elif policy == "phase":
            actions = 2.0 * obs[:, 1:2] - 1.0
        else:  # "echo": answers with whatever the cue entry shows now (0 at the answer step)
            actions = obs[:, 0:1]
        next_obs, rewards, dones, extras = task.step(actions)
        assert not extras["time_outs"].any()
        total += float(rewards.sum())
        ended += int(dones.sum())
        obs = next_obs["policy"]
    assert ended == num_episodes * n
    return total / ended, ended


class TestSchedule:
    """Golden stream for L = 4: cue at t = 0 only, phase t/L, reward c·a at t = 3 only, termination after 4 steps."""

    def test_golden_stream(self) -> None:
        task = MemoryCue(num_envs=3, seed=7, max_episode_length=4)
        assert task.cfg["max_episode_length"] == 4
        first_cue = task.cue.clone()
        assert set(first_cue.tolist()) <= {-1.0, 1.0}
        obs = task.get_observations()["policy"]
        assert torch.equal(obs, torch.stack((first_cue, torch.zeros(3)), dim=-1))
        actions = torch.tensor([[0.5], [-1.0], [2.0]])
        for t in range(1, 4):
            obs, rewards, dones, extras = task.step(actions)
            assert torch.equal(obs["policy"], torch.tensor([[0.0, t / 4]] * 3))
            assert torch.equal(rewards, torch.zeros(3))
            assert not dones.any()
        obs, rewards, dones, extras = task.step(actions)
        # r = c · clip(a, -1, 1) at the answer step
        assert torch.equal(rewards, first_cue * torch.tensor([0.5, -1.0, 1.0]))
        assert dones.all()
        assert not extras["time_outs"].any()
        assert torch.equal(extras["final_obs"]["policy"], torch.tensor([[0.0, 1.0]] * 3))
        assert torch.equal(extras["episode"]["length"], torch.full((3,), 4.0))
        assert torch.equal(extras["episode"]["return"], rewards)
        # the next episode shows its own cue at t = 0
        assert torch.equal(obs["policy"], torch.stack((task.cue, torch.zeros(3)), dim=-1))
        assert torch.equal(task.clock, torch.zeros(3, dtype=torch.long))

    def test_cues_balanced_and_redrawn(self) -> None:
        task = MemoryCue(num_envs=4096, seed=1, max_episode_length=2)
        cues = [task.cue.clone()]
        for _ in range(3):
            task.step(torch.zeros(4096, 1))
            task.step(torch.zeros(4096, 1))
            cues.append(task.cue.clone())
        stacked = torch.stack(cues)
        assert abs(float((stacked > 0).float().mean()) - 0.5) <= 0.01
        # consecutive episodes of one env draw independent cues: they agree about half the time
        assert abs(float((stacked[1:] == stacked[:-1]).float().mean()) - 0.5) <= 0.02

    def test_default_length_and_bad_lengths(self) -> None:
        assert make_task("memory", num_envs=2).max_episode_length == 12
        assert MemoryCue(num_envs=2, max_episode_length=2).episode_length == 2
        for bad in (1, 0, -4):
            with pytest.raises(ConfigError, match="max_episode_length"):
                MemoryCue(num_envs=2, max_episode_length=bad)


class TestOptimalAndChance:
    """Remembering the cue earns exactly 1 per episode; memoryless policies earn chance (0) because the answer-step
    observation is the same whatever the cue."""

    def test_memory_policy_is_optimal(self) -> None:
        mean, ended = _run(MemoryCue(num_envs=512, seed=3), "remember", num_episodes=3)
        assert ended == 1536
        assert mean == 1.0

    def test_answer_step_observation_carries_no_cue(self) -> None:
        task = MemoryCue(num_envs=1024, seed=4, max_episode_length=6)
        for _ in range(5):
            obs, *_ = task.step(torch.zeros(1024, 1))
        assert torch.equal(obs["policy"], torch.tensor([[0.0, 5 / 6]]).expand(1024, 2))
        assert 0 < int((task.cue > 0).sum()) < 1024  # both cues present behind the identical observations

    @pytest.mark.parametrize("policy", ["constant", "phase", "echo"])
    def test_memoryless_policies_at_chance(self, policy: str) -> None:
        mean, ended = _run(MemoryCue(num_envs=2048, seed=5), policy, num_episodes=4)
        # 8192 episodes of ±a: the standard error of the mean is at most 1/sqrt(8192) = 0.011
        assert ended == 8192
        assert abs(mean) <= 0.05


class TestRandomEpisodeStarts:
    """A runner's random episode_length_buf only truncates the first episodes (time_outs, bootstrapped); the cue
    and the answer follow the task's own clock."""

    def test_randomized_episode_length_buf(self) -> None:
        task = MemoryCue(num_envs=64, seed=6, max_episode_length=8)
        start = torch.randint(0, 8, (64,), generator=torch.Generator().manual_seed(0))
        task.episode_length_buf = start.clone()
        truncated = torch.zeros(64, dtype=torch.bool)
        for step in range(1, 8 + 1):
            obs, rewards, dones, extras = task.step(task.cue.unsqueeze(-1))
            time_outs = extras["time_outs"]
            # truncated exactly when the shifted counter reaches 8, never at the answer step (which terminates)
            assert torch.equal(time_outs, (start + step == 8) & (step < 8))
            assert torch.equal(dones, time_outs | ((start == 0) & (step == 8)))
            assert torch.equal(rewards, torch.full((64,), float(step == 8)) * ~truncated)
            truncated |= time_outs
            fresh = dones.nonzero().squeeze(-1)
            assert torch.equal(obs["policy"][fresh, 1], torch.zeros(fresh.numel()))
            assert bool((obs["policy"][fresh, 0].abs() == 1.0).all())
        assert int(truncated.sum()) == int((start > 0).sum())
