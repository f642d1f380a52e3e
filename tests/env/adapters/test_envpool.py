"""The envpool adapter: envpool's next-step autoreset becomes a same-step reset; final_obs, time-outs, groups, CLI.

Two kinds of pool: a scripted pool that follows envpool's Gymnasium API exactly (next-step autoreset, a partial
``reset(env_id)`` that returns only the reset rows) with known episode boundaries, and envpool's own Go1 joystick
task (skipped where envpool is not installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium")

from stride.env.adapters.envpool import EnvpoolVecEnv  # noqa: E402
from stride.env.checker import check_env, check_env_target  # noqa: E402
from stride.env.tasks import make_task  # noqa: E402
from stride.utils.errors import ConfigError, EnvContractError  # noqa: E402

LIMIT = 9
"""Time limit (max_episode_steps) of the scripted pool."""

GO1 = "Go1JoystickFlatTerrain-v1"
LAST_ACT = slice(33, 45)
"""Where Go1's ``state`` holds the previous step's action (after velocities, gravity and joint states)."""


def _termination_length(index: Any, episode: Any) -> Any:
    """Length at which episode ``episode`` of env ``index`` terminates; 0: never (the time limit ends it).

    Lengths 2..12 occur: some episodes terminate exactly at the limit (terminated and truncated at once).
    """
    length = 2 + (7 * episode + 3 * index) % 11
    return length * ((episode + index) % 4 != 0)


class ScriptedPool:
    """envpool's Gymnasium API with known episodes: ``state = [env, episode, t, action[0]]``.

    As envpool: a step after an episode ended resets that env (reward 0, action ignored, ``elapsed_step`` 0) unless
    ``reset(env_id)`` reset it first; ``reset(env_id)`` returns the rows of those envs only. ``reversed_rows``
    returns every batch in reversed env order (a pool that does not keep request order).
    """

    def __init__(self, num_envs: int = 5, batch_size: int | None = None, reversed_rows: bool = False) -> None:
        self.num_envs = num_envs
        self.config = {
            "num_envs": num_envs,
            "batch_size": batch_size or num_envs,
            "max_episode_steps": LIMIT,
            "seed": 0,
            "num_threads": 0,
            "task_name": "Scripted",
        }
        box = gym.spaces.Box
        state, privileged = box(-np.inf, np.inf, (4,), np.float64), box(-np.inf, np.inf, (2,), np.float64)
        self.single_observation_space = gym.spaces.Dict({"state": state, "privileged_state": privileged})
        self.single_action_space = box(-1.0, 1.0, (2,), np.float64)
        self.reversed_rows = reversed_rows
        self.episode = np.full(num_envs, -1)
        self.t = np.zeros(num_envs, dtype=np.int64)
        self.last_action = np.zeros(num_envs)
        self.pending = np.zeros(num_envs, dtype=bool)
        self.reset_steps = 0  # steps that an env spent on envpool's own autoreset

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        return ids[::-1] if self.reversed_rows else ids

    def _obs(self, ids: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        state = np.stack([ids, self.episode[ids], self.t[ids], self.last_action[ids]], axis=1).astype(np.float64)
        privileged = np.stack([self.episode[ids] * 1000 + self.t[ids], ids], axis=1).astype(np.float64)
        info = {"env_id": ids.astype(np.int32), "elapsed_step": self.t[ids].astype(np.int32)}
        # reward terms as the Playground ports report them: reward_t = t, reward_one = 1 (0 on a reset)
        info["reward_t"] = self.t[ids].astype(np.float64)
        info["reward_one"] = (self.t[ids] > 0).astype(np.float64)
        return {"state": state, "privileged_state": privileged}, info

    def _reset_envs(self, ids: np.ndarray) -> None:
        self.episode[ids] += 1
        self.t[ids] = 0
        self.last_action[ids] = 0.0
        self.pending[ids] = False

    def reset(self, env_id: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        ids = np.arange(self.num_envs) if env_id is None else np.asarray(env_id)
        self._reset_envs(ids)
        return self._obs(self._rows(ids))

    def step(self, action: np.ndarray, env_id: np.ndarray | None = None) -> tuple[Any, ...]:
        ids = np.arange(self.num_envs)
        autoreset = self.pending.copy()
        self.reset_steps += int(autoreset.sum())
        self._reset_envs(np.flatnonzero(autoreset))  # envpool's next-step reset: the action is ignored
        stepped = ~autoreset
        self.t[stepped] += 1
        self.last_action[stepped] = action[stepped, 0]
        length = _termination_length(ids, self.episode)
        terminated = stepped & (self.t == length)
        truncated = stepped & (self.t >= LIMIT)
        reward = np.where(stepped, 100.0 * self.episode + self.t, 0.0)
        self.pending = terminated | truncated
        rows = self._rows(ids)
        obs, info = self._obs(rows)
        return obs, reward[rows], terminated[rows], truncated[rows], info


def _run_scripted(env: EnvpoolVecEnv, pool: ScriptedPool, steps: int, seed: int = 0) -> dict[str, int]:
    """Step with random actions and check every transition against the script; returns counts of what was seen."""
    gen = torch.Generator().manual_seed(seed)
    obs = env.get_observations()
    seen = {"dones": 0, "time_outs": 0, "terminations": 0}
    returns = np.zeros(env.num_envs)
    for _ in range(steps):
        actions = torch.rand(env.num_envs, 2, generator=gen) * 3.0 - 1.5  # some outside [-1, 1]: clipped
        before = obs["state"].clone()
        obs, rewards, dones, extras = env.step(actions)
        final = extras["final_obs"]["state"]
        episode, t = before[:, 1], before[:, 2] + 1
        # the transition stays in one episode and really applied this step's action (clipped to [-1, 1])
        torch.testing.assert_close(final[:, 1], episode)
        torch.testing.assert_close(final[:, 2], t)
        torch.testing.assert_close(final[:, 3], actions[:, 0].clamp(-1.0, 1.0).float())
        torch.testing.assert_close(rewards, 100.0 * episode + t)
        ids = torch.arange(env.num_envs)
        terminated = t == _termination_length(ids, episode.long())
        expected_done = terminated | (t >= LIMIT)
        assert torch.equal(dones, expected_done)
        assert torch.equal(extras["time_outs"], expected_done & ~terminated)
        # a done env starts its next episode in the returned observation; the others continue
        assert torch.equal(obs["state"][:, 1], torch.where(dones, episode + 1, episode))
        assert torch.equal(obs["state"][:, 2], torch.where(dones, torch.zeros_like(t), t))
        assert torch.equal(obs["privileged_state"][:, 0], obs["state"][:, 1] * 1000 + obs["state"][:, 2])
        returns += rewards.double().numpy()
        ended = np.flatnonzero(dones.numpy())
        np.testing.assert_allclose(extras["episode"]["return"].numpy(), returns[ended])
        np.testing.assert_array_equal(extras["episode"]["length"].numpy(), t.numpy()[ended])
        if len(ended):
            # per-step means of the reward terms over each ended episode: mean of 1..L is (L + 1) / 2
            np.testing.assert_allclose(extras["episode"]["reward/t"].numpy(), (t.numpy()[ended] + 1) / 2)
            np.testing.assert_allclose(extras["episode"]["reward/one"].numpy(), np.ones(len(ended)))
        returns[ended] = 0.0
        assert torch.equal(env.episode_length_buf, obs["state"][:, 2].long())
        seen["dones"] += int(dones.sum())
        seen["time_outs"] += int(extras["time_outs"].sum())
        seen["terminations"] += int((dones & ~extras["time_outs"]).sum())
    assert pool.reset_steps == 0, "envpool's own next-step reset reached the caller"
    return seen


class TestScriptedResets:
    """Against a scripted envpool-style pool: no transition mixes two episodes, dones/time-outs are 100 % right."""

    @pytest.mark.parametrize("reversed_rows", [False, True])
    def test_episode_boundaries(self, reversed_rows: bool) -> None:
        pool = ScriptedPool(num_envs=5, reversed_rows=reversed_rows)
        env = EnvpoolVecEnv(pool)
        assert env.max_episode_length == LIMIT and env.num_actions == 2
        seen = _run_scripted(env, pool, steps=120)
        # episodes of 2..9 steps over 120 steps x 5 envs: many of each kind, and no autoreset step
        assert seen["time_outs"] >= 15 and seen["terminations"] >= 30

    def test_terminated_and_truncated_counts_as_termination(self) -> None:
        # env 1, episode 1: length 2 + (7 + 3) % 11 = 12 > LIMIT; env 3, episode 0: 2 + 9 % 11 = 11; env 0 ep 1: 9
        assert _termination_length(0, 1) == LIMIT
        pool = ScriptedPool(num_envs=1)
        env = EnvpoolVecEnv(pool)
        flags = []
        for _ in range(2 * LIMIT):
            _, _, dones, extras = env.step(torch.zeros(1, 2))
            if dones[0]:
                flags.append(bool(extras["time_outs"][0]))
        # episode 0 never terminates (time-out at 9), episode 1 terminates at 9 = LIMIT: a termination
        assert flags == [True, False]

    def test_writable_episode_length_buf_truncates(self) -> None:
        pool = ScriptedPool(num_envs=4)
        env = EnvpoolVecEnv(pool)
        env.episode_length_buf = torch.tensor([0, LIMIT - 1, 3, LIMIT - 2])  # a runner's random start
        _, _, dones, extras = env.step(torch.zeros(4, 2))
        # env 1 reaches the emulated limit after one envpool step: a time-out, its final obs one step in
        assert dones.tolist() == [False, True, False, False] and extras["time_outs"].tolist() == dones.tolist()
        assert extras["final_obs"]["state"][1, 2] == 1.0
        # its length counts the runner's start; the reward terms average over the one step it took
        assert extras["episode"]["length"].tolist() == [LIMIT]
        assert extras["episode"]["reward/t"].tolist() == [1.0] and extras["episode"]["reward/one"].tolist() == [1.0]
        assert env.episode_length_buf.tolist() == [1, 0, 4, LIMIT - 1]
        assert pool.t.tolist() == [1, 0, 1, 1]

    def test_refuses_asynchronous_pool_and_bad_actions(self) -> None:
        with pytest.raises(ConfigError, match="asynchronous"):
            EnvpoolVecEnv(ScriptedPool(num_envs=4, batch_size=2))
        with pytest.raises(ConfigError, match="envpool task id"):
            EnvpoolVecEnv(object())
        env = EnvpoolVecEnv(ScriptedPool(num_envs=4))
        with pytest.raises(EnvContractError, match=r"shape \(4, 2\)"):
            env.step(torch.zeros(4, 3))

    def test_missing_envpool_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "envpool", None)  # import envpool now raises ImportError
        with pytest.raises(ConfigError, match=r"pip install 'stride-rl\[envpool\]'"):
            make_task(f"envpool:{GO1}", num_envs=2)

    def test_check_env(self) -> None:
        report = check_env(EnvpoolVecEnv(ScriptedPool(num_envs=3)), num_steps=25)
        assert report.groups == {"state": (3, 4), "privileged_state": (3, 2)}


def _envpool() -> Any:
    return pytest.importorskip("envpool")


class RecordingPool:
    """A real envpool pool that records envpool's own step counter (``info["elapsed_step"]``) of each step."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.config = pool.config
        self.single_observation_space = pool.single_observation_space
        self.single_action_space = pool.single_action_space
        self.elapsed: list[np.ndarray] = []
        self.terminated: list[np.ndarray] = []

    def reset(self, env_id: np.ndarray | None = None) -> Any:
        return self.pool.reset(env_id)

    def step(self, action: np.ndarray, env_id: np.ndarray | None = None) -> Any:
        out = self.pool.step(action, env_id)
        self.elapsed.append(np.asarray(out[4]["elapsed_step"]).copy())
        self.terminated.append(np.asarray(out[2]).copy())
        return out


