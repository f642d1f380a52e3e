"""BatchedTask's episode bookkeeping, exercised through the built-in cartpole and pendulum tasks."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.tasks import BatchedTask, make_task
from stride.utils.errors import ConfigError

TASKS = ["cartpole", "pendulum"]


def _random_actions(gen: torch.Generator, num_envs: int) -> torch.Tensor:
    """Uniform actions in [-1.2, 1.2] (some get clipped). Shape: (num_envs, 1)."""
    return 2.4 * torch.rand(num_envs, 1, generator=gen) - 1.2


def _no_fall_actions(name: str, obs: TensorDict) -> torch.Tensor:
    """Actions under which no episode terminates: a balancing controller on cartpole, anything on pendulum."""
    if name == "cartpole":
        return (obs["policy"] @ torch.tensor([0.1, 0.15, 2.0, 0.3])).unsqueeze(-1)
    return torch.zeros(obs.batch_size[0], 1)


def _twin(task: BatchedTask) -> BatchedTask:
    """An independent task in exactly the same state (seed deliberately different)."""
    twin = type(task)(num_envs=task.num_envs, seed=task.seed + 1000, max_episode_length=int(task.max_episode_length))
    twin.load_state_dict(task.state_dict())
    return twin


def _rollout(task: BatchedTask, num_steps: int, action_seed: int) -> list[Any]:
    """Step ``task`` with seeded random actions and collect every returned tensor."""
    gen = torch.Generator().manual_seed(action_seed)
    out: list[Any] = [task.get_observations()["policy"]]
    for _ in range(num_steps):
        obs, rewards, dones, extras = task.step(_random_actions(gen, task.num_envs))
        out += [obs["policy"], rewards, dones, extras["time_outs"], extras["final_obs"]["policy"]]
        out += [extras["episode"]["return"], extras["episode"]["length"]]
    return out


@pytest.mark.parametrize("name", TASKS)
class TestContract:
    """Returned tensors have the VecEnv shapes and dtypes, and returned observations are never mutated later."""

    def test_shapes_and_dtypes(self, name: str) -> None:
        task = make_task(name, num_envs=5, seed=0)
        size = task.observation_sizes["policy"]
        obs = task.get_observations()
        assert isinstance(obs, TensorDict)
        assert obs.batch_size == torch.Size([5])
        assert obs["policy"].shape == (5, size)
        assert obs["policy"].dtype == torch.float32
        assert task.num_actions == 1
        assert task.episode_length_buf.dtype == torch.long
        obs, rewards, dones, extras = task.step(torch.zeros(5, 1))
        assert obs["policy"].shape == (5, size)
        assert obs["policy"].dtype == torch.float32
        assert rewards.shape == (5,)
        assert rewards.dtype == torch.float32
        assert dones.shape == (5,)
        assert dones.dtype == torch.bool
        assert extras["time_outs"].shape == (5,)
        assert extras["time_outs"].dtype == torch.bool
        assert extras["final_obs"]["policy"].shape == (5, size)

    def test_returned_tensors_are_not_aliased(self, name: str) -> None:
        task = make_task(name, num_envs=4, seed=1)
        first = task.get_observations()
        first_copy = first.clone()
        obs, rewards, _, extras = task.step(torch.ones(4, 1))
        kept = (obs.clone(), rewards.clone(), extras["final_obs"].clone())
        for _ in range(5):
            task.step(-torch.ones(4, 1))
        assert torch.equal(first["policy"], first_copy["policy"])
        assert torch.equal(obs["policy"], kept[0]["policy"])
        assert torch.equal(rewards, kept[1])
        assert torch.equal(extras["final_obs"]["policy"], kept[2]["policy"])
        # and the obs did change, so the comparison above is not vacuous
        assert not torch.equal(task.get_observations()["policy"], kept[0]["policy"])

    def test_bad_constructor_arguments(self, name: str) -> None:
        cases: list[dict[str, Any]] = [
            {"num_envs": 0},
            {"num_envs": 2.0},
            {"num_envs": True},
            {"max_episode_length": 0},
        ]
        for kwargs in cases:
            with pytest.raises(ConfigError):
                make_task(name, **kwargs)


@pytest.mark.parametrize("name", TASKS)
class TestSameStepReset:
    """A done env returns a fresh initial state; final_obs is the obs it would have shown before the reset."""

    def test_against_physics_replay(self, name: str) -> None:
        # a short pendulum time limit so that pendulum resets happen too
        task = make_task(name, num_envs=32, seed=3, max_episode_length=500 if name == "cartpole" else 13)
        gen = torch.Generator().manual_seed(0)
        total_dones = 0
        for _ in range(60):
            actions = _random_actions(gen, task.num_envs)
            # replay: the physics alone from the same state, then the initial states the same generator draws
            twin = _twin(task)
            twin._physics(actions.clamp(-1.0, 1.0))
            expected_final = twin._observe()["policy"]
            twin._set_state(twin._sample_initial_state(), torch.ones(task.num_envs, dtype=torch.bool))
            expected_fresh = twin._observe()["policy"]

            obs, _, dones, extras = task.step(actions)
            assert torch.equal(extras["final_obs"]["policy"], expected_final)
            assert torch.equal(obs["policy"][dones], expected_fresh[dones])
            assert torch.equal(obs["policy"][~dones], expected_final[~dones])
            total_dones += int(dones.sum())
        assert total_dones >= 50

    def test_fresh_state_is_an_initial_state(self, name: str) -> None:
        task = make_task(name, num_envs=64, seed=4, max_episode_length=500 if name == "cartpole" else 5)
        gen = torch.Generator().manual_seed(1)
        fresh = []
        for _ in range(100):
            obs, _, dones, _ = task.step(_random_actions(gen, task.num_envs))
            fresh.append(obs["policy"][dones])
        fresh_obs = torch.cat(fresh)
        assert fresh_obs.shape[0] >= 100
        if name == "cartpole":
            assert fresh_obs.abs().max() <= 0.05
        else:
            assert torch.allclose(fresh_obs[:, 0].square() + fresh_obs[:, 1].square(), torch.ones(len(fresh_obs)))
            assert fresh_obs[:, 2].abs().max() <= 1.0


@pytest.mark.parametrize("name", TASKS)
class TestEpisodeStatistics:
    """extras["episode"] reports exactly the summed rewards and the step counts of the episodes that ended."""

    def test_return_and_length(self, name: str) -> None:
        num_envs = 24
        task = make_task(name, num_envs=num_envs, seed=5, max_episode_length=500 if name == "cartpole" else 37)
        gen = torch.Generator().manual_seed(2)
        returns = torch.zeros(num_envs)
        lengths = torch.zeros(num_envs, dtype=torch.long)
        num_ended = 0
        for _ in range(200):
            _, rewards, dones, extras = task.step(_random_actions(gen, num_envs))
            returns += rewards
            lengths += 1
            episode = extras["episode"]
            assert torch.equal(episode["return"], returns[dones])
            assert torch.equal(episode["length"], lengths[dones].float())
            num_ended += int(dones.sum())
            returns[dones] = 0.0
            lengths[dones] = 0
            assert torch.equal(task.episode_length_buf, lengths)
        assert num_ended >= 100


@pytest.mark.parametrize("name", TASKS)
class TestTimeLimit:
    """Time-outs follow episode_length_buf, also when a runner overwrites it (random episode starts)."""

    @pytest.mark.parametrize("in_place", [False, True])
    def test_runner_overwrites_episode_length_buf(self, name: str, in_place: bool) -> None:
        num_envs = 32
        task = make_task(name, num_envs=num_envs, seed=6)
        horizon = int(task.max_episode_length)
        start = torch.randint(0, horizon, (num_envs,), generator=torch.Generator().manual_seed(3))
        if in_place:
            task.episode_length_buf[:] = start
        else:  # rsl_rl's runner replaces the attribute with a new tensor
            task.episode_length_buf = start.clone()
        counter = start.clone()
        obs = task.get_observations()
        seen_time_outs = torch.zeros(num_envs, dtype=torch.long)
        for _ in range(horizon):
            obs, _, dones, extras = task.step(_no_fall_actions(name, obs))
            counter += 1
            time_outs = extras["time_outs"]
            assert torch.equal(dones, time_outs)  # nothing falls under these actions
            assert torch.equal(time_outs, counter == horizon)
            assert torch.equal(extras["episode"]["length"], torch.full((int(dones.sum()),), float(horizon)))
            counter[dones] = 0
            seen_time_outs += time_outs.long()
            assert torch.equal(task.episode_length_buf, counter)
        # within one horizon every env timed out exactly once (at horizon - start steps)
        assert torch.equal(seen_time_outs, torch.ones(num_envs, dtype=torch.long))


@pytest.mark.parametrize("name", TASKS)
class TestDeterminism:
    """Same seed: bitwise identical 300-step trajectories; another seed: different ones."""

    def test_same_seed_same_trajectory(self, name: str) -> None:
        a = _rollout(make_task(name, num_envs=16, seed=11, max_episode_length=50), 300, action_seed=0)
        b = _rollout(make_task(name, num_envs=16, seed=11, max_episode_length=50), 300, action_seed=0)
        assert len(a) == len(b) == 1 + 7 * 300
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))

    def test_other_seed_other_trajectory(self, name: str) -> None:
        a = _rollout(make_task(name, num_envs=16, seed=11, max_episode_length=50), 300, action_seed=0)
        b = _rollout(make_task(name, num_envs=16, seed=12, max_episode_length=50), 300, action_seed=0)
        assert not torch.equal(a[0], b[0])
        # the initial states, and the states drawn at every later reset, differ
        assert not torch.equal(a[-7], b[-7])


@pytest.mark.parametrize("name", TASKS)
class TestStateDict:
    """state_dict / load_state_dict (also through torch.save with weights_only) continues bit for bit."""

    def test_resume_bit_for_bit(self, name: str) -> None:
        task = make_task(name, num_envs=8, seed=13, max_episode_length=40)
        _rollout(task, 50, action_seed=1)
        buffer = io.BytesIO()
        torch.save(task.state_dict(), buffer)
        expected = _rollout(task, 100, action_seed=2)

        buffer.seek(0)
        resumed = make_task(name, num_envs=8, seed=999, max_episode_length=40)
        resumed.load_state_dict(torch.load(buffer, weights_only=True))
        got = _rollout(resumed, 100, action_seed=2)
        assert all(torch.equal(x, y) for x, y in zip(expected, got, strict=True))

    def test_wrong_num_envs_and_missing_key(self, name: str) -> None:
        state = make_task(name, num_envs=8).state_dict()
        with pytest.raises(ConfigError, match="shape"):
            make_task(name, num_envs=4).load_state_dict(state)
        del state["episode_length_buf"]
        with pytest.raises(ConfigError, match="episode_length_buf"):
            make_task(name, num_envs=8).load_state_dict(state)


@pytest.mark.parametrize("name", TASKS)
class TestSingleEnv:
    """num_envs=1 steps, resets and reports episodes like any batch size; a flat (1,) action is accepted."""

    def test_one_env(self, name: str) -> None:
        task = make_task(name, num_envs=1, seed=14, max_episode_length=500 if name == "cartpole" else 20)
        gen = torch.Generator().manual_seed(4)
        num_dones = 0
        for step in range(200):
            actions = _random_actions(gen, 1)
            obs, rewards, dones, extras = task.step(actions.view(1) if step % 2 else actions)
            assert obs["policy"].shape == (1, task.observation_sizes["policy"])
            assert rewards.shape == dones.shape == extras["time_outs"].shape == (1,)
            assert extras["episode"]["length"].shape == (int(dones.sum()),)
            num_dones += int(dones.sum())
        assert num_dones >= 5
