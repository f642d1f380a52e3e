"""The on-policy runner: rollout, update, logging and checkpoints around PPO (rsl_rl's surface)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from torch import nn

from stride.algorithms.ppo import PPO
from stride.runners.base_runner import BaseRunner
from stride.utils.checkpoint import SCHEMA_VERSION
from stride.utils.compile import CompileMode
from stride.utils.distillation_checkpoint import is_rsl_rl_distillation_checkpoint, student_as_actor

__all__ = ["OnPolicyRunner"]

_log = logging.getLogger(__name__)


class OnPolicyRunner(BaseRunner[PPO]):
    """Train an on-policy algorithm (PPO) on a VecEnv.

    Args:
        env: Any object following the VecEnv contract.
        train_cfg: rsl_rl v5 style dict (runner keys + ``algorithm``, ``actor``, ``critic``); never modified.
        log_dir: Run directory for config, checkpoints, TensorBoard, metrics.jsonl and the plot; None logs nothing
            to disk.
        device: Device of models and storage (the env may live elsewhere; tensors are moved).

    Raises:
        ConfigError: On an unknown key or invalid value, before the first env step.
    """

    algorithm_class: ClassVar[Any] = PPO
    runner_class: ClassVar[str] = "OnPolicyRunner"
    model_sections: ClassVar[tuple[str, ...]] = ("actor", "critic")
    load_parts: ClassVar[tuple[str, ...]] = ("actor", "critic", "optimizer", "iteration", "rng", "env", "extensions")
    load_aliases: ClassVar[dict[str, str]] = {"rnd": "extensions"}

    def _construct_kwargs(self) -> dict[str, Any]:
        return {"env": self.env}

    def _compile(self, mode: CompileMode) -> None:
        self.alg.compile(mode)

    def _models(self) -> dict[str, nn.Module]:
        return {"actor": self.alg.actor, "critic": self.alg.critic}

    def _policy_scalars(self) -> dict[str, float]:
        scalars = {"Policy/mean_std": float(self.alg.action_std())}
        for ext in self.alg.extensions:
            scalars.update({k: float(v) for k, v in ext.stats().items()})
        return scalars

    def _prepare_checkpoint(
        self, data: dict[str, Any], version: int | None, parts: dict[str, bool], strict: bool
    ) -> tuple[dict[str, Any], dict[str, bool], list[str] | None]:
        """Convert rsl_rl checkpoints; a distillation checkpoint gives its student as the actor (PPO fine-tuning).

        The load_cfg parts are documented in :meth:`load`: ``actor``, ``critic`` (with the value normalizer),
        ``optimizer``, ``iteration`` (with the running episode statistics), ``rng``, ``env``, ``extensions``
        (rsl_rl's ``rnd`` is accepted for it).
        """
        if "student_state_dict" in data or is_rsl_rl_distillation_checkpoint(data):
            # fine-tuning a distilled student with PPO: only the actor comes from the checkpoint
            converted, notes = student_as_actor(data, self.alg.actor, strict)
            _log.info("distillation checkpoint: the student is loaded as the actor (%s)", "; ".join(notes))
            only_actor = {k: k == "actor" and v for k, v in parts.items()}
            return converted, only_actor, None
        if version is not None and version >= SCHEMA_VERSION:
            return data, parts, None
        converted, notes = self.alg.convert_checkpoint(data, strict)
        return converted, parts, notes if notes is not None else ["same key layout as schema 1, loaded as is"]

    def _check_ready(self) -> None:
        self.alg.check_trainable()
