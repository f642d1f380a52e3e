"""What every stride runner shares: the rollout loop, logging, checkpoints, the NaN guard, signals and seeding.

:class:`BaseRunner` owns the machinery; a runner subclass names its algorithm and model sections and fills in a
few hooks (building the algorithm, the scalars only it logs, how a foreign checkpoint is turned into its own
layout). ``OnPolicyRunner`` and ``DistillationRunner`` are the two subclasses.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import torch
import yaml
from tensordict import TensorDict
from torch import nn

from stride import __version__
from stride.config.compat import apply_compat
from stride.config.schema import RUNNER_CLASS_NAMES, RunnerCfg
from stride.config.strict import build, to_dict
from stride.env.checker import check_env
from stride.env.vec_env import VecEnv
from stride.logging import ConsoleView, RunLogger
from stride.logging.writers import open_writers, resolve_backends, upload_files
from stride.utils.checkpoint import SCHEMA_VERSION, atomic_save, load_checkpoint
from stride.utils.distributed import rank_local_parts, setup_distributed, start_distributed_learning
from stride.utils.errors import CheckpointError, ConfigError
from stride.utils.git_state import record_git_state
from stride.utils.nonfinite import EnvGuard, check_finite_step
from stride.utils.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = ["BaseRunner", "ObsSpec", "RunnerAlgorithm", "observation_spec"]

_log = logging.getLogger(__name__)

ObsSpec = dict[str, dict[str, list[int]]]
"""Model name → its observation groups, in order, each with its per-env shape: ``{"actor": {"policy": [3]}}``."""


class RunnerAlgorithm(Protocol):
    """What a runner calls on its algorithm (PPO and Distillation implement it)."""

    @property
    def learning_rate(self) -> float:
        """Current learning rate."""
        ...

    def act(self, obs: TensorDict) -> torch.Tensor:
        """Actions for the current observations. Shape: (num_envs, num_actions)."""
        ...

    def process_env_step(
        self, obs: TensorDict, rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> None:
        """Record the env's answer to the last actions."""
        ...

    def compute_returns(self, obs: TensorDict) -> None:
        """Finish the rollout (returns and advantages, or nothing)."""
        ...

    def update(self, iteration: int | None = None) -> dict[str, float]:
        """Learn from the rollout; mean losses (and ``skipped_updates``)."""
        ...

    def train_mode(self) -> None:
        """Models in training mode."""
        ...

    def eval_mode(self) -> None:
        """Models in evaluation mode."""
        ...

    def get_policy(self) -> nn.Module:
        """The acting model."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything the algorithm needs to resume."""
        ...

    def load_state_dict(
        self, state: Mapping[str, Any], load_cfg: Mapping[str, bool] | None = None, strict: bool = True
    ) -> None:
        """Restore the selected parts of :meth:`state_dict`."""
        ...


AlgT = TypeVar("AlgT", bound=RunnerAlgorithm)


def observation_spec(obs: Mapping[str, torch.Tensor], models: Mapping[str, nn.Module]) -> ObsSpec:
    """The observation groups each model reads, with their per-env shapes (saved in checkpoints).

    Args:
        obs: One step of observations (batch [num_envs]).
        models: Model name → model with an ``obs_groups`` list.

    Returns:
        ``{model name: {group: per-env shape}}``.
    """
    return {
        name: {
            str(g): [int(s) for s in obs[g].shape[1:]]
            for g in [*getattr(model, "obs_groups", []), *getattr(model, "image_groups", [])]
        }
        for name, model in models.items()
    }


def plain_config(value: Any) -> Any:
    """A YAML-safe copy of a config value (callables and classes become 'module:name' strings)."""
    if isinstance(value, Mapping):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_config(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value):
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', repr(value))}"
    return repr(value)


