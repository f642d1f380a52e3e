"""The Gymnasium adapter: episode boundaries in every autoreset mode, final_obs, actions, groups, seeding, CLI."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")

from stride.env.adapters.gymnasium import GymnasiumVecEnv  # noqa: E402
from stride.env.checker import check_env  # noqa: E402
from stride.env.tasks import make_task  # noqa: E402
from stride.utils.errors import ConfigError, EnvContractError  # noqa: E402

LIMIT = 12
"""Time limit (TimeLimit wrapper) of the scripted env."""

MODES = ["same_step", "next_step", "disabled"]


def _termination_length(index: Any, episode: Any) -> Any:
    """Length at which episode ``episode`` of sub-env ``index`` terminates; 0: it runs into the time limit.

    Works on ints and on integer tensors. Lengths 2..12 are used, so some episodes terminate exactly at the time
    limit (terminated and truncated at once).
    """
    length = 2 + (7 * episode + 3 * index) % 11
    return length * ((episode + index) % 4 != 0)


class ScriptedEnv(gym.Env):
    """Known episode boundaries: obs = [index, episode, t, noise]; reward = 100·episode + t after the step."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.episode = -1
        self.t = 0
        self.noise = 0.0

    def _obs(self) -> np.ndarray:
        return np.array([self.index, self.episode, self.t, self.noise], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.episode += 1
        self.t = 0
        self.noise = float(self.np_random.uniform())
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        terminated = self.t == _termination_length(self.index, self.episode)
        return self._obs(), float(100 * self.episode + self.t), terminated, False, {}


class EchoEnv(gym.Env):
    """Observation = the last action received; Box action bounds chosen by the test."""

    def __init__(self, low: Any = (-2.0, 0.0, -np.inf), high: Any = (4.0, 1.0, np.inf)) -> None:
        low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, low.shape, np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(self.action_space.shape, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.asarray(action, np.float32).copy(), 0.0, False, False, {}


class DictObsEnv(ScriptedEnv):
    """The scripted env with a Dict observation space: groups ``policy`` (index, episode, t) and ``critic``."""

    def __init__(self, index: int = 0) -> None:
        super().__init__(index)
        self.observation_space = gym.spaces.Dict(
            {
                "policy": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
                "critic": gym.spaces.Box(-np.inf, np.inf, (2, 2), np.float32),
            }
        )

    def _obs(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        base = super()._obs()
        return {"policy": base[:3].copy(), "critic": np.tile(base[2:], (2, 1)).astype(np.float32)}


_instances = itertools.count()
gym.register("StrideTest/Scripted-v0", entry_point=lambda: ScriptedEnv(next(_instances) % 97), max_episode_steps=LIMIT)


def _vector(num_envs: int, mode: str, cls: type = ScriptedEnv) -> Any:
    fns = [lambda i=i: gym.wrappers.TimeLimit(cls(i), LIMIT) for i in range(num_envs)]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode[mode.upper()])


def _verify_episodes(env: GymnasiumVecEnv, num_steps: int) -> int:
    """Step ``env`` and compare every flag, reward and observation with the script; returns episodes ended."""
    n = env.num_envs
    obs = env.get_observations()["policy"]
    idx = obs[:, 0].clone()  # the script's identity of each sub-env
    assert torch.equal(obs[:, 1:3], torch.zeros(n, 2))
    running_return = torch.zeros(n, dtype=torch.float64)
    ended = 0
    for _ in range(num_steps):
        episode, t = obs[:, 1].long(), obs[:, 2].long() + 1
        terminated = t == _termination_length(idx.long(), episode)
        truncated = (t == LIMIT) & ~terminated
        new_obs, rewards, dones, extras = env.step(torch.zeros(n, 2))
        running_return += rewards.double()
        # every reward belongs to the episode the step started in: no transition mixes two episodes
        assert torch.equal(rewards, (100 * episode + t).float())
        assert torch.equal(dones, terminated | truncated)
        assert torch.equal(extras["time_outs"], truncated)
        done = dones
        # final_obs: the true last observation of the ended episodes
        final = extras["final_obs"]["policy"]
        expected_last = torch.stack([idx, episode.float(), t.float()], 1)
        assert torch.equal(final[done, :3], expected_last[done])
        # continuing envs advance by one; ended envs start their next episode at t = 0 (same-step reset)
        assert torch.equal(new_obs["policy"][~done, :3], expected_last[~done])
        restarted = torch.stack([idx, episode.float() + 1, torch.zeros(n)], 1)
        assert torch.equal(new_obs["policy"][done, :3], restarted[done])
        # episode statistics of exactly the ended episodes
        assert torch.equal(extras["episode"]["length"], t[done].float())
        assert torch.allclose(extras["episode"]["return"].double(), running_return[done])
        running_return[done] = 0.0
        assert torch.equal(env.episode_length_buf, torch.where(done, 0, t))
        ended += int(done.sum())
        obs = new_obs["policy"]
    return ended


class TestEpisodeBoundaries:
    """dones / time_outs / final_obs are 100 % correct over > 1,000 scripted episodes in every autoreset mode."""

    @pytest.mark.parametrize("mode", MODES)
    def test_from_vector_env(self, mode: str) -> None:
        env = GymnasiumVecEnv(_vector(32, mode), max_episode_length=LIMIT)
        assert env.autoreset_mode == mode
        assert _verify_episodes(env, 330) >= 1000

    @pytest.mark.parametrize("mode", MODES)
    def test_from_id(self, mode: str) -> None:
        env = make_task("gym:StrideTest/Scripted-v0", num_envs=16, autoreset_mode=mode)
        assert isinstance(env, GymnasiumVecEnv)
        assert env.max_episode_length == LIMIT
        assert _verify_episodes(env, 660) >= 1000

    def test_async(self) -> None:
        env = GymnasiumVecEnv("StrideTest/Scripted-v0", num_envs=3, vectorization_mode="async")
        try:
            assert _verify_episodes(env, 150) >= 30
        finally:
            env.close()

    def test_terminated_and_truncated_counts_as_termination(self) -> None:
        # sub-env 1, episode 1: (7 + 3) % 11 + 2 = 12 = LIMIT → terminated and truncated on the same step
        assert _termination_length(1, 1) == LIMIT
        env = GymnasiumVecEnv(_vector(2, "next_step"), max_episode_length=LIMIT)
        assert _verify_episodes(env, 40) > 0

    def test_writable_episode_length_buf_truncates(self) -> None:
        # the runner randomizes episode_length_buf: the adapter's own limit must cut those episodes as time-outs
        env = GymnasiumVecEnv(_vector(4, "same_step"), max_episode_length=LIMIT)
        env.step(torch.zeros(4, 2))  # every sub-env at t = 1, none terminates (lengths >= 2)
        env.episode_length_buf = torch.tensor([LIMIT - 1, 0, LIMIT - 1, 3])
        obs, _, dones, extras = env.step(torch.zeros(4, 2))
        scripted_end = _termination_length(torch.arange(4), torch.zeros(4, dtype=torch.long)) == 2
        assert torch.equal(dones, torch.tensor([True, False, True, False]) | scripted_end)
        assert torch.equal(extras["time_outs"], torch.tensor([True, False, True, False]) & ~scripted_end)
        assert torch.equal(extras["final_obs"]["policy"][[0, 2], 2], torch.tensor([2.0, 2.0]))
        assert torch.equal(obs["policy"][dones, 2], torch.zeros(int(dones.sum())))
        assert torch.equal(obs["policy"][dones, 1], torch.ones(int(dones.sum())))


class TestContract:
    """check_env accepts the adapter in every mode; tensors are float32 on the device and never reused."""

    @pytest.mark.parametrize("mode", MODES)
    def test_check_env(self, mode: str) -> None:
        env = GymnasiumVecEnv(_vector(4, mode), max_episode_length=LIMIT)
        report = check_env(env, num_steps=30)
        assert report.has_time_outs and report.has_final_obs
        assert report.groups == {"policy": (4, 4)}
        # the check's random episode lengths are undone: the counter equals each sub-env's own step count t
        t = env.get_observations()["policy"][:, 2]
        assert torch.equal(env.episode_length_buf.to(torch.float32), t)

    def test_check_env_target(self) -> None:
        from stride.env.checker import check_env_target

        report = check_env_target("gym:StrideTest/Scripted-v0", num_envs=3, num_steps=15)
        assert report.num_envs == 3 and report.num_actions == 2 and report.max_episode_length == LIMIT

    def test_dtypes_and_fresh_tensors(self) -> None:
        env = GymnasiumVecEnv(_vector(3, "same_step"), max_episode_length=LIMIT)
        first = env.get_observations()
        kept = first["policy"].clone()
        obs, rewards, dones, extras = env.step(torch.zeros(3, 2))
        assert obs["policy"].dtype == rewards.dtype == torch.float32
        assert dones.dtype == extras["time_outs"].dtype == torch.bool
        assert obs.batch_size == torch.Size([3]) and rewards.shape == (3,)
        assert torch.equal(first["policy"], kept)  # the previous observation is untouched by the next step

    def test_dict_observations_become_groups(self) -> None:
        env = GymnasiumVecEnv(_vector(3, "same_step", DictObsEnv), max_episode_length=LIMIT)
        obs = env.get_observations()
        assert set(obs.keys()) == {"policy", "critic"}
        assert obs["critic"].shape == (3, 2, 2) and obs["policy"].shape == (3, 3)
        length = torch.zeros(3)
        for _ in range(2 * LIMIT):  # every sub-env ends at least one episode
            obs, _, dones, extras = env.step(torch.zeros(3, 2))
            length += 1
            final = extras["final_obs"]
            assert torch.equal(final["policy"][dones, 2], length[dones])
            assert torch.equal(final["critic"][dones, 0, 0], length[dones])
            assert torch.equal(obs["critic"][dones, 1, 0], torch.zeros(int(dones.sum())))
            length[dones] = 0.0
        check_env(env, num_steps=20)

    def test_wrong_action_shape(self) -> None:
        env = GymnasiumVecEnv(_vector(3, "same_step"), max_episode_length=LIMIT)
        with pytest.raises(EnvContractError, match=r"\(3, 2\)"):
            env.step(torch.zeros(3, 5))


class TestActions:
    """Box actions: rescale maps [-1, 1] onto [low, high] (clipped), clip clips, none passes through."""

    def _echo(self, transform: str, actions: list[list[float]]) -> torch.Tensor:
        venv = gym.vector.SyncVectorEnv([EchoEnv for _ in actions])
        env = GymnasiumVecEnv(venv, action_transform=transform, max_episode_length=100)  # type: ignore[arg-type]
        obs, *_ = env.step(torch.tensor(actions))
        return obs["policy"]

    def test_rescale(self) -> None:
        out = self._echo("rescale", [[-1.0, -1.0, -3.0], [1.0, 1.0, 3.0], [0.0, 0.0, 0.5], [5.0, -7.0, 9.0]])
        # low = (-2, 0, -inf), high = (4, 1, inf): a = centre + half·clip(u, -1, 1); unbounded dims pass through
        expected = torch.tensor([[-2.0, 0.0, -3.0], [4.0, 1.0, 3.0], [1.0, 0.5, 0.5], [4.0, 0.0, 9.0]])
        assert torch.equal(out, expected)

    def test_clip_and_none(self) -> None:
        raw = [[-3.0, 0.5, -9.0], [5.0, 2.0, 9.0]]
        assert torch.equal(self._echo("clip", raw), torch.tensor([[-2.0, 0.5, -9.0], [4.0, 1.0, 9.0]]))
        assert torch.equal(self._echo("none", raw), torch.tensor(raw))


class TestSeedingAndErrors:
    """Sub-env i is seeded with seed + i; bad options raise ConfigError naming the option."""

    def test_seeds(self) -> None:
        noise = [make_task("gym:StrideTest/Scripted-v0", num_envs=3, seed=s).get_observations()["policy"][:, 3]
                 for s in (5, 5, 6)]  # fmt: skip
        assert torch.equal(noise[0], noise[1]) and not torch.equal(noise[0], noise[2])
        single = ScriptedEnv()
        for i in range(3):
            assert noise[0][i].item() == pytest.approx(single.reset(seed=5 + i)[0][3])

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"autoreset_mode": "sometimes"}, "autoreset_mode"),
            ({"vectorization_mode": "gpu"}, "vectorization_mode"),
            ({"action_transform": "squash"}, "action_transform"),
            ({"max_episode_length": 0}, "max_episode_length"),
            ({"num_envs": 0}, "num_envs"),
            ({"frame_skip": 2}, "frame_skip"),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], match: str) -> None:
        with pytest.raises(ConfigError, match=match):
            make_task("gym:StrideTest/Scripted-v0", **{"num_envs": 2, **kwargs})

    def test_unknown_id_and_spaces(self) -> None:
        with pytest.raises(ConfigError, match="NoSuchEnv"):
            make_task("gym:NoSuchEnv-v0", num_envs=1)
        with pytest.raises(ConfigError, match="Box action"):
            GymnasiumVecEnv("CartPole-v1", num_envs=1)
        no_limit = gym.vector.SyncVectorEnv([ScriptedEnv])
        with pytest.raises(ConfigError, match="max_episode_length"):
            GymnasiumVecEnv(no_limit)