def _go1(num_envs: int, max_episode_length: int = 1000, seed: int = 0) -> tuple[EnvpoolVecEnv, RecordingPool]:
    envpool = _envpool()
    options = {"num_envs": num_envs, "batch_size": num_envs, "seed": seed, "max_episode_steps": max_episode_length}
    pool = RecordingPool(envpool.make(GO1, env_type="gymnasium", **options))
    return EnvpoolVecEnv(pool), pool


class TestGo1:
    """envpool's Go1 joystick: groups, dtypes, time-outs vs terminations, and the action after a reset applied."""

    def test_groups_and_contract(self) -> None:
        _envpool()
        env = make_task(f"envpool:{GO1}", num_envs=3, seed=1)
        obs = env.get_observations()
        assert {k: (v.shape, v.dtype, v.device.type) for k, v in obs.items()} == {
            "state": (torch.Size([3, 48]), torch.float32, "cpu"),
            "privileged_state": (torch.Size([3, 123]), torch.float32, "cpu"),
        }
        assert (env.num_actions, env.max_episode_length, env.cfg["env_id"]) == (12, 1000, GO1)
        report = check_env(env, num_steps=20)
        assert report.groups == {"state": (3, 48), "privileged_state": (3, 123)}

    def test_check_env_target_and_box_task(self) -> None:
        _envpool()
        report = check_env_target(f"envpool:{GO1}", num_envs=2, num_steps=5)
        assert report.groups["state"] == (2, 48)
        # a Box observation space becomes the one group `policy`
        cheetah = make_task("envpool:HalfCheetah-v4", num_envs=2, seed=0)
        assert check_env(cheetah, num_steps=5).groups == {"policy": (2, 17)}

    def test_time_outs_and_the_action_after_a_reset(self) -> None:
        env, pool = _go1(num_envs=4, max_episode_length=3)
        gen = torch.Generator().manual_seed(0)
        actions = [torch.rand(4, 12, generator=gen) * 2.0 - 1.0 for _ in range(9)]
        for k, a in enumerate(actions):
            obs, _, dones, extras = env.step(a)
            # stride's count is envpool's own: envpool never spent a step on its next-step reset
            assert np.array_equal(pool.elapsed[-1], np.full(4, k % 3 + 1))
            done = k % 3 == 2
            assert dones.tolist() == [done] * 4 and extras["time_outs"].tolist() == [done] * 4
            # Go1's state holds the previous action: 0 on a fresh episode, else the action the env applied
            previous = torch.zeros(4, 12) if k % 3 == 0 else actions[k - 1]
            torch.testing.assert_close(extras["final_obs"]["state"][:, LAST_ACT], previous)
            if done:
                assert torch.equal(obs["state"][:, LAST_ACT], torch.zeros(4, 12))
                assert not torch.equal(obs["state"], extras["final_obs"]["state"])
                assert extras["episode"]["length"].tolist() == [3.0] * 4
                # Go1's 16 reward terms, each a per-step mean over the 3-step episodes
                terms = {key for key in extras["episode"] if key.startswith("reward/")}
                assert len(terms) == 16 and "reward/tracking_lin_vel" in terms
                assert all(extras["episode"][key].shape == (4,) for key in terms)

    def test_terminations_are_not_time_outs(self) -> None:
        env, pool = _go1(num_envs=16)
        gen = torch.Generator().manual_seed(0)
        terminations = 0
        for _ in range(150):
            before = env.episode_length_buf.clone()
            _, _, dones, extras = env.step(torch.rand(16, 12, generator=gen) * 2.0 - 1.0)
            terminated = torch.from_numpy(pool.terminated[-1])
            assert torch.equal(dones, terminated)  # no time-out within 150 of 1,000 steps
            assert not extras["time_outs"].any()
            assert np.array_equal(pool.elapsed[-1], (before + 1).numpy())
            terminations += int(dones.sum())
        assert terminations >= 5  # random joint targets make the Go1 fall (measured: dozens)

    def test_make_task_options(self) -> None:
        _envpool()
        with pytest.raises(ConfigError, match="unknown env option"):
            make_task(f"envpool:{GO1}", num_envs=2, action_transform="clip")
        with pytest.raises(ConfigError, match="no task 'Go1Nope-v1'"):
            make_task("envpool:Go1Nope-v1", num_envs=2)
        with pytest.raises(ConfigError, match="env_kwargs"):
            make_task(f"envpool:{GO1}", num_envs=2, env_kwargs={"not_a_field": 1})
        env = make_task(f"envpool:{GO1}", num_envs=2, env_kwargs={"noise_level": 0.0}, max_episode_length=7)
        assert env.max_episode_length == 7 and env.pool.config["noise_level"] == 0.0


