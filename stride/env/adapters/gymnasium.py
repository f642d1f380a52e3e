"""Gymnasium environments as a stride VecEnv.

``GymnasiumVecEnv("HalfCheetah-v5", num_envs=16)`` runs 16 copies of a Gymnasium environment in a
``gymnasium.vector`` env (synchronous by default, asynchronous on request) and presents them through the stride
VecEnv contract: float32 TensorDict observations on the requested device, ``dones = terminated | truncated``,
``extras["time_outs"] = truncated & ~terminated``, ``extras["final_obs"]`` for the episodes that ended, same-step
resets and per-episode statistics. An already-built ``gymnasium.vector.VectorEnv`` is accepted too.

Autoreset modes. Gymnasium vector envs reset finished sub-envs in one of three ways; the adapter turns each into
stride's same-step reset:

* ``SAME_STEP``: the env resets inside ``step`` and hands the last observation over in ``infos["final_obs"]``.
  The adapter copies those rows into ``extras["final_obs"]``.
* ``NEXT_STEP`` (Gymnasium's default): the env would spend the *next* ``step`` call on the reset, returning a
  reward of 0 and ignoring the action. The adapter never lets that happen: right after a step in which sub-envs
  finished, it resets exactly those sub-envs with ``reset(options={"reset_mask": done})``, which also clears the
  pending autoreset. No reset step ever reaches the caller, so no transition mixes two episodes.
* ``DISABLED``: handled like ``NEXT_STEP`` (the adapter resets the finished sub-envs itself).

Gymnasium is imported lazily, inside this module's functions: ``import stride`` works without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from tensordict import TensorDict

from stride.env.adapters._shared import EpisodeBook, check_options, observation_groups
from stride.env.adapters.mujoco_state import load_mujoco_env_state, mujoco_env_state
from stride.env.vec_env import VecEnv
from stride.utils.errors import ConfigError, EnvContractError

__all__ = ["GymnasiumVecEnv", "make_gymnasium_env"]

VectorizationMode = Literal["sync", "async"]
AutoresetName = Literal["same_step", "next_step", "disabled"]
ActionTransform = Literal["rescale", "clip", "none"]

_VECTORIZATION_MODES = ("sync", "async")
_AUTORESET_MODES = ("same_step", "next_step", "disabled")
_ACTION_TRANSFORMS = ("rescale", "clip", "none")


def _import_gymnasium() -> Any:
    try:
        import gymnasium
    except ImportError as err:  # pragma: no cover - exercised only where gymnasium is missing
        raise ConfigError(
            "The Gymnasium adapter needs the 'gymnasium' package, which is not installed. "
            "Fix: pip install 'stride-rl[gym]' (installs gymnasium[mujoco])."
        ) from err
    return gymnasium


def _choice(value: object, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"GymnasiumVecEnv: {name} must be one of {list(allowed)}, got {value!r}.")
    return str(value)


def _is_envpool(env: object) -> bool:
    """Whether ``env`` is an envpool pool (its classes live in the ``envpool`` package)."""
    return any(getattr(cls, "__module__", "").split(".")[0] == "envpool" for cls in type(env).__mro__)


def _check_time_limit(value: object, note: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"GymnasiumVecEnv: max_episode_length must be an integer >= 1, got {value!r}{note}. "
            "Fix: pass max_episode_length=<time limit in steps>."
        )
    return value


class GymnasiumVecEnv(VecEnv):
    """A ``gymnasium.vector`` env behind the stride VecEnv contract.

    Observations: a ``Box`` observation space becomes the group ``"policy"``; a ``Dict`` space of ``Box`` entries
    becomes one group per key (select them with the runner's ``obs_groups``). Every group is float32 with shape
    ``(num_envs, *space.shape)``.

    Actions: the action space must be a ``Box``. With ``action_transform="rescale"`` (default) the policy acts in
    ``[-1, 1]``: actions are clipped to ``[-1, 1]`` and mapped affinely onto ``[low, high]`` in every dimension
    with finite bounds (dimensions with an infinite bound pass through unchanged). ``"clip"`` clips raw actions to
    ``[low, high]`` (CleanRL's and SB3's behaviour); ``"none"`` passes actions through as they are.

    Time limit: ``max_episode_length`` defaults to the env spec's ``max_episode_steps`` (Gymnasium's ``TimeLimit``
    truncates there). The adapter keeps its own ``episode_length_buf`` and truncates an episode when it reaches
    ``max_episode_length`` as well, so a runner that randomizes ``episode_length_buf`` shortens the first episodes
    as with the built-in tasks. A truncation that coincides with a termination counts as a termination.

    Args:
        env: A registered Gymnasium id (``"HalfCheetah-v5"``) or an existing ``gymnasium.vector.VectorEnv``.
        num_envs: Number of copies when ``env`` is an id (>= 1); ignored for a vector env.
        device: Torch device of every returned tensor.
        seed: Seeds sub-env ``i`` with ``seed + i`` at the first reset; None leaves the envs unseeded.
        vectorization_mode: ``"sync"`` (one process) or ``"async"`` (one worker process per env); ids only.
        autoreset_mode: Autoreset mode of the vector env built from an id; a given vector env keeps its own.
        action_transform: ``"rescale"``, ``"clip"`` or ``"none"`` (see above).
        max_episode_length: Time limit in steps; None takes ``spec.max_episode_steps``.
        env_kwargs: Keyword arguments of the Gymnasium env constructor (ids only).

    Raises:
        ConfigError: On an invalid option, an unknown id, a non-Box action space, an unsupported observation
            space, or no time limit known.
    """

    def __init__(
        self,
        env: str | Any,
        num_envs: int = 16,
        device: str | torch.device = "cpu",
        seed: int | None = 0,
        vectorization_mode: VectorizationMode = "sync",
        autoreset_mode: AutoresetName = "same_step",
        action_transform: ActionTransform = "rescale",
        max_episode_length: int | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        gym = _import_gymnasium()
        _choice(vectorization_mode, "vectorization_mode", _VECTORIZATION_MODES)
        _choice(autoreset_mode, "autoreset_mode", _AUTORESET_MODES)
        self.action_transform = _choice(action_transform, "action_transform", _ACTION_TRANSFORMS)
        if max_episode_length is not None:
            _check_time_limit(max_episode_length, "")
        if isinstance(env, str):
            if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
                raise ConfigError(f"GymnasiumVecEnv: num_envs must be an integer >= 1, got {num_envs!r}.")
            try:
                venv = gym.make_vec(
                    env,
                    num_envs=num_envs,
                    vectorization_mode=vectorization_mode,
                    vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode[autoreset_mode.upper()]},
                    **dict(env_kwargs or {}),
                )
            except gym.error.Error as err:
                raise ConfigError(
                    f"GymnasiumVecEnv: cannot build Gymnasium env {env!r}: {err}. Expected a registered id "
                    "(see gymnasium.pprint_registry()); MuJoCo ids need pip install 'stride-rl[gym]'."
                ) from err
            env_id = env
        elif _is_envpool(env):
            raise ConfigError(
                f"GymnasiumVecEnv: got an envpool pool ({type(env).__name__}), which GymnasiumVecEnv does not "
                "support: envpool resets a subset of envs by env_id and returns observations for that subset only, "
                "and steps the ended envs into their next episode itself. Fix: build the env with "
                "gymnasium.make_vec(id, num_envs=...) or pass the id string (e.g. 'HalfCheetah-v5'), or wrap the "
                "pool in stride.env.adapters.EnvpoolVecEnv (task 'envpool:<id>'), which converts its resets."
            )
        elif isinstance(env, gym.vector.VectorEnv):
            venv = env
            env_id = getattr(getattr(venv, "spec", None), "id", None) or type(venv).__name__
        else:
            raise ConfigError(
                f"GymnasiumVecEnv: env must be a Gymnasium id or a gymnasium.vector.VectorEnv, got "
                f"{type(env).__name__}. Fix: pass e.g. 'HalfCheetah-v5' or gymnasium.make_vec(...)."
            )
        self.venv = venv
        try:
            self._init(gym, venv, env_id, device, seed, vectorization_mode, max_episode_length, env_kwargs)
        except BaseException:
            if isinstance(env, str):
                venv.close()  # a vector env built here (its worker processes too) does not outlive the error
            raise

    def _init(
        self,
        gym: Any,
        venv: Any,
        env_id: str,
        device: str | torch.device,
        seed: int | None,
        vectorization_mode: str,
        max_episode_length: int | None,
        env_kwargs: Mapping[str, Any] | None,
    ) -> None:
        self.num_envs = int(venv.num_envs)
        self.device = torch.device(device)
        self._on_cpu = self.device.type == "cpu"
        self._batch_size = torch.Size([self.num_envs])
        # the adapter builds its tensors with the right batch size and device, so the constructor's checks are
        # skipped where tensordict offers that (after the env itself, the largest per-step cost of the adapter)
        self._new_tensordict: Any = getattr(TensorDict, "_new_unsafe", TensorDict)
        mode = venv.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        self.autoreset_mode: AutoresetName = gym.vector.AutoresetMode(mode).name.lower()
        self._init_action_space(gym, venv.single_action_space)
        self._init_observation_space(gym, venv.single_observation_space)
        self.max_episode_length = self._resolve_time_limit(venv, max_episode_length)
        self.seed = seed
        self.cfg: dict[str, Any] = {
            "env_id": env_id,
            "num_envs": self.num_envs,
            "seed": seed,
            "vectorization_mode": vectorization_mode,
            "autoreset_mode": self.autoreset_mode,
            "action_transform": self.action_transform,
            "max_episode_length": self.max_episode_length,
            "env_kwargs": dict(env_kwargs or {}),
        }
        self._episodes = EpisodeBook(self.num_envs, self.device)
        obs_np, _ = venv.reset(seed=seed)
        self._check_batch(obs_np, "reset()")
        self._obs = self._to_tensordict(obs_np)

    @property
    def episode_length_buf(self) -> torch.Tensor:
        """Steps taken in each env's current episode. Shape: (num_envs,). Writable: a runner may randomize it."""
        return self._episodes.lengths

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self._episodes.lengths = value

    # ------------------------------------------------------------------------------------------------ set-up
    def _init_action_space(self, gym: Any, space: Any) -> None:
        if not isinstance(space, gym.spaces.Box):
            raise ConfigError(
                f"GymnasiumVecEnv: only Box action spaces are supported, got {space}. Fix: wrap discrete envs in a "
                "wrapper with a continuous action space, or use a built-in task."
            )
        self.num_actions = int(np.prod(space.shape))
        self._action_shape = tuple(space.shape)
        self._action_dtype = space.dtype
        low = np.asarray(space.low, dtype=np.float64).reshape(-1)
        high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        self._action_low, self._action_high = low, high
        finite = np.isfinite(low) & np.isfinite(high)
        low_f, high_f = np.where(finite, low, 0.0), np.where(finite, high, 0.0)
        # a = low + (u + 1) / 2 · (high − low) for u ∈ [−1, 1]  ⇔  a = centre + half · u
        self._action_centre = (low_f + high_f) / 2.0
        self._action_half = np.where(finite, (high_f - low_f) / 2.0, 1.0)
        self._action_finite = finite
        self._action_all_finite = bool(finite.all())
        self._action_unit_box = bool(np.all(low == -1.0) and np.all(high == 1.0))
        self._clip_only = self.action_transform == "rescale" and self._action_unit_box and len(space.shape) == 1

    def _init_observation_space(self, gym: Any, space: Any) -> None:
        self._groups, self._dict_obs = observation_groups(
            space,
            "GymnasiumVecEnv",
            is_box=lambda sub: isinstance(sub, gym.spaces.Box),
            is_dict=lambda sub: isinstance(sub, gym.spaces.Dict),
            fix_nested=" Fix: flatten nested entries with a Gymnasium observation wrapper.",
            fix_other=" Fix: wrap the env with gymnasium.wrappers.FlattenObservation.",
        )

    def _resolve_time_limit(self, venv: Any, max_episode_length: int | None) -> int:
        if max_episode_length is None:
            spec = getattr(venv, "spec", None)
            max_episode_length = getattr(spec, "max_episode_steps", None)
            if max_episode_length is None:
                specs = [getattr(e, "spec", None) for e in getattr(venv, "envs", [])]
                steps = {getattr(s, "max_episode_steps", None) for s in specs}
                max_episode_length = steps.pop() if len(steps) == 1 else None
        return _check_time_limit(max_episode_length, " (the env spec gives no max_episode_steps)")

    # --------------------------------------------------------------------------------------------- conversion
    def _tensor(self, array: Any) -> torch.Tensor:
        # np.array always copies: the vector env may reuse its buffers on the next step
        return self._from_numpy(np.array(array, dtype=np.float32))

    def _from_numpy(self, array: np.ndarray) -> torch.Tensor:
        """A tensor on ``device`` from an array this adapter owns (shares its memory on CPU)."""
        tensor = torch.from_numpy(array)
        return tensor if self._on_cpu else tensor.to(self.device)

    def _to_tensordict(self, obs: Any) -> TensorDict:
        if self._dict_obs:
            data = {key: self._tensor(obs[key]) for key in self._groups}
        else:
            data = {"policy": self._tensor(obs)}
        return self._new_tensordict(data, batch_size=self._batch_size, device=self.device)

    def _final_obs_numpy(self, obs: Any, infos: Mapping[str, Any], ended: np.ndarray) -> Any:
        """``obs`` with the rows of the sub-envs a SAME_STEP vector env reset replaced by ``infos["final_obs"]``."""
        rows = np.flatnonzero(ended)
        if self._dict_obs:
            final = {key: np.array(obs[key], dtype=np.float32) for key in self._groups}
            for i in rows:
                for key in self._groups:
                    final[key][i] = infos["final_obs"][i][key]
            return final
        final = np.array(obs, dtype=np.float32)
        for i in rows:
            final[i] = infos["final_obs"][i]
        return final

    def _actions_to_numpy(self, actions: torch.Tensor) -> np.ndarray:
        if actions.shape != (self.num_envs, self.num_actions) and actions.shape != (self.num_envs, *self._action_shape):
            raise EnvContractError(
                f"GymnasiumVecEnv.step: actions must have shape ({self.num_envs}, {self.num_actions}), got "
                f"{tuple(actions.shape)}. Fix: pass one action vector per env."
            )
        if actions.requires_grad:
            actions = actions.detach()
        a = (actions if actions.is_cpu else actions.cpu()).numpy()
        if self._clip_only:
            # [low, high] = [-1, 1] in every dimension of a 1-D Box: rescaling is the identity, only the clip
            # remains; np.maximum allocates, so the caller's tensor memory never reaches the env (two ufuncs cost
            # half of np.clip's dispatch; NaN still propagates)
            a = np.maximum(a, -1.0)
            np.minimum(a, 1.0, out=a)
            return a if a.dtype == self._action_dtype else a.astype(self._action_dtype)
        a = a.reshape(self.num_envs, self.num_actions)
        if self.action_transform == "rescale":
            # a_env = centre + half · clip(u, −1, 1) where both bounds are finite, u elsewhere
            scaled = self._action_centre + self._action_half * np.clip(a, -1.0, 1.0)
            a = scaled if self._action_all_finite else np.where(self._action_finite, scaled, a)
        elif self.action_transform == "clip":
            a = np.clip(a, self._action_low, self._action_high)
        else:
            a = a.copy()  # never hand the caller's tensor memory to the env
        return a.reshape(self.num_envs, *self._action_shape).astype(self._action_dtype, copy=False)

    # ------------------------------------------------------------------------------------------------ VecEnv API
    def get_observations(self) -> TensorDict:
        """Return the current observations. Shape per group: (num_envs, *space.shape)."""
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step every sub-env once and reset the ones whose episode ended (same-step reset).

        Args:
            actions: Shape: (num_envs, num_actions); transformed as ``action_transform`` says.

        Returns:
            ``(obs, rewards, dones, extras)``: ``extras`` holds ``time_outs``, ``final_obs`` (the last observation
            of the episodes that ended; other rows repeat the returned observation) and ``episode = {"return":
            (k,), "length": (k,)}`` for the ``k`` episodes that ended.
        """
        obs_np, reward_np, terminated, truncated, infos = self.venv.step(self._actions_to_numpy(actions))
        if terminated.dtype != np.bool_ or truncated.dtype != np.bool_:  # Gymnasium's vector envs give bool arrays
            terminated, truncated = terminated.astype(bool), truncated.astype(bool)
        lengths = self._episodes.count(reward_np)
        rewards = self._from_numpy(reward_np.astype(np.float32))
        # done = terminated ∨ truncated (Gymnasium's or the adapter's limit)
        dones = terminated | truncated | (lengths >= self.max_episode_length)
        dones_t = self._from_numpy(dones)
        if not dones.any():
            self._obs = self._to_tensordict(obs_np)
            extras: dict[str, Any] = {
                "time_outs": self._from_numpy(np.zeros(self.num_envs, dtype=bool)),
                "final_obs": self._obs,
                "episode": self._episodes.no_episodes,
            }
            return self._obs, rewards, dones_t, extras
        # a time-out is a done that is not a termination
        time_outs = dones & ~terminated
        if self.autoreset_mode == "same_step":
            # the vector env already reset the sub-envs it ended; their last observation is in infos["final_obs"]
            ended = np.asarray(infos.get("_final_obs", np.zeros(self.num_envs, dtype=bool)), dtype=bool)
            final_obs = self._to_tensordict(self._final_obs_numpy(obs_np, infos, ended) if ended.any() else obs_np)
            to_reset = dones & ~ended  # episodes that only the adapter's time limit ended
        else:
            final_obs = self._to_tensordict(obs_np)
            to_reset = dones  # NEXT_STEP / DISABLED: reset now, so no reset step ever reaches the caller
        if to_reset.any():
            obs_np, _ = self.venv.reset(options={"reset_mask": to_reset})
            self._check_batch(obs_np, "reset(options={'reset_mask': ...})")
        self._obs = self._to_tensordict(obs_np)
        episode = self._episodes.close(lengths, np.flatnonzero(dones), dones_t)
        extras = {"time_outs": self._from_numpy(time_outs), "final_obs": final_obs, "episode": episode}
        return self._obs, rewards, dones_t, extras

    def _check_batch(self, obs: Any, call: str) -> None:
        """Refuse observations whose leading dimension is not ``num_envs`` (tensors are built unchecked)."""
        arrays = [obs[key] for key in self._groups] if self._dict_obs else [obs]
        sizes = {int(np.shape(array)[0]) if np.ndim(array) > 0 else 0 for array in arrays}
        if sizes != {self.num_envs}:
            raise EnvContractError(
                f"GymnasiumVecEnv: the vector env's {call} returned observations for {sorted(sizes)} envs, expected "
                f"{self.num_envs} (one row per sub-env). A vector env must return every sub-env's observation; "
                "envpool-style partial resets that return only the reset envs are not supported."
            )

    @property
    def render_fps(self) -> int:
        """Frames per second of the env's real time (``metadata["render_fps"]``, 30 when not given)."""
        return int(self.venv.metadata.get("render_fps") or 30)

    def render_frame(self, index: int = 0) -> np.ndarray:
        """Sub-env ``index`` as an RGB image (the env must be built with ``render_mode="rgb_array"``).

        Returns:
            Shape: (height, width, 3), uint8.

        Raises:
            ConfigError: If the vector env renders no RGB frames.
        """
        frames = self.venv.render()
        if frames is None or len(frames) <= index or frames[index] is None:
            raise ConfigError(
                f"GymnasiumVecEnv: {self.cfg['env_id']} rendered no RGB frame (render_mode is "
                f"{getattr(self.venv, 'render_mode', None)!r}); build it with env_kwargs={{'render_mode': "
                "'rgb_array'}."
            )
        return np.asarray(frames[index], dtype=np.uint8)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint needs to continue every episode exactly where it stopped; {} when it cannot.

        For in-process (``"sync"``) MuJoCo envs: each simulator's full state, its reset generator and time-limit
        counter (:mod:`stride.env.adapters.mujoco_state`), plus the adapter's current observations and episode
        counters. Other envs give {}: a resumed run then starts from the env as built.
        """
        sims = mujoco_env_state(getattr(self.venv, "envs", None))
        if sims is None:
            return {}
        autoreset = getattr(self.venv, "_autoreset_envs", None)
        return {
            "mujoco": sims,
            "observations": {key: value.clone() for key, value in self._obs.items()},
            "episode_lengths": self._episodes.lengths.clone(),
            "episode_returns": torch.from_numpy(self._episodes.returns.copy()),
            "autoreset_envs": None if autoreset is None else torch.from_numpy(np.array(autoreset, dtype=bool)),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (nothing for {}).

        Raises:
            CheckpointError: If the state does not fit this env (another task or env count).
        """
        if not state:
            return
        load_mujoco_env_state(getattr(self.venv, "envs", None), state["mujoco"])
        if state["autoreset_envs"] is not None and hasattr(self.venv, "_autoreset_envs"):
            self.venv._autoreset_envs = state["autoreset_envs"].numpy().copy()
        self._obs = self._new_tensordict(
            {key: value.to(self.device) for key, value in state["observations"].items()},
            batch_size=self._batch_size,
            device=self.device,
        )
        self._episodes.lengths = state["episode_lengths"].to(self.device).clone()
        self._episodes.returns = state["episode_returns"].numpy().copy()

    def close(self) -> None:
        """Close the vector env (ends the worker processes of an asynchronous one)."""
        self.venv.close()


def make_gymnasium_env(
    env_id: str,
    num_envs: int = 16,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **kwargs: Any,
) -> GymnasiumVecEnv:
    """Build a :class:`GymnasiumVecEnv` from a Gymnasium id (what ``make_task("gym:<id>")`` calls).

    Args:
        env_id: Registered Gymnasium id, e.g. ``"HalfCheetah-v5"``.
        num_envs: Number of copies (>= 1).
        device: Torch device of the returned tensors.
        seed: Sub-env ``i`` is seeded with ``seed + i``.
        **kwargs: Further :class:`GymnasiumVecEnv` options (``vectorization_mode``, ``autoreset_mode``,
            ``action_transform``, ``max_episode_length``, ``env_kwargs``).

    Returns:
        The adapter.

    Raises:
        ConfigError: If an option is unknown or invalid, or the env cannot be built.
    """
    check_options(
        f"gym:{env_id}",
        kwargs,
        ("vectorization_mode", "autoreset_mode", "action_transform", "max_episode_length", "env_kwargs"),
    )
    return GymnasiumVecEnv(env_id, num_envs=num_envs, device=device, seed=seed, **kwargs)
