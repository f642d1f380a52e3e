"""The off-policy runner: the shared rollout / update loop, logging and checkpoints around SAC or TD3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tensordict import TensorDict
from torch import nn

from stride.algorithms.off_policy import OffPolicyAlgorithm
from stride.algorithms.sac import SAC
from stride.algorithms.td3 import TD3
from stride.config.off_policy import OFF_POLICY_ALGORITHMS
from stride.config.strict import suggest
from stride.env.vec_env import VecEnv
from stride.runners.base_runner import BaseRunner, plain_config
from stride.utils.compile import CompileMode
from stride.utils.errors import ConfigError

__all__ = ["OffPolicyRunner"]

_ALGORITHMS: dict[str, type[OffPolicyAlgorithm]] = {"SAC": SAC, "TD3": TD3}


class OffPolicyRunner(BaseRunner[OffPolicyAlgorithm]):
    """Train an off-policy algorithm (SAC or TD3, by ``algorithm.class_name``) on a VecEnv.

    One iteration is ``num_steps_per_env`` steps of every env (each stored in the replay buffer) followed by
    ``algorithm.num_updates_per_step × num_steps_per_env`` gradient steps. Logging, checkpoints, the NaN guard,
    signals and seeding are the ``BaseRunner``'s, as for the ``OnPolicyRunner``.

    Args:
        env: Any object following the VecEnv contract (actions in [-1, 1], the env scales them).
        train_cfg: rsl_rl v5 style dict (runner keys + ``algorithm``, ``actor``, ``critic``); never modified.
        log_dir: Run directory for config, checkpoints, TensorBoard, metrics.jsonl and the plot; None logs nothing
            to disk.
        device: Device of models and replay buffer (the env may live elsewhere; tensors are moved).

    Raises:
        ConfigError: On an unknown key or invalid value, before the first env step.
    """

    runner_class: ClassVar[str] = "OffPolicyRunner"
    model_sections: ClassVar[tuple[str, ...]] = ("actor", "critic")
    load_parts: ClassVar[tuple[str, ...]] = ("actor", "critic", "optimizer", "iteration", "rng", "env", "replay_buffer")

    def __init__(
        self, env: VecEnv, train_cfg: Mapping[str, Any], log_dir: str | None = None, device: str = "cpu"
    ) -> None:
        super().__init__(env, train_cfg, log_dir, device)
        # record every default of the three sections (the runner's RunnerCfg knows only PPO's model defaults)
        self.train_cfg.update(plain_config(self.alg.sections))
        self.train_cfg["class_name"] = self.runner_class  # also when the caller's dict left it out

    def _build_algorithm(self, obs: TensorDict, train_cfg: Mapping[str, Any]) -> OffPolicyAlgorithm:
        """SAC or TD3 by ``algorithm.class_name`` (default SAC)."""
        section = train_cfg.get("algorithm") or {}
        name = section.get("class_name", "SAC") if isinstance(section, Mapping) else "SAC"
        if name not in _ALGORITHMS:
            raise ConfigError(
                f"'algorithm.class_name' must be one of {list(OFF_POLICY_ALGORITHMS)} for the OffPolicyRunner, got "
                f"{name!r}{suggest(str(name), OFF_POLICY_ALGORITHMS)}; PPO runs with the OnPolicyRunner."
            )
        return _ALGORITHMS[name].construct(
            obs,
            self.env.num_envs,
            self.env.num_actions,
            self.runner_cfg.num_steps_per_env,
            train_cfg,
            self.runner_cfg.obs_groups,
            self.device,
            env=self.env,
        )

    def _compile(self, mode: CompileMode) -> None:
        self.alg.compile(mode)

    def _models(self) -> dict[str, nn.Module]:
        return {"actor": self.alg.actor, "critic": self.alg.critic}

    def _policy_scalars(self) -> dict[str, float]:
        stats = self.alg.last_stats
        scalars = {f"Policy/{k}": v for k, v in stats.items() if k != "num_updates"}
        scalars["Train/num_updates"] = stats.get("num_updates", 0.0)
        scalars["Train/replay_size"] = float(len(self.alg.buffer))
        for ext in self.alg.extensions:
            scalars.update({k: float(v) for k, v in ext.stats().items()})
        return scalars
