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
from stride.config.intake import intake, plain_config
from stride.config.schema import RunnerCfg
from stride.env.checker import LiveCheck
from stride.env.episodes import EndedEpisodes
from stride.env.vec_env import VecEnv
from stride.logging import ConsoleView, RunLogger
from stride.logging.writers import open_writers, resolve_backends, upload_files
from stride.modules.rnn import clone_hidden
from stride.runners.export import export_jit, export_onnx
from stride.utils.checkpoint import SCHEMA_VERSION, atomic_save, load_checkpoint
from stride.utils.compile import CompileMode
from stride.utils.distributed import rank_local_parts, setup_distributed, start_distributed_learning
from stride.utils.errors import CheckpointError, ConfigError
from stride.utils.git_state import record_git_state
from stride.utils.nonfinite import EnvGuard, check_finite_step
from stride.utils.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = ["BaseRunner", "ObsSpec", "RunnerAlgorithm", "RunnerLogger", "observation_spec", "plain_config"]

ExtraLogs = dict[str, list[tuple[torch.Tensor, torch.Tensor | None]]]
"""Per ``extras`` key, each step's ``(values, mask)``: a mask marks the values that count (None: all of them)."""

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
        # one door: migrate (any rsl_rl / Isaac Lab / mjlab format), validate, resolve
        config = intake(train_cfg, self.runner_class, self.model_sections, stacklevel=3)
        self.runner_cfg: RunnerCfg = config.runner
        # rsl_rl's runner.cfg: the config as a dict (a copy with every runner key; downstream code reads it)
        self.cfg: dict[str, Any] = config.settings
        self.train_cfg = config.recorded
        self.device = torch.device(device)
        self.log_dir = log_dir
        # torchrun: join the process group (rank 0 of 1 otherwise); each rank samples with seed + rank
        self._dist = setup_distributed(self.device)
        if self.runner_cfg.seed is not None:
            seed_everything(self.runner_cfg.seed + self._dist.rank)
        obs = env.get_observations()
        # the contract is checked without stepping: here what can be, the rest on the first steps of learn()
        self._live_check = LiveCheck(env, obs) if self.runner_cfg.check_env else None
        obs = obs.to(self.device)
        if self.runner_cfg.check_for_nan:
            check_finite_step(obs, None, "reset (get_observations)")
        # the per-step env guard: in deferred mode it sanitizes on the device and raises once per rollout
        self._env_guard = (
            EnvGuard(self.runner_cfg.nan_check_mode, num_steps=self.runner_cfg.num_steps_per_env, device=self.device)
            if self.runner_cfg.check_for_nan
            else None
        )
        self.alg: AlgT = self._build_algorithm(obs, config.sections)
        if self.runner_cfg.torch_compile_mode is not None:
            self._compile(self.runner_cfg.torch_compile_mode)
        self.obs_spec: ObsSpec = observation_spec(obs, self._models())
        # W&B / Neptune / TensorBoard writers are resolved now so a bad logger config fails before any env step
        self._log_backends = resolve_backends(
            self.runner_cfg.logger,
            self.train_cfg,
            config={"runner": self.train_cfg, "env": plain_config(getattr(self.env, "cfg", {}))},
        )
        self.current_learning_iteration = 0
        self.total_env_steps = 0
        self.git_status_repos: list[str] = []
        self._logger: RunLogger | None = None
        self._loaded = False
        self._ep_return: torch.Tensor | None = None
        self._ep_length: torch.Tensor | None = None
        # recurrent models' states at the end of the last learn(): restored by the next one (see _rollout_models)
        self._rollout_states: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------ subclass hooks
    def _build_algorithm(self, obs: TensorDict, sections: Mapping[str, Any]) -> AlgT:
        """Build the algorithm and its models from the migrated config with ``algorithm_class.construct``."""
        return self.algorithm_class.construct(
            obs,
            self.env.num_envs,
            self.env.num_actions,
            self.runner_cfg.num_steps_per_env,
            sections,
            self.runner_cfg.obs_groups,
            self.device,
            **self._construct_kwargs(),
        )

    def _construct_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``algorithm_class.construct`` beyond the common ones."""
        return {}

    def _compile(self, mode: CompileMode) -> None:
        """Compile the algorithm's hot-path model calls (``torch_compile_mode``); runners without them refuse.

        Raises:
            ConfigError: The runner has no compiled path.
        """
        raise ConfigError(f"torch_compile_mode={mode!r}: the {self.runner_class} has no compiled path; set it to null.")

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
        obs = env.get_observations()
        if self._live_check is not None and not self._live_check.finished:
            self._live_check.before_rollout(env, obs)
        if init_at_random_ep_len and not self._loaded:
            # uniform in [0, T) per env; T may be one int or a per-env tensor
            horizon = torch.as_tensor(env.max_episode_length, device=env.episode_length_buf.device)
            uniform = torch.rand(env.episode_length_buf.shape, device=env.episode_length_buf.device)
            env.episode_length_buf = (uniform * horizon).long().clamp(max=horizon - 1)
        logger = self._open_logger()
        obs = obs.to(self.device)
        alg.train_mode()
        self._restore_rollout_states()
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
        self._stash_rollout_states()
        if (
            self.log_dir is not None
            and self._dist.is_main  # torchrun: only rank 0 writes
            and self.current_learning_iteration > start_it
            and not self._is_save_point(self.current_learning_iteration - 1)  # else the loop just wrote it
        ):
            self.save(self.checkpoint_path(self.current_learning_iteration))
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
        env, alg, cfg = self.env, self.alg, self.runner_cfg
        num_envs = env.num_envs
        live_check = self._live_check
        for it in range(start_it, total_it):
            t0 = time.perf_counter()
            ended = torch.zeros(3, device=self.device)  # sum of returns, sum of lengths, count
            extra_logs: ExtraLogs = {}
            with torch.inference_mode():
                for step in range(cfg.num_steps_per_env):
                    actions = alg.act(obs)
                    if cfg.clip_actions is not None:
                        actions = actions.clamp(-cfg.clip_actions, cfg.clip_actions)
                    obs, rewards, dones, extras = env.step(actions.to(env.device))
                    if live_check is not None:
                        # the contract of the first steps' outputs, as the env returned them
                        live_check.after_step(obs, rewards, dones, extras)
                        live_check = None if live_check.finished else live_check
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
            if self.log_dir is not None and self._is_save_point(it) and self._dist.is_main:  # only rank 0 writes
                self.save(self.checkpoint_path(it + 1))
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
        record = self.git_status_repos and self.runner_cfg.store_code_state
        diffs = record_git_state(self.git_status_repos, self.log_dir) if record else []
        upload_files(self._logger.writers, [config_path, *diffs])
        return self._logger

    def _sync_timing(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _iteration_scalars(
        self,
        ended: torch.Tensor,
        losses: Mapping[str, float],
        extra_logs: ExtraLogs,
        collect_time: float,
        learn_time: float,
    ) -> dict[str, float]:
        ret_sum, len_sum, count = ended.tolist()
        steps = self.runner_cfg.num_steps_per_env * self.env.num_envs * self._dist.world_size  # all ranks' steps
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
        for key, parts in extra_logs.items():
            mean = _mean_of_extras(parts, self.device)
            if mean is not None:
                name = key[1:] if key.startswith("/") else f"Episode/{key}"
                scalars[name] = mean
        return scalars

    # ------------------------------------------------------------------------------------------ checkpoints
    def _is_save_point(self, it: int) -> bool:
        """rsl_rl's save points: after iteration ``it`` (0-based) when ``it % save_interval == 0``."""
        return it % self.runner_cfg.save_interval == 0

    def checkpoint_path(self, completed_iterations: int) -> str:
        """Where the checkpoint after ``completed_iterations`` goes: rsl_rl's name, ``model_{index}.pt``.

        rsl_rl names a checkpoint after the 0-based index of the iteration that just finished (``model_0.pt`` after
        the first, ``model_999.pt`` at the end of 1,000), so Isaac Lab's and mjlab's ``--checkpoint model_N.pt``
        find the same file. The checkpoint's ``iter`` holds the number of completed iterations, the iteration a
        resumed run starts from.

        Raises:
            ValueError: If the runner has no ``log_dir``.
        """
        if self.log_dir is None:
            raise ValueError("this runner has no log_dir; pass a path to save() instead")
        return os.path.join(self.log_dir, f"model_{max(completed_iterations - 1, 0)}.pt")

    @property
    def logger(self) -> RunnerLogger:
        """rsl_rl's ``runner.logger``: the run directory, the repositories whose git state is recorded, uploads."""
        return RunnerLogger(self)

    def save(self, path: str, infos: dict[str, Any] | None = None) -> None:
        """Write a complete, resumable checkpoint atomically (rsl_rl key names where they exist)."""
        state = self.alg.state_dict()
        state.update(
            {
                "schema_version": SCHEMA_VERSION,
                "num_envs": int(self.env.num_envs),
                "learning_rate": self.alg.learning_rate,
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
        self.logger.save_model(path, self.current_learning_iteration)

    def _parse_load_cfg(self, load_cfg: Mapping[str, bool] | None) -> dict[str, bool]:
        """rsl_rl's meaning: None restores every part; a dict restores exactly the parts it names true."""
        if load_cfg is None:
            return dict.fromkeys(self.load_parts, True)
        parts = dict.fromkeys(self.load_parts, False)
        unknown = sorted(str(k) for k in load_cfg if k not in parts and k not in self.load_aliases)
        if unknown:
            raise ConfigError(
                f"load_cfg has unknown parts {unknown}; known parts: {sorted(parts)}"
                f"{f' (and the aliases {sorted(self.load_aliases)})' if self.load_aliases else ''}; a part not named "
                "true is not loaded."
            )
        parts.update({k: bool(v) for k, v in load_cfg.items() if k not in self.load_aliases})
        for alias, part in self.load_aliases.items():
            if alias in load_cfg and part not in load_cfg:
                parts[part] = bool(load_cfg[alias])
        return parts

    def _same_num_envs(self, data: Mapping[str, Any]) -> bool:
        """Whether the checkpoint was made with this runner's number of envs (logs once when not)."""
        saved = data.get("num_envs")
        if saved is None:  # checkpoints without the count: their running episode statistics tell
            runner_state = data.get("runner_state")
            returns = runner_state.get("episode_return") if isinstance(runner_state, Mapping) else None
            saved = int(returns.shape[0]) if isinstance(returns, torch.Tensor) and returns.dim() == 1 else None
        if saved is None or int(saved) == int(self.env.num_envs):
            return True
        _log.info(
            "checkpoint made with %d envs, this runner has %d: per-env state (episode statistics, recurrent states, "
            "task state) is not restored",
            int(saved),
            int(self.env.num_envs),
        )
        return False

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
            load_cfg: Parts to restore, as in rsl_rl: None restores everything the checkpoint holds for this runner;
                a dict restores exactly the parts it names true (see the runner's ``load_parts``). Per-env state is
                restored only into a runner with the checkpoint's number of envs.
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
            # per-env state (running episode statistics, recurrent states, a built-in task's state) only fits a
            # runner with the checkpoint's number of envs: play scripts use 50 envs and export 1
            same_envs = self._same_num_envs(data)
            runner_state = data.get("runner_state")
            restore_episodes = parts["iteration"] and same_envs and isinstance(runner_state, Mapping)
            if restore_episodes and isinstance(runner_state, Mapping):
                for key in ("episode_return", "episode_length"):
                    value = runner_state.get(key)
                    if not isinstance(value, torch.Tensor) or tuple(value.shape) != (self.env.num_envs,):
                        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                        raise CheckpointError(f"runner_state.{key}: shape {shape}, expected ({self.env.num_envs},)")
            self.alg.load_state_dict(
                data, {**parts, "recurrent_state": same_envs and parts.get("recurrent_state", True)}, strict
            )
            env_load = getattr(self.env, "load_state_dict", None)
            if parts["env"] and same_envs and "env_state" in data and callable(env_load):
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
        self._rollout_states = {}  # the loaded recurrent states (if any) are the ones to continue from
        infos = data.get("infos")
        return infos if isinstance(infos, dict) else None

    def _rollout_models(self) -> dict[str, nn.Module]:
        """The algorithm's recurrent models by attribute name (PPO's actor/critic, distillation's student/teacher)."""
        models = {name: getattr(self.alg, name, None) for name in ("actor", "critic", "student", "teacher")}
        return {
            name: model
            for name, model in models.items()
            if isinstance(model, nn.Module) and getattr(model, "is_recurrent", False)
        }

    def _stash_rollout_states(self) -> None:
        """Keep a copy of the recurrent states the training envs reached (learn() ends here)."""
        self._rollout_states = {
            name: clone_hidden(model.get_hidden_state())  # type: ignore[operator]
            for name, model in self._rollout_models().items()
        }

    def _restore_rollout_states(self) -> None:
        """Put back the training envs' recurrent states of the last learn() (learn() starts here).

        Between two learn() calls the same models may act elsewhere: an evaluation through
        :meth:`get_inference_policy` on other envs (another number of them, too) leaves its states in the models, as
        in rsl_rl. Training continues from its own envs' states instead, as if nothing ran in between (a ``load``
        drops the copy: the checkpoint's states win).
        """
        stashed, self._rollout_states = self._rollout_states, {}
        for name, model in self._rollout_models().items():
            if name in stashed:
                model.reset(hidden_state=stashed[name])  # type: ignore[operator]

    # ----------------------------------------------------------------------------------------------- policy
    def get_inference_policy(self, device: str | None = None) -> nn.Module:
        """The acting model in eval mode: ``policy(obs)`` returns deterministic actions."""
        self.alg.eval_mode()
        policy = self.alg.get_policy()
        return policy.to(device) if device is not None else policy

    def export_policy_to_jit(self, path: str, filename: str = "policy.pt") -> None:
        """Write the deterministic policy (PPO actor or distillation student) as TorchScript (see docs/export.md)."""
        export_jit(self.alg.get_policy(), path, filename)

    def export_policy_to_onnx(self, path: str, filename: str = "policy.onnx", verbose: bool = False) -> None:
        """Write the deterministic policy as ONNX, opset 18, rsl_rl's input/output names (see docs/export.md)."""
        export_onnx(self.alg.get_policy(), path, filename, verbose)

    def add_git_repo_to_log(self, repo_file_path: str) -> None:
        """Register a repository whose git state is saved in the run directory."""
        self.git_status_repos.append(repo_file_path)


class RunnerLogger:
    """rsl_rl's ``runner.logger`` over a stride runner: what Isaac Lab's and mjlab's code reach for.

    Args:
        runner: The runner whose run directory, writers and git repositories this view shows.
    """

    def __init__(self, runner: BaseRunner[Any]) -> None:
        self._runner = runner

    @property
    def log_dir(self) -> str | None:
        """The run directory (None: nothing is written to disk)."""
        return self._runner.log_dir

    @property
    def git_status_repos(self) -> list[str]:
        """Files whose repositories' git state is saved in the run directory (the runner's own list)."""
        return self._runner.git_status_repos

    @property
    def logger_type(self) -> str:
        """The ``logger`` setting's name: 'tensorboard', 'wandb', 'neptune' or a writer's ``class_name``."""
        logger = self._runner.runner_cfg.logger
        return logger if isinstance(logger, str) else str(logger.get("class_name", ""))

    @property
    def writer(self) -> object | None:
        """The first writer of the open run (None outside ``learn`` or without a run directory)."""
        run = self._runner._logger
        return run.writers[0] if run is not None and run.writers else None

    def save_model(self, path: str, it: int) -> None:
        """Upload a checkpoint to W&B / Neptune when such a logger is open and ``upload_model`` is on."""
        run = self._runner._logger
        if run is not None and self._runner.runner_cfg.upload_model:
            upload_files(run.writers, [path])

    def save_file(self, path: str) -> None:
        """Upload a file to W&B / Neptune when such a logger is open."""
        run = self._runner._logger
        if run is not None:
            upload_files(run.writers, [path])


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


def _collect_extras(extras: Mapping[str, Any], out: ExtraLogs) -> None:
    """Gather ``extras['episode']`` / ``extras['log']`` values of one step (reduced once per iteration).

    Each value is kept as ``(values, mask)``: the built-in tasks' :class:`EndedEpisodes` give fixed-shape tensors
    and their done mask (no selection, so no host sync per step); any other tensor or number counts whole.
    """
    for section in ("episode", "log"):
        values = extras.get(section)
        if isinstance(values, EndedEpisodes):
            for key, (full, mask) in values.masked().items():
                out.setdefault(key, []).append((full.detach(), mask))
            continue
        if not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                out.setdefault(key, []).append((value.detach(), None))
            elif isinstance(value, (int, float)):
                out.setdefault(key, []).append((torch.tensor(float(value)), None))


def _mean_of_extras(parts: list[tuple[torch.Tensor, torch.Tensor | None]], device: torch.device) -> float | None:
    """Mean over every counted value of one key's steps (float64 sums, one host read); None when nothing counted."""
    whole = [v.reshape(-1).to(device, torch.float64) for v, m in parts if m is None]
    masked = [v.reshape(-1).to(device, torch.float64) for v, m in parts if m is not None]
    masks = [m.reshape(-1).to(device) for _, m in parts if m is not None]
    zero = torch.zeros((), dtype=torch.float64, device=device)
    # Σ v over whole values plus Σ v·1[mask] (masked values are 0 outside the mask); n = #whole + Σ 1[mask]
    value_sum = (torch.cat(whole).sum() if whole else zero) + (torch.cat(masked).sum() if masked else zero)
    count = (torch.cat(masks).sum(dtype=torch.float64) if masks else zero) + sum(w.numel() for w in whole)
    value_sum, count = torch.stack([value_sum, count]).tolist()
    return value_sum / count if count > 0 else None