class BaseRunner(Generic[AlgT]):
    """Train an algorithm on a VecEnv: rollouts, updates, logging, checkpoints (rsl_rl's runner surface).

    Args:
        env: Any object following the VecEnv contract.
        train_cfg: rsl_rl v5 style dict (runner keys + the algorithm and model sections); never modified.
        log_dir: Run directory for config, checkpoints, TensorBoard, metrics.jsonl and the plot; None logs nothing
            to disk.
        device: Device of models and storage (the env may live elsewhere; tensors are moved).

    Raises:
        ConfigError: On an unknown key or invalid value, before the first env step.
    """

    algorithm_class: ClassVar[Any] = None
    """The algorithm class; its ``construct`` classmethod builds models, storage and the algorithm."""

    runner_class: ClassVar[str] = ""
    """The runner's ``class_name`` (``"OnPolicyRunner"``, ``"DistillationRunner"``)."""

    model_sections: ClassVar[tuple[str, ...]] = ()
    """The model sections of ``train_cfg`` this runner reads; the other runner's sections are refused."""

    load_parts: ClassVar[tuple[str, ...]] = ()
    """Parts :meth:`load` can restore selectively (``load_cfg`` keys)."""

    load_aliases: ClassVar[dict[str, str]] = {}
    """Other names accepted in ``load_cfg`` (rsl_rl's) → the part they select."""

    def __init__(
        self, env: VecEnv, train_cfg: Mapping[str, Any], log_dir: str | None = None, device: str = "cpu"
    ) -> None:
        self.env = env
        # older rsl_rl formats (policy: ActorCritic, empirical_normalization, ...) → v5, with one warning
        train_cfg = apply_compat(train_cfg, stacklevel=3)
        self.cfg = build(RunnerCfg, train_cfg)
        self._check_sections(train_cfg)
        recorded = to_dict(self.cfg)
        for section in _ALL_MODEL_SECTIONS:
            if section not in self.model_sections:
                recorded.pop(section, None)
        self.train_cfg = plain_config(recorded)
        self.device = torch.device(device)
        self.log_dir = log_dir
        # torchrun: join the process group (rank 0 of 1 otherwise); each rank samples with seed + rank
        self._dist = setup_distributed(self.device)
        if self.cfg.seed is not None:
            seed_everything(self.cfg.seed + self._dist.rank)
        obs = env.get_observations().to(self.device)
        if self.cfg.check_for_nan:
            check_finite_step(obs, None, "reset (get_observations)")
        # the per-step env guard: in deferred mode it sanitizes on the device and raises once per rollout
        self._env_guard = (
            EnvGuard(self.cfg.nan_check_mode, num_steps=self.cfg.num_steps_per_env, device=self.device)
            if self.cfg.check_for_nan
            else None
        )
        self.alg: AlgT = self._build_algorithm(obs, train_cfg)
        self.obs_spec: ObsSpec = observation_spec(obs, self._models())
        # W&B / Neptune / TensorBoard writers are resolved now so a bad logger config fails before any env step
        self._log_backends = resolve_backends(
            self.cfg.logger,
            self.train_cfg,
            config={"runner": self.train_cfg, "env": plain_config(getattr(self.env, "cfg", {}))},
        )
        # the contract check steps the env, so it runs only once the whole config is known to be valid
        if self.cfg.check_env:
            check_env(env)
        self.current_learning_iteration = 0
        self.total_env_steps = 0
        self.git_status_repos: list[str] = []
        self._logger: RunLogger | None = None
        self._loaded = False
        self._ep_return: torch.Tensor | None = None
        self._ep_length: torch.Tensor | None = None

    # ------------------------------------------------------------------------------------------ subclass hooks
    def _build_algorithm(self, obs: TensorDict, train_cfg: Mapping[str, Any]) -> AlgT:
        """Build the algorithm and its models from the (migrated) train_cfg with ``algorithm_class.construct``."""
        algorithm = train_cfg.get("algorithm")
        if (
            isinstance(algorithm, Mapping)
            and algorithm.get("schedule") == "linear"
            and algorithm.get("schedule_iterations") is None
            and self.cfg.max_iterations is not None
        ):
            # a linear learning-rate schedule spans the planned run (a copy: the user's dict is never changed)
            train_cfg = {**train_cfg, "algorithm": {**algorithm, "schedule_iterations": self.cfg.max_iterations}}
        return self.algorithm_class.construct(
            obs,
            self.env.num_envs,
            self.env.num_actions,
            self.cfg.num_steps_per_env,
            train_cfg,
            self.cfg.obs_groups,
            self.device,
            **self._construct_kwargs(),
        )

    def _construct_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``algorithm_class.construct`` beyond the common ones."""
        return {}

    def _models(self) -> dict[str, nn.Module]:
        """The algorithm's models by section name (for the observation spec)."""
        raise NotImplementedError

    def _policy_scalars(self) -> dict[str, float]:
        """Scalars logged after ``Policy/learning_rate`` (e.g. the action std, extension statistics)."""
        return {}

    def _check_ready(self) -> None:
        """Raise before :meth:`learn` does anything when training cannot start (e.g. no teacher loaded)."""

    def _prepare_checkpoint(
        self, data: dict[str, Any], version: int | None, parts: dict[str, bool], strict: bool
    ) -> tuple[dict[str, Any], dict[str, bool], list[str] | None]:
        """Turn a loaded checkpoint into this runner's layout and choose the parts to restore.

        Args:
            data: The loaded checkpoint.
            version: Its ``schema_version`` (None when absent, e.g. rsl_rl's).
            parts: The parts ``load_cfg`` selected.
            strict: As in :meth:`load`.

        Returns:
            ``(data, parts, notes)``; ``notes`` lists what was migrated (a warning is issued) or is None.
        """
        if version is None or version < SCHEMA_VERSION:
            return data, parts, ["same key layout as schema 1, loaded as is"]
        return data, parts, None

    def _is_resume(self, parts: Mapping[str, bool]) -> bool:
        """Whether a load with these parts continues a run (``learn`` then keeps the episode lengths as loaded)."""
        return True

    def _check_sections(self, train_cfg: Mapping[str, Any]) -> None:
        """Refuse a config written for the other runner (its ``class_name`` or its model sections)."""
        given = train_cfg.get("class_name")
        if isinstance(given, str) and RUNNER_CLASS_NAMES.get(given, self.runner_class) != self.runner_class:
            raise ConfigError(
                f"train_cfg.class_name is {given!r} but this is the {self.runner_class}; build "
                f"stride.runners.{RUNNER_CLASS_NAMES[given]} with this config."
            )
        foreign = [s for s in _ALL_MODEL_SECTIONS if s not in self.model_sections and train_cfg.get(s) is not None]
        if foreign:
            raise ConfigError(
                f"train_cfg has {foreign} section(s), which the {self.runner_class} does not read (it reads "
                f"{list(self.model_sections)}); actor/critic configure the OnPolicyRunner, student/teacher the "
                "DistillationRunner."
            )

    # -------------------------------------------------------------------------------------------------- learn
    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False) -> None:
        """Run ``num_learning_iterations`` iterations of rollout + update.

        Args:
            num_learning_iterations: Iterations to run from the current one.
            init_at_random_ep_len: Start every env at a random point of its time limit (decorrelates resets).
                Ignored after ``load`` so a resumed run continues exactly.
        """
        self._check_ready()
        env, alg = self.env, self.alg
        if init_at_random_ep_len and not self._loaded:
            # uniform in [0, T) per env; T may be one int or a per-env tensor
            horizon = torch.as_tensor(env.max_episode_length, device=env.episode_length_buf.device)
            uniform = torch.rand(env.episode_length_buf.shape, device=env.episode_length_buf.device)
            env.episode_length_buf = (uniform * horizon).long().clamp(max=horizon - 1)
        logger = self._open_logger()
        obs = env.get_observations().to(self.device)
        alg.train_mode()
        # torchrun: check that every rank trains the same thing, then start from rank 0's state
        start_distributed_learning(self)
        num_envs = env.num_envs
        # running return and length of every env's current episode, kept across learn() calls
        if self._ep_return is None or self._ep_length is None:
            self._ep_return = torch.zeros(num_envs, device=self.device)
            self._ep_length = torch.zeros(num_envs, device=self.device)
        start_it = self.current_learning_iteration
        total_it = start_it + num_learning_iterations
        try:
            with _StopOnSignal() as stop:
                self._loop(obs, logger, start_it, total_it, stop, self._ep_return, self._ep_length)
        except BaseException:
            logger.close()
            self._logger = None
            raise
        if self.log_dir is not None and self._dist.is_main:  # torchrun: only rank 0 writes
            self.save(os.path.join(self.log_dir, f"model_{self.current_learning_iteration}.pt"))
        plot = logger.close()
        self._logger = None
        if plot is not None:
            _log.info("learning curve written to %s", plot)
        if stop.signum is not None:
            _log.warning(
                "stopped by signal %d after iteration %d; checkpoint written",
                stop.signum,
                self.current_learning_iteration,
            )
            stop.reraise()

    def _loop(
        self,
        obs: TensorDict,
        logger: RunLogger,
        start_it: int,
        total_it: int,
        stop: _StopOnSignal,
        ep_return: torch.Tensor,
        ep_length: torch.Tensor,
    ) -> None:
        """The iterations of :meth:`learn`; returns early (after a whole iteration) when a stop signal arrived."""
        env, alg, cfg = self.env, self.alg, self.cfg
        num_envs = env.num_envs
        for it in range(start_it, total_it):
            t0 = time.perf_counter()
            ended = torch.zeros(3, device=self.device)  # sum of returns, sum of lengths, count
            extra_logs: dict[str, list[torch.Tensor]] = {}
            with torch.inference_mode():
                for step in range(cfg.num_steps_per_env):
                    actions = alg.act(obs)
                    if cfg.clip_actions is not None:
                        actions = actions.clamp(-cfg.clip_actions, cfg.clip_actions)
                    obs, rewards, dones, extras = env.step(actions.to(env.device))
                    obs, rewards, dones = (
                        obs.to(self.device),
                        rewards.to(self.device, torch.float32),
                        dones.to(self.device),
                    )
                    if self._env_guard is not None:
                        obs, rewards, dones, extras = self._env_guard.check_step(obs, rewards, dones, extras, step, it)
                    alg.process_env_step(obs, rewards, dones, extras)
                    # episode statistics on the device, read once per iteration
                    done_f = dones.to(torch.float32)
                    ep_return += rewards
                    ep_length += 1.0
                    ended += torch.stack([(ep_return * done_f).sum(), (ep_length * done_f).sum(), done_f.sum()])
                    ep_return *= 1.0 - done_f
                    ep_length *= 1.0 - done_f
                    _collect_extras(extras, extra_logs)
                if self._env_guard is not None:
                    self._env_guard.raise_if_bad(it)  # before returns and the update: nothing bad is learned from
                alg.compute_returns(obs)
            self._sync_timing()
            t1 = time.perf_counter()
            losses = alg.update(iteration=it)
            self._sync_timing()
            t2 = time.perf_counter()
            self.current_learning_iteration = it + 1
            self.total_env_steps += cfg.num_steps_per_env * num_envs * self._dist.world_size  # all ranks' steps
            scalars = self._iteration_scalars(ended, losses, extra_logs, t1 - t0, t2 - t1)
            logger.log(it, scalars, start_iteration=start_it, total_iterations=total_it)
            if self.log_dir is not None and self._dist.is_main and (it + 1) % cfg.save_interval == 0:
                self.save(os.path.join(self.log_dir, f"model_{it + 1}.pt"))
            if stop.signum is not None:
                return

    def _open_logger(self) -> RunLogger:
        if self._logger is not None:
            return self._logger
        if not self._dist.is_main:  # torchrun: only rank 0 logs and writes
            self._logger = RunLogger(None)
            return self._logger
        if self.log_dir is None:
            self._logger = RunLogger.create(None)
            return self._logger
        os.makedirs(self.log_dir, exist_ok=True)
        config_path = os.path.join(self.log_dir, "config.yaml")
        with open(config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(
                {"runner": self.train_cfg, "env": plain_config(getattr(self.env, "cfg", {}))},
                handle,
                sort_keys=False,
            )
        self._logger = RunLogger(self.log_dir, open_writers(self._log_backends, self.log_dir), console=ConsoleView())
        diffs = record_git_state(self.git_status_repos, self.log_dir) if self.git_status_repos else []
        upload_files(self._logger.writers, [config_path, *diffs])
        return self._logger

    def _sync_timing(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _iteration_scalars(
        self,
        ended: torch.Tensor,
        losses: Mapping[str, float],
        extra_logs: Mapping[str, list[torch.Tensor]],
        collect_time: float,
        learn_time: float,
    ) -> dict[str, float]:
        ret_sum, len_sum, count = ended.tolist()
        steps = self.cfg.num_steps_per_env * self.env.num_envs * self._dist.world_size  # all ranks' steps
        scalars: dict[str, float] = {
            "Train/mean_reward": ret_sum / count if count > 0 else float("nan"),
            "Train/mean_episode_length": len_sum / count if count > 0 else float("nan"),
            "Train/num_episodes": count,
        }
        scalars.update({f"Loss/{k}": v for k, v in losses.items() if k != "skipped_updates"})
        scalars["Train/skipped_updates"] = losses.get("skipped_updates", 0.0)
        scalars["Policy/learning_rate"] = self.alg.learning_rate
        scalars.update(self._policy_scalars())
        scalars["Perf/total_fps"] = steps / max(collect_time + learn_time, 1e-9)
        scalars["Perf/collection_time"] = collect_time
        scalars["Perf/learning_time"] = learn_time
        scalars["Perf/total_steps"] = float(self.total_env_steps)
        for key, values in extra_logs.items():
            flat = torch.cat([v.reshape(-1).float() for v in values])
            if flat.numel() > 0:
                name = key[1:] if key.startswith("/") else f"Episode/{key}"
                scalars[name] = float(flat.mean())
        return scalars

    # ------------------------------------------------------------------------------------------ checkpoints
    def save(self, path: str, infos: dict[str, Any] | None = None) -> None:
        """Write a complete, resumable checkpoint atomically (rsl_rl key names where they exist)."""
        state = self.alg.state_dict()
        state.update(
            {
                "schema_version": SCHEMA_VERSION,
                "iter": self.current_learning_iteration,
                "total_env_steps": self.total_env_steps,
                "infos": infos,
                "config": self.train_cfg,
                "obs_spec": self.obs_spec,
                "rng_state": get_rng_state(),
            }
        )
        if self._ep_return is not None and self._ep_length is not None:
            state["runner_state"] = {
                "episode_return": self._ep_return.clone(),
                "episode_length": self._ep_length.clone(),
            }
        env_state = getattr(self.env, "state_dict", None)
        if callable(env_state):
            state["env_state"] = env_state()
        atomic_save(state, path)
        if self._logger is not None:
            upload_files(self._logger.writers, [path])

    def _parse_load_cfg(self, load_cfg: Mapping[str, bool] | None) -> dict[str, bool]:
        parts = dict.fromkeys(self.load_parts, True)
        if load_cfg is None:
            return parts
        unknown = sorted(str(k) for k in load_cfg if k not in parts and k not in self.load_aliases)
        if unknown:
            raise ConfigError(
                f"load_cfg has unknown parts {unknown}; known parts: {sorted(parts)} (a part not named is loaded)."
            )
        parts.update({k: bool(v) for k, v in load_cfg.items() if k not in self.load_aliases})
        for alias, part in self.load_aliases.items():
            if alias in load_cfg and part not in load_cfg:
                parts[part] = bool(load_cfg[alias])
        return parts

    def load(
        self,
        path: str,
        load_cfg: Mapping[str, bool] | None = None,
        strict: bool = True,
        map_location: str | None = None,
    ) -> dict[str, Any] | None:
        """Restore a checkpoint; returns its ``infos``.

        The checkpoint is checked against the models before anything changes. A checkpoint without
        ``schema_version`` (or an older one) is migrated with a warning (rsl_rl key layouts are converted); one
        written by a newer stride is refused.

        Args:
            path: Checkpoint file.
            load_cfg: Parts to restore (see the runner's ``load_parts``); a part not named is restored. None
                restores everything the checkpoint holds for this runner.
            strict: Require the checkpoint's keys to equal the models' (shape mismatches are always errors).
            map_location: Passed to ``torch.load``.

        Returns:
            The ``infos`` saved with the checkpoint.

        Raises:
            ConfigError: If ``load_cfg`` names an unknown part.
            CheckpointError: Naming ``path``, if the file is unreadable, from a newer stride, or does not match the
                models (every mismatched key is listed with the checkpoint's and the model's shape).
        """
        parts = self._parse_load_cfg(load_cfg)
        parts = rank_local_parts(parts, self._dist)  # torchrun: rank 0's env, RNG and recurrent states stay its own
        data = load_checkpoint(path, map_location=map_location or self.device)
        try:
            version = data.get("schema_version")
            if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
                raise CheckpointError(f"schema_version is {version!r}, expected an int (at most {SCHEMA_VERSION})")
            if version is not None and version > SCHEMA_VERSION:
                raise CheckpointError(
                    f"it has schema_version {version} but this stride ({__version__}) reads schema_version "
                    f"{SCHEMA_VERSION} and older: it was written by a newer stride. Upgrade stride "
                    "(pip install --upgrade stride) to load it."
                )
            data, parts, notes = self._prepare_checkpoint(data, version, parts, strict)
            if notes is not None:
                found = "no schema_version" if version is None else f"schema_version {version}"
                warnings.warn(
                    f"checkpoint '{path}' has {found} (current: {SCHEMA_VERSION}); migrated: {'; '.join(notes)}. "
                    "Save it again to store the current schema.",
                    UserWarning,
                    stacklevel=2,
                )
            # runner-level state is checked before the algorithm's load changes anything
            runner_state = data.get("runner_state")
            restore_episodes = parts["iteration"] and isinstance(runner_state, Mapping)
            if restore_episodes and isinstance(runner_state, Mapping):
                for key in ("episode_return", "episode_length"):
                    value = runner_state.get(key)
                    if not isinstance(value, torch.Tensor) or tuple(value.shape) != (self.env.num_envs,):
                        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                        raise CheckpointError(
                            f"runner_state.{key}: checkpoint shape {shape} vs ({self.env.num_envs},) for this env's "
                            "num_envs; load with load_cfg={'iteration': False, 'env': False} to take the models only"
                        )
            self.alg.load_state_dict(data, parts, strict)
            env_load = getattr(self.env, "load_state_dict", None)
            if parts["env"] and "env_state" in data and callable(env_load):
                env_load(data["env_state"])
            if parts["iteration"]:
                self.current_learning_iteration = int(data.get("iter", 0))
                self.total_env_steps = int(data.get("total_env_steps", 0))
                if restore_episodes and isinstance(runner_state, Mapping):
                    self._ep_return = runner_state["episode_return"].to(self.device, torch.float32)
                    self._ep_length = runner_state["episode_length"].to(self.device, torch.float32)
            if parts["rng"] and "rng_state" in data:
                set_rng_state(data["rng_state"])
        except CheckpointError as err:
            raise CheckpointError(f"cannot load checkpoint '{path}': {err}") from err
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
            raise CheckpointError(f"cannot load checkpoint '{path}' ({type(err).__name__}: {err})") from err
        self._loaded = self._loaded or self._is_resume(parts)
        infos = data.get("infos")
        return infos if isinstance(infos, dict) else None

    # ----------------------------------------------------------------------------------------------- policy
    def get_inference_policy(self, device: str | None = None) -> nn.Module:
        """The acting model in eval mode: ``policy(obs)`` returns deterministic actions."""
        self.alg.eval_mode()
        policy = self.alg.get_policy()
        return policy.to(device) if device is not None else policy

    def add_git_repo_to_log(self, repo_file_path: str) -> None:
        """Register a repository whose git state is saved in the run directory."""
        self.git_status_repos.append(repo_file_path)


_ALL_MODEL_SECTIONS = ("actor", "critic", "student", "teacher")


class _StopOnSignal:
    """Turns SIGINT/SIGTERM during training into "finish this iteration, checkpoint, then stop".

    Installed only in the main thread; a second signal of the same kind gets the default behaviour (immediate).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        # restore so that a second signal interrupts at once
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def reraise(self) -> None:
        """Re-raise the interruption the signal stood for."""
        if self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + (self.signum or 0))


def _collect_extras(extras: Mapping[str, Any], out: dict[str, list[torch.Tensor]]) -> None:
    """Gather ``extras['episode']`` / ``extras['log']`` values of one step (reduced once per iteration)."""
    for section in ("episode", "log"):
        values = extras.get(section)
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                out.setdefault(key, []).append(value.detach())
            elif isinstance(value, (int, float)):
                out.setdefault(key, []).append(torch.tensor(float(value)))