class TestGo1Training:
    """The Go1 preset trains through OnPolicyRunner and the CLI (a few iterations on 8 envs)."""

    def test_runner_iterations(self) -> None:
        _envpool()
        from stride.config.io import load_yaml, preset_path
        from stride.runners import OnPolicyRunner

        path = preset_path("go1-joystick")
        assert path is not None
        cfg = load_yaml(path)["runner"]
        cfg["num_steps_per_env"] = 10
        env = make_task(f"envpool:{GO1}", num_envs=8, seed=0)
        runner = OnPolicyRunner(env, cfg, log_dir=None, device="cpu")
        runner.learn(2, init_at_random_ep_len=True)
        assert runner.current_learning_iteration == 2 and runner.total_env_steps == 160
        # the critic normalizes the privileged state, the actor the proprioceptive state
        critic_norm = [b for n, b in runner.alg.critic.named_buffers() if n.endswith("mean")]
        actor_norm = [b for n, b in runner.alg.actor.named_buffers() if n.endswith("mean")]
        assert [b.numel() for b in critic_norm] == [123] and [b.numel() for b in actor_norm] == [48]
        assert all(torch.isfinite(p).all() for p in runner.alg.actor.parameters())

    def test_cli_train_and_play(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        _envpool()
        from stride.cli.main import main

        run = tmp_path / "run"
        argv = ["train", "--task", f"envpool:{GO1}", "--num-envs", "4", "--iterations", "1", "--run-dir", str(run)]
        argv += ["--set", "env.max_episode_length=20", "--set", "num_steps_per_env=8"]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"trained envpool:{GO1} for 1 iterations (32 env steps)" in out
        assert (run / "model_0.pt").is_file()
        # the run recorded the Go1 preset's asymmetric groups
        assert "critic:\n    - privileged_state" in (run / "experiment.yaml").read_text()
        assert main(["play", str(run), "--episodes", "2", "--num-envs", "2"]) == 0
        assert f"envpool:{GO1}: return" in capsys.readouterr().out


class TestDocumentedKeys:
    """docs/configuration.md lists exactly the env keys an envpool task accepts, with the constructor's defaults."""

    def test_env_keys_table(self) -> None:
        import inspect
        import re

        text = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text(encoding="utf-8")
        section = text.split("## envpool tasks", 1)[1].split("\n## ", 1)[0]
        rows = [re.split(r"(?<!\\)\|", line)[1:-1] for line in section.splitlines() if line.startswith("| `")]
        documented = {row[0].strip().strip("`"): row[2].strip().strip("`") for row in rows}
        params = inspect.signature(EnvpoolVecEnv).parameters
        assert set(documented) == set(params) - {"env", "device"}
        for key in ("num_envs", "max_episode_length", "num_threads", "env_kwargs"):
            assert documented[key] == repr(params[key].default), key


class TestPresetChoice:
    """`stride train --task envpool:<id>` takes the task's preset from the table, or refuses in one line."""

    def test_go1_uses_its_preset(self) -> None:
        import argparse

        from stride.cli.main import _experiment_dict

        args = argparse.Namespace(config=None, task=f"envpool:{GO1}", set=[], num_envs=None, seed=None, iterations=None)
        data = _experiment_dict(args)
        assert data["task"] == f"envpool:{GO1}" and data["env"]["num_envs"] == 128
        assert data["runner"]["obs_groups"] == {"actor": ["state"], "critic": ["privileged_state"]}
        assert data["runner"]["algorithm"]["gamma"] == 0.97

    def test_task_without_preset_is_refused(self, capsys: pytest.CaptureFixture[str]) -> None:
        from stride.cli.main import main

        assert main(["train", "--task", "envpool:HalfCheetah-v4"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("stride: error: no preset for task 'envpool:HalfCheetah-v4'") and err.count("\n") == 1
        assert "--config FILE" in err


class TestGo1Video:
    """`stride play RUN --video` records an envpool task (MuJoCo's offscreen renderer; skipped without OpenGL)."""

    @pytest.mark.slow  # renders 480x480 frames and encodes a GIF
    def test_play_video(self, tmp_path: Path) -> None:
        _envpool()
        imageio = pytest.importorskip("imageio")
        pytest.importorskip("mujoco")
        # fresh processes: MuJoCo fixes its OpenGL backend when first imported, and an earlier test may have
        # imported it without MUJOCO_GL=egl (then a failed context ends the whole process, not just this test)
        env = {**os.environ, "MUJOCO_GL": "egl"}
        probe = "import mujoco; mujoco.GLContext(8, 8).free()"
        if subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, timeout=120).returncode != 0:
            pytest.skip("no EGL OpenGL context on this machine")
        cli = [sys.executable, "-c", "import sys; from stride.cli.main import main; sys.exit(main(sys.argv[1:]))"]

        def stride(*argv: str) -> str:
            done = subprocess.run([*cli, *argv], env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
            return done.stdout

        run = tmp_path / "run"
        stride("train", "--task", f"envpool:{GO1}", "--num-envs", "2", "--iterations", "1", "--run-dir", str(run),
               "--set", "env.max_episode_length=12", "--set", "num_steps_per_env=4")  # fmt: skip
        video = tmp_path / "go1.gif"
        out = stride("play", str(run), "--episodes", "2", "--num-envs", "2", "--video", str(video))
        assert f"video: {video} (" in out
        frames = imageio.v2.mimread(str(video))
        assert 1 < len(frames) <= 12 and frames[0].shape == (480, 480, 3)
