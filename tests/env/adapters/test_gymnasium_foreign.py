"""Vector envs the Gymnasium adapter must refuse rather than misread: envpool pools and partial-reset batches
(issue 17), and the adapter's RGB frames for videos."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from stride.env.adapters.gymnasium import GymnasiumVecEnv  # noqa: E402
from stride.utils.errors import ConfigError, EnvContractError  # noqa: E402


class _Counter(gym.Env):
    """obs = [t]; terminates after ``3 + index`` steps; renders a (6, 8) frame filled with its step count."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}  # noqa: RUF012

    def __init__(self, index: int = 0, render_mode: str | None = None) -> None:
        self.index, self.t, self.render_mode = index, 0, render_mode
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.array([self.t], np.float32), 1.0, self.t >= 3 + self.index, False, {}

    def render(self) -> np.ndarray | None:
        return np.full((6, 8, 3), self.t, dtype=np.uint8) if self.render_mode == "rgb_array" else None


def _sync(num_envs: int, mode: str = "NEXT_STEP", render_mode: str | None = None) -> Any:
    fns = [lambda i=i: gym.wrappers.TimeLimit(_Counter(i, render_mode), 50) for i in range(num_envs)]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode[mode])


class _PartialReset(gym.vector.VectorEnv):
    """A vector env whose masked reset returns only the reset envs' rows, as envpool's does."""

    def __init__(self, num_envs: int) -> None:
        self.inner = _sync(num_envs)
        self.num_envs = num_envs
        self.metadata = self.inner.metadata
        self.single_action_space = self.inner.single_action_space
        self.single_observation_space = self.inner.single_observation_space
        self.action_space, self.observation_space = self.inner.action_space, self.inner.observation_space

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        mask = (options or {}).get("reset_mask")  # read first: the inner env pops it from options
        obs, info = self.inner.reset(seed=seed, options=options)
        return (obs[mask] if mask is not None else obs), info

    def step(self, actions: Any) -> tuple[Any, ...]:
        return self.inner.step(actions)


class _FakePool(_PartialReset):
    """Stands in for an envpool pool: the adapter recognises envpool by the package its classes come from."""


_FakePool.__module__ = "envpool.python.gymnasium_envpool"


class TestForeignVectorEnvs:
    """An envpool pool is refused at construction; a partial-reset batch raises instead of becoming a malformed
    TensorDict."""

    def test_envpool_pool_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"envpool pool \(_FakePool\).*gymnasium\.make_vec"):
            GymnasiumVecEnv(_FakePool(4))

    def test_partial_reset_raises_at_the_first_done(self) -> None:
        import torch

        env = GymnasiumVecEnv(_PartialReset(4), max_episode_length=50)
        actions = torch.zeros(4, 1)
        for _ in range(2):  # no episode ends in the first two steps: full batches
            obs, *_ = env.step(actions)
            assert obs["policy"].shape == (4, 1)
        with pytest.raises(EnvContractError, match=r"returned observations for \[1\] envs, expected 4"):
            env.step(actions)  # env 0 terminates at t = 3; the reset returns one row

    def test_real_envpool_refused(self) -> None:
        envpool = pytest.importorskip("envpool")
        pool = envpool.make("CartPole-v1", env_type="gymnasium", num_envs=4, seed=0)
        with pytest.raises(ConfigError, match="envpool pool"):
            GymnasiumVecEnv(pool)


class TestRenderFrame:
    """render_frame returns the sub-env's RGB frame; an env built without rgb_array says how to build it."""

    def test_frames(self) -> None:
        import torch

        env = GymnasiumVecEnv(_sync(2, render_mode="rgb_array"), max_episode_length=50)
        env.step(torch.zeros(2, 1))
        frame = env.render_frame(1)
        assert frame.shape == (6, 8, 3) and frame.dtype == np.uint8 and int(frame[0, 0, 0]) == 1
        assert env.render_fps == 25

    def test_no_render_mode(self) -> None:
        env = GymnasiumVecEnv(_sync(2), max_episode_length=50)
        with pytest.raises(ConfigError, match="render_mode"):
            env.render_frame(0)
