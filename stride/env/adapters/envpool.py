"""envpool pools as a stride VecEnv.

``EnvpoolVecEnv("Go1JoystickFlatTerrain-v1", num_envs=64)`` builds a synchronous envpool pool (C++ environments
stepped by envpool's own threads, e.g. its ports of MuJoCo Playground's locomotion tasks) and presents it through
the stride VecEnv contract: float32 TensorDict observations on the requested device, one group per key of a Dict
observation space (``state``, ``privileged_state``) or the group ``"policy"`` for a Box space, ``dones =
terminated | truncated``, ``extras["time_outs"]``, ``extras["final_obs"]`` and per-episode statistics.

Reset conversion. envpool's Gymnasium API resets a finished env on the *next* ``step``: that call returns the
first observation of the new episode with a reward of 0 and ignores the action. stride wants a same-step reset.
Right after a step in which envs finished, the adapter resets exactly those envs with ``pool.reset(env_id)``
(which returns the rows of those envs only, tagged by ``info["env_id"]``) and writes the fresh rows into the
step's observations; the step's own observations are kept as ``final_obs``. envpool's reset also clears the
pending autoreset, so the next ``step`` applies the policy's action to every env: no reset step ever reaches the
caller and no transition mixes two episodes.

Time limit. envpool counts steps inside its C++ envs and cannot be told to start an episode at another count. The
adapter therefore keeps its own ``episode_length_buf`` and ends an episode as a time-out when that count reaches
``max_episode_length`` (envpool's ``max_episode_steps``, passed to the pool as well). A runner that writes random
values into ``episode_length_buf`` (``init_at_random_ep_len``) thus shortens the first episodes exactly as with
the built-in tasks; the task's dynamics never read the count.

envpool is imported lazily, inside this module's functions: ``import stride`` works without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from tensordict import TensorDict

from stride.env.adapters._shared import EpisodeBook, observation_groups
from stride.env.vec_env import VecEnv
from stride.utils.errors import ConfigError, EnvContractError

__all__ = ["EnvpoolVecEnv", "make_envpool_env"]

INSTALL_HINT = "pip install 'stride-rl[envpool]'"
"""How to get envpool (wheels for Python >= 3.11)."""


def _import_envpool() -> Any:
    try:
        import envpool
    except ImportError as err:  # pragma: no cover - exercised only where envpool is missing
        raise ConfigError(
            "The envpool adapter needs the 'envpool' package, which is not installed (envpool 1.2.5 has wheels for "
            f"Python >= 3.11). Fix: {INSTALL_HINT}."
        ) from err
    return envpool


def _space_kind(space: Any) -> str:
    """``"Box"``, ``"Dict"`` or the class name of a Gymnasium (or gym) space, without importing gymnasium."""
    return type(space).__name__


class EnvpoolVecEnv(VecEnv):
    """A synchronous envpool pool behind the stride VecEnv contract (see the module docstring for the resets).

    Observations: a ``Dict`` observation space becomes one group per key (select them with the runner's
    ``obs_groups``; the MuJoCo Playground ports give ``state`` and ``privileged_state``), a ``Box`` space the group
    ``"policy"``. Every group is float32 with shape ``(num_envs, *space.shape)``.

    Actions: the action space must be a ``Box`` with finite bounds. The policy acts in ``[-1, 1]``: actions are
    clipped to ``[-1, 1]`` and mapped affinely onto ``[low, high]`` (the identity for the Playground ports, whose
    bounds are ``[-1, 1]``).

    Args:
        env: An envpool task id (``"Go1JoystickFlatTerrain-v1"``, see ``envpool.list_all_envs()``) or a pool built
            with ``envpool.make(..., env_type="gymnasium")`` in synchronous mode (``batch_size == num_envs``).
        num_envs: Number of envs when ``env`` is an id (>= 1); ignored for a pool.
        device: Torch device of every returned tensor.
        seed: envpool's seed (env ``i`` draws from ``seed + i``); ids only.
        max_episode_length: Time limit in steps; None takes the task's ``max_episode_steps``. Ids only: a pool keeps
            its own.
        num_threads: envpool's worker threads (0: envpool's choice); ids only.
        env_kwargs: Further ``envpool.make`` options (the task's config fields, e.g. ``noise_level``); ids only.

    Raises:
        ConfigError: On an unknown id or option, an asynchronous pool, a non-Box action space, an unsupported
            observation space or a time limit below 1.
    """

    def __init__(
        self,
        env: str | Any,
        num_envs: int = 16,
        device: str | torch.device = "cpu",
        seed: int = 0,
        max_episode_length: int | None = None,
        num_threads: int = 0,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(env, str):
            pool = self._make_pool(env, num_envs, seed, max_episode_length, num_threads, env_kwargs)
            env_id = env
        elif hasattr(env, "reset") and hasattr(env, "step") and isinstance(getattr(env, "config", None), Mapping):
            pool = env
            env_id = str(env.config.get("task_name", type(env).__name__))
        else:
            raise ConfigError(
                f"EnvpoolVecEnv: env must be an envpool task id or a pool from envpool.make(..., "
                f"env_type='gymnasium'), got {type(env).__name__}. Fix: pass e.g. 'Go1JoystickFlatTerrain-v1'."
            )
        self.pool = pool
        config = pool.config
        self.num_envs = int(config["num_envs"])
        if int(config.get("batch_size", self.num_envs)) != self.num_envs:
            raise ConfigError(
                f"EnvpoolVecEnv: the pool is asynchronous (batch_size {config['batch_size']} < num_envs "
                f"{self.num_envs}); stride steps every env together. Fix: build it with batch_size=num_envs."
            )
        self.max_episode_length = int(config["max_episode_steps"])
        if self.max_episode_length < 1:
            raise ConfigError(f"EnvpoolVecEnv: max_episode_length must be >= 1, got {self.max_episode_length}.")
        self.device = torch.device(device)
        self._on_cpu = self.device.type == "cpu"
        self._batch_size = torch.Size([self.num_envs])
        self._all_ids = np.arange(self.num_envs, dtype=np.int32)
        # envpool's pools carry both; its (older) `action_space` is the single env's space too
        self._init_action_space(getattr(pool, "single_action_space", None) or pool.action_space)
        self._groups, self._dict_obs = observation_groups(
            getattr(pool, "single_observation_space", None) or pool.observation_space,
            "EnvpoolVecEnv",
            is_box=lambda space: _space_kind(space) == "Box",
            is_dict=lambda space: _space_kind(space) == "Dict",
        )
        self.cfg: dict[str, Any] = {
            "env_id": env_id,
            "num_envs": self.num_envs,
            "seed": int(config.get("seed", seed)),
            "max_episode_length": self.max_episode_length,
            "num_threads": int(config.get("num_threads", num_threads)),
            "env_kwargs": dict(env_kwargs or {}),
        }
        self._episodes = EpisodeBook(self.num_envs, self.device)
        obs_np, info = pool.reset()
        self._obs = self._to_tensordict(self._in_env_order(obs_np, info, self._all_ids, "reset()"))

    @staticmethod
    def _make_pool(
        env_id: str,
        num_envs: int,
        seed: int,
        max_episode_length: int | None,
        num_threads: int,
        env_kwargs: Mapping[str, Any] | None,
    ) -> Any:
        envpool = _import_envpool()
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ConfigError(f"EnvpoolVecEnv: num_envs must be an integer >= 1, got {num_envs!r}.")
        if max_episode_length is not None and (
            isinstance(max_episode_length, bool) or not isinstance(max_episode_length, int) or max_episode_length < 1
        ):
            raise ConfigError(f"EnvpoolVecEnv: max_episode_length must be an integer >= 1, got {max_episode_length!r}.")
        if env_id not in envpool.list_all_envs():
            raise ConfigError(
                f"EnvpoolVecEnv: envpool has no task {env_id!r}. Expected an id of envpool.list_all_envs(), e.g. "
                "'Go1JoystickFlatTerrain-v1'."
            )
        kwargs = dict(env_kwargs or {})
        if max_episode_length is not None:
            kwargs["max_episode_steps"] = max_episode_length
        try:
            return envpool.make(
                env_id,
                env_type="gymnasium",
                num_envs=num_envs,
                batch_size=num_envs,
                seed=seed,
                num_threads=num_threads,
                **kwargs,
            )
        except TypeError as err:  # envpool's Config rejects unknown fields with a TypeError
            raise ConfigError(
                f"envpool:{env_id}: {err}. Fix: env_kwargs may only hold fields of the task's envpool config "
                f"(envpool.make('{env_id}').config lists them)."
            ) from err

    # ------------------------------------------------------------------------------------------------ set-up
    def _init_action_space(self, space: Any) -> None:
        if _space_kind(space) != "Box":
            raise ConfigError(
                f"EnvpoolVecEnv: only Box action spaces are supported, got {space}. Fix: use a task with "
                "continuous actions (e.g. a MuJoCo or MuJoCo Playground task)."
            )
        low = np.asarray(space.low, dtype=np.float64).reshape(-1)
        high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ConfigError(
                f"EnvpoolVecEnv: the action space {space} has infinite bounds; the adapter maps [-1, 1] onto "
                "[low, high] and needs finite ones."
            )
        self.num_actions = int(low.size)
        self._action_shape = (self.num_envs, *tuple(space.shape))
        self._action_dtype = space.dtype
        # a = low + (u + 1) / 2 · (high − low) for u ∈ [−1, 1]  ⇔  a = centre + half · u
        self._action_unit_box = bool(np.all(low == -1.0) and np.all(high == 1.0))
        self._action_centre = torch.as_tensor((low + high) / 2.0, dtype=torch.float64)
        self._action_half = torch.as_tensor((high - low) / 2.0, dtype=torch.float64)

    @property
    def episode_length_buf(self) -> torch.Tensor:
        """Steps taken in each env's current episode. Shape: (num_envs,). Writable: a runner may randomize it."""
        return self._episodes.lengths

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self._episodes.lengths = value

    # --------------------------------------------------------------------------------------------- conversion
    def _arrays(self, obs: Any) -> dict[str, np.ndarray]:
        """Fresh float32 arrays per group (a copy: envpool may reuse its output buffers on the next call)."""
        if self._dict_obs:
            return {key: np.array(obs[key], dtype=np.float32) for key in self._groups}
        return {"policy": np.array(obs, dtype=np.float32)}

    @staticmethod
    def _row_order(info: Mapping[str, Any], expected: np.ndarray, call: str) -> np.ndarray | None:
        """None when envpool returned row ``k`` for env ``expected[k]``, else the permutation that makes it so.

        envpool tags each returned row with ``info["env_id"]``; a synchronous pool returns them in request order,
        which one comparison confirms.
        """
        ids = np.asarray(info["env_id"])
        if ids.shape == expected.shape and np.array_equal(ids, expected):
            return None
        if ids.shape != expected.shape or not np.array_equal(np.sort(ids), np.sort(expected)):
            raise EnvContractError(
                f"EnvpoolVecEnv: envpool's {call} returned rows for envs {ids.tolist()}, expected "
                f"{expected.tolist()}. Is the pool asynchronous? Build it with batch_size=num_envs."
            )
        # row argsort(ids)[rank of expected[k]] holds env expected[k]
        return np.argsort(ids)[np.argsort(np.argsort(expected))]

    def _in_env_order(
        self, obs: Any, info: Mapping[str, Any], expected: np.ndarray, call: str
    ) -> dict[str, np.ndarray]:
        """The observation arrays of ``call`` with row ``k`` belonging to env ``expected[k]``."""
        arrays = self._arrays(obs)
        order = self._row_order(info, expected, call)
        return arrays if order is None else {key: value[order] for key, value in arrays.items()}

    def _from_numpy(self, array: np.ndarray) -> torch.Tensor:
        """A tensor on ``device`` from an array this adapter owns (shares its memory on CPU)."""
        tensor = torch.from_numpy(array)
        return tensor if self._on_cpu else tensor.to(self.device)

    def _to_tensordict(self, arrays: Mapping[str, np.ndarray]) -> TensorDict:
        data = {key: self._from_numpy(value) for key, value in arrays.items()}
        # tensors of the right batch size on the right device: the constructor's checks are skipped where possible
        new = getattr(TensorDict, "_new_unsafe", TensorDict)
        return new(data, batch_size=self._batch_size, device=self.device)

    def _actions_to_numpy(self, actions: torch.Tensor) -> np.ndarray:
        if actions.shape[0] != self.num_envs or actions[0].numel() != self.num_actions:
            raise EnvContractError(
                f"EnvpoolVecEnv.step: actions must have shape ({self.num_envs}, {self.num_actions}), got "
                f"{tuple(actions.shape)}. Fix: pass one action vector per env."
            )
        # u ∈ [−1, 1] (clamp allocates: the caller's tensor never reaches envpool); NaN passes through
        a = actions.detach().to("cpu", torch.float64).clamp(-1.0, 1.0)
        if not self._action_unit_box:
            a = self._action_centre + self._action_half * a  # a = centre + half · u
        return a.numpy().reshape(self._action_shape).astype(self._action_dtype, copy=False)

    # ------------------------------------------------------------------------------------------------ VecEnv API
    def get_observations(self) -> TensorDict:
        """Return the current observations. Shape per group: (num_envs, *space.shape)."""
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step every env once and reset the ones whose episode ended (same-step reset).

        Args:
            actions: Shape: (num_envs, num_actions), in ``[-1, 1]`` (clipped there).

        Returns:
            ``(obs, rewards, dones, extras)``: ``extras`` holds ``time_outs``, ``final_obs`` (the last observation
            of the episodes that ended; other rows repeat the returned observation) and ``episode = {"return":
            (k,), "length": (k,)}`` for the ``k`` episodes that ended.
        """
        obs_np, reward_np, terminated, truncated, info = self.pool.step(self._actions_to_numpy(actions))
        arrays = self._arrays(obs_np)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        order = self._row_order(info, self._all_ids, "step()")
        if order is not None:  # never seen with a synchronous pool; handled rather than trusted
            arrays = {key: value[order] for key, value in arrays.items()}
            reward_np, terminated, truncated = reward_np[order], terminated[order], truncated[order]
        lengths = self._episodes.count(reward_np)
        rewards = self._from_numpy(np.asarray(reward_np, dtype=np.float32))
        # done = terminated ∨ truncated (envpool's limit or the adapter's)
        dones = terminated | truncated | (lengths >= self.max_episode_length)
        dones_t = self._from_numpy(dones)
        if not dones.any():
            self._obs = self._to_tensordict(arrays)
            extras: dict[str, Any] = {
                "time_outs": torch.zeros(self.num_envs, dtype=torch.bool, device=self.device),
                "final_obs": self._obs,
                "episode": self._episodes.no_episodes,
            }
            return self._obs, rewards, dones_t, extras
        final_obs = self._to_tensordict(arrays)
        ended = np.flatnonzero(dones).astype(np.int32)
        # same-step reset: envpool resets the ended envs now (clearing its pending next-step autoreset) and returns
        # their rows only; they replace the ended rows of a copy of the step's observations
        reset_np, reset_info = self.pool.reset(ended)
        fresh = self._in_env_order(reset_np, reset_info, ended, "reset(env_id)")
        arrays = {key: value.copy() for key, value in arrays.items()}
        for key, rows in fresh.items():
            arrays[key][ended] = rows
        self._obs = self._to_tensordict(arrays)
        episode = self._episodes.close(lengths, ended, dones_t)
        # a time-out is a done that is not a termination
        extras = {"time_outs": self._from_numpy(dones & ~terminated), "final_obs": final_obs, "episode": episode}
        return self._obs, rewards, dones_t, extras

    def close(self) -> None:
        """Release the pool (envpool stops its threads when the pool is garbage-collected)."""
        close = getattr(self.pool, "close", None)
        if close is not None:
            close()


def make_envpool_env(
    env_id: str,
    num_envs: int = 16,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **kwargs: Any,
) -> EnvpoolVecEnv:
    """Build an :class:`EnvpoolVecEnv` from an envpool id (what ``make_task("envpool:<id>")`` calls).

    Args:
        env_id: An id of ``envpool.list_all_envs()``, e.g. ``"Go1JoystickFlatTerrain-v1"``.
        num_envs: Number of envs (>= 1).
        device: Torch device of the returned tensors.
        seed: envpool's seed (env ``i`` draws from ``seed + i``).
        **kwargs: Further :class:`EnvpoolVecEnv` options (``max_episode_length``, ``num_threads``, ``env_kwargs``).

    Returns:
        The adapter.

    Raises:
        ConfigError: If an option is unknown or invalid, or the env cannot be built.
    """
    allowed = ("max_episode_length", "num_threads", "env_kwargs")
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"envpool:{env_id}: unknown env option(s) {unknown}; the envpool adapter accepts num_envs, seed and "
            f"{', '.join(allowed)} (task settings go in env_kwargs)."
        )
    return EnvpoolVecEnv(env_id, num_envs=num_envs, device=device, seed=seed, **kwargs)
