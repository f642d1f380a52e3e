"""The distillation runner: a student learns from a frozen PPO teacher (rsl_rl's ``DistillationRunner`` surface)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

from stride.algorithms.distillation import Distillation
from stride.runners.base_runner import BaseRunner
from stride.utils.checkpoint import SCHEMA_VERSION
from stride.utils.compile import CompileMode
from stride.utils.distillation_checkpoint import (
    actor_input_size,
    actor_state_for_teacher,
)
from stride.utils.errors import CheckpointError, ConfigError

__all__ = ["DistillationRunner"]

_log = logging.getLogger(__name__)


class DistillationRunner(BaseRunner[Distillation]):
    """Distill a PPO teacher into a student on a VecEnv (DAgger: the student acts, the teacher labels).

    Load the teacher before learning: ``runner.load(ppo_checkpoint)`` takes the checkpoint's actor (stride's or
    rsl_rl's, with its observation normalizer) as the teacher and nothing else; loading a distillation checkpoint
    resumes it (student, teacher, optimizer, iteration, generators, task state).

    Args:
        env: Any object following the VecEnv contract, with the observation groups of both sets.
        train_cfg: rsl_rl v5 style dict (runner keys + ``algorithm``, ``student``, ``teacher``); never modified.
        log_dir: Run directory for config, checkpoints, TensorBoard, metrics.jsonl and the plot; None logs nothing
            to disk.
        device: Device of models and storage (the env may live elsewhere; tensors are moved).

    Raises:
        ConfigError: On an unknown key or invalid value, or without a ``student`` or ``teacher`` section, before the
            first env step.
    """

    algorithm_class: ClassVar[Any] = Distillation
    runner_class: ClassVar[str] = "DistillationRunner"
    model_sections: ClassVar[tuple[str, ...]] = ("student", "teacher")
    load_parts: ClassVar[tuple[str, ...]] = ("student", "teacher", "optimizer", "iteration", "rng", "env")

    def _construct_kwargs(self) -> dict[str, Any]:
        return {"clip_actions": self.runner_cfg.clip_actions}

    def _compile(self, mode: CompileMode) -> None:
        self.alg.compile(mode)

    def _models(self) -> dict[str, nn.Module]:
        return {"student": self.alg.student, "teacher": self.alg.teacher}

    def _policy_scalars(self) -> dict[str, float]:
        return {
            "Policy/beta": self.alg.last_beta,
            "Policy/student_action_fraction": self.alg.last_student_action_fraction,
        }

    def _is_resume(self, parts: Mapping[str, bool]) -> bool:
        # loading only a teacher starts a new run: init_at_random_ep_len still applies
        return parts["iteration"]

    def _check_ready(self) -> None:
        if not self.alg.teacher_loaded:
            raise ConfigError(
                "DistillationRunner.learn: no teacher weights are loaded (the teacher still has its random "
                "initialization); expected runner.load(<checkpoint of the PPO run that trained the teacher>) before "
                "learn(). From the command line: stride distill --teacher RUN_DIR --task TASK."
            )

    def _prepare_checkpoint(
        self, data: dict[str, Any], version: int | None, parts: dict[str, bool], strict: bool
    ) -> tuple[dict[str, Any], dict[str, bool], list[str] | None]:
        """Resume a distillation checkpoint (stride's or rsl_rl's), or take a PPO checkpoint's actor as the teacher.

        load_cfg parts: ``student``, ``teacher``, ``optimizer``, ``iteration`` (with the β schedule position, the
        recurrent states and the running episode statistics), ``rng``, ``env``. From a PPO checkpoint only the
        teacher is restored.
        """
        converted, notes = self.alg.convert_checkpoint(data, strict)
        if notes is not None:
            return converted, parts, notes
        if "student_state_dict" in data or "teacher_state_dict" in data:
            if version is None or version < SCHEMA_VERSION:
                return data, parts, ["same key layout as schema 1, loaded as is"]
            return data, parts, None
        # a PPO checkpoint: its actor is the teacher, nothing else is taken
        if not parts["teacher"]:
            raise CheckpointError(
                "it is a PPO checkpoint, which holds only a teacher for distillation, but load_cfg excludes "
                "'teacher'; load it with the teacher part (the default)"
            )
        self._check_teacher_observations(data)
        state, notes = actor_state_for_teacher(data, self.alg.teacher, strict)
        if notes:
            _log.info("teacher loaded from an rsl_rl checkpoint: %s", "; ".join(notes))
        return {"teacher_state_dict": state}, {k: k == "teacher" for k in parts}, None

    def _check_teacher_observations(self, data: Mapping[str, Any]) -> None:
        """Refuse a PPO checkpoint whose actor read other observation groups or sizes than the teacher config.

        Raises:
            CheckpointError: Listing the checkpoint's groups and sizes and the teacher config's.
        """
        ours = self.obs_spec["teacher"]
        size = sum(_numel(shape) for shape in ours.values())
        spec = data.get("obs_spec")
        theirs = spec.get("actor") if isinstance(spec, Mapping) else None
        if isinstance(theirs, Mapping):
            saved = {str(g): [int(s) for s in shape] for g, shape in theirs.items()}
            if saved == ours:
                return
            found = f"its actor read {_describe(saved)}"
        else:
            input_size = actor_input_size(data)
            if input_size is None or input_size == size:
                return
            found = f"its actor read an input of size {input_size} (the checkpoint does not record its groups)"
        raise CheckpointError(
            f"the teacher checkpoint does not match the teacher config: {found}, but the teacher config reads "
            f"{_describe(ours)} (obs_groups.teacher = {list(ours)}). Set obs_groups.teacher to the groups the PPO "
            "actor was trained on (same sizes, same order), or distill on the env the teacher was trained with."
        )


def _numel(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _describe(spec: Mapping[str, list[int]]) -> str:
    """``groups {'teacher': [3]} (total size 3)``."""
    total = sum(_numel(shape) for shape in spec.values())
    return f"groups {dict(spec)} (total size {total})"