class TestMuJoCo:
    """MuJoCo envs pass check_env; gym:<id> picks the MuJoCo preset and the CLI trains it end to end."""

    def test_check_env_half_cheetah(self) -> None:
        pytest.importorskip("mujoco")
        env = make_task("gym:HalfCheetah-v5", num_envs=2, seed=0, max_episode_length=5)
        report = check_env(env, num_steps=12)
        assert report.groups == {"policy": (2, 17)} and env.num_actions == 6

    def test_cli_uses_the_task_preset(self) -> None:
        import argparse

        from stride.cli.main import _experiment_dict

        # a MuJoCo task without a preset of its own gets the general one
        args = argparse.Namespace(config=None, task="gym:Hopper-v5", set=[], num_envs=None, seed=7, iterations=None)
        data = _experiment_dict(args)
        assert data["task"] == "gym:Hopper-v5" and data["env"]["num_envs"] == 16 and data["runner"]["seed"] == 7
        assert data["runner"]["num_steps_per_env"] == 128 and data["runner"]["max_iterations"] == 489
        assert data["runner"]["actor"]["obs_normalization"] is True
        algorithm = data["runner"]["algorithm"]
        assert algorithm["num_mini_batches"] == 16 and algorithm["schedule"] == "linear"
        # a task with a preset of its own gets it, under its own id
        args.task = "gym:HalfCheetah-v5"
        data = _experiment_dict(args)
        assert data["task"] == "gym:HalfCheetah-v5" and data["runner"]["algorithm"]["num_learning_epochs"] == 20
        args.task = "gym:Walker2d-v5"
        data = _experiment_dict(args)
        assert data["task"] == "gym:Walker2d-v5" and data["runner"]["algorithm"]["num_mini_batches"] == 8
        args.task = "gym:Swimmer-v5"
        algorithm = _experiment_dict(args)["runner"]["algorithm"]
        assert (
            algorithm["gamma"] == 0.9999 and algorithm["num_mini_batches"] == 32 and algorithm["reward_scaling"] is True
        )
        args.task = "gym:HalfCheetah-v5"
        assert _experiment_dict(args)["runner"]["algorithm"]["gamma"] == 0.995

    @pytest.mark.slow
    def test_cli_train(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        pytest.importorskip("mujoco")
        from stride.cli.main import main

        argv = ["train", "--task", "gym:Hopper-v5", "--num-envs", "2", "--iterations", "1", "--seed", "3"]
        argv += ["--run-dir", str(tmp_path / "run"), "--set", "env.max_episode_length=20"]
        argv += ["--set", "num_steps_per_env=16", "--set", "algorithm.num_mini_batches=2"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "trained gym:Hopper-v5 for 1 iterations (32 env steps)" in out
        assert (tmp_path / "run" / "model_0.pt").is_file()
