"""Checkpoint layouts around distillation: teachers from PPO checkpoints, rsl_rl's StudentTeacher, student → actor.

Three conversions: a teacher's weights from a PPO checkpoint's actor, rsl_rl's distillation checkpoints into stride's
layout, and a distilled student as the actor of a PPO run (fine-tuning).

rsl_rl has written two distillation layouts:

- **2.x-3.x**: ``model_state_dict`` of one ``StudentTeacher`` / ``StudentTeacherRecurrent`` module (``student.N.*``,
  ``teacher.N.*``, ``std`` or ``log_std``, ``memory_s.*`` / ``memory_t.*`` for recurrent networks,
  ``student_obs_normalizer.*`` / ``teacher_obs_normalizer.*`` from 3.0). Release 2.3 kept the normalizers in the
  runner as ``obs_norm_state_dict`` (student) and ``privileged_obs_norm_state_dict`` (teacher).
- **4.x-5.x**: ``student_state_dict`` and ``teacher_state_dict`` of two models (4.x keeps the Gaussian std as
  ``std`` / ``log_std`` on the model, 5.x in ``distribution.*``, which is stride's layout).

A teacher is loaded from a PPO checkpoint's actor: stride's (``actor_state_dict``) or rsl_rl's in any layout that
:func:`~stride.utils.rsl_rl_checkpoint.convert_rsl_rl_checkpoint` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from stride.utils.errors import CheckpointError
from stride.utils.rsl_rl_checkpoint import (
    _STD_KEYS,
    CONVERSION_NOTES_KEY,
    RslRlLayout,
    _check_against_models,
    _convert_single_module,
    _convert_two_models,
    _Converted,
    _remap_optimizer,
    _strip_compile_prefix,
    is_rsl_rl_checkpoint,
    rsl_rl_layout,
)

__all__ = [
    "actor_input_size",
    "actor_state_for_teacher",
    "convert_rsl_rl_distillation_checkpoint",
    "is_rsl_rl_distillation_checkpoint",
    "rsl_rl_distillation_layout",
    "student_as_actor",
]

# (old prefix, model, new prefix) of the single-module StudentTeacher layout; first match wins
_OLD_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("student_obs_normalizer.", "student", "obs_normalizer."),
    ("teacher_obs_normalizer.", "teacher", "obs_normalizer."),
    ("memory_s.", "student", "rnn."),
    ("memory_t.", "teacher", "rnn."),
    ("student.", "student", "mlp."),
    ("teacher.", "teacher", "mlp."),
)
# runner-level normalizers of rsl_rl 2.3: the student's observations and the teacher's ("privileged") ones
_RUNNER_NORMS = (("obs_norm_state_dict", "student"), ("privileged_obs_norm_state_dict", "teacher"))
_NAMES = ("student", "teacher")


def is_rsl_rl_distillation_checkpoint(data: object) -> bool:
    """Whether ``data`` is a distillation checkpoint written by rsl_rl (any release) rather than by stride.

    Args:
        data: A loaded checkpoint.

    Returns:
        True for a dict without stride's ``schema_version`` holding a ``model_state_dict`` with StudentTeacher keys
        (rsl_rl 2.x-3.x) or both ``student_state_dict`` and ``teacher_state_dict`` (rsl_rl 4.x-5.x).
    """
    if not isinstance(data, Mapping) or "schema_version" in data:
        return False
    model = data.get("model_state_dict")
    if isinstance(model, Mapping):
        prefixes = tuple(prefix for prefix, _, _ in _OLD_PREFIXES)
        return any(str(key).removeprefix("_orig_mod.").startswith(prefixes) for key in model)
    return isinstance(data.get("student_state_dict"), Mapping) and isinstance(data.get("teacher_state_dict"), Mapping)


def rsl_rl_distillation_layout(data: Mapping[str, Any]) -> RslRlLayout:
    """The release family whose layout an rsl_rl distillation checkpoint follows.

    Args:
        data: A dict for which :func:`is_rsl_rl_distillation_checkpoint` is true.

    Returns:
        ``"2.x"`` (normalizers outside the module, or none), ``"3.x"`` (normalizers inside ``model_state_dict``),
        ``"4.x"`` (std on the models) or ``"5.x"``.

    Raises:
        CheckpointError: If ``data`` is not an rsl_rl distillation checkpoint.
    """
    if not is_rsl_rl_distillation_checkpoint(data):
        raise CheckpointError(
            "not an rsl_rl distillation checkpoint: expected a 'model_state_dict' with 'student.*'/'teacher.*' keys "
            "or 'student_state_dict' + 'teacher_state_dict', and no 'schema_version'; got keys "
            f"{sorted(map(str, data))}."
        )
    if isinstance(data.get("model_state_dict"), Mapping):
        model = _strip_compile_prefix(data["model_state_dict"])
        if any(key.startswith(("student_obs_normalizer.", "teacher_obs_normalizer.")) for key in model):
            return "3.x"
        return "2.x"
    states = [_strip_compile_prefix(data[f"{name}_state_dict"]) for name in _NAMES]
    return "4.x" if any(key in state for state in states for key in _STD_KEYS) else "5.x"


def convert_rsl_rl_distillation_checkpoint(
    data: Mapping[str, Any], student: nn.Module, teacher: nn.Module | None, strict: bool = True
) -> dict[str, Any]:
    """Convert an rsl_rl distillation checkpoint into the dict stride's ``Distillation.load_state_dict`` reads.

    Tensors are renamed (``student.N.weight`` → student ``mlp.N.weight``, ``memory_s.rnn.*`` → ``rnn.rnn.*``,
    ``std`` → student ``distribution.std_param``, ...) and checked against the models. rsl_rl 2.x-3.x kept no std for
    the teacher; when the stride teacher has one (its config mirrors the PPO actor's) the student's is copied into it,
    which changes nothing since the teacher acts with its mean. The optimizer state is re-indexed to stride's
    (the student's trainable parameters).

    Args:
        data: The loaded checkpoint (not modified; tensors are shared, not copied).
        student: The stride student model.
        teacher: The stride teacher model, or None to convert and check the student only.
        strict: Require the converted keys to equal the models' keys exactly (shape mismatches always raise).

    Returns:
        A new dict with ``student_state_dict``, ``teacher_state_dict`` (when ``teacher`` is given), and when present
        ``optimizer_state_dict``, ``iter``, ``infos``; plus :data:`CONVERSION_NOTES_KEY`, a list of notes.

    Raises:
        CheckpointError: If ``data`` is not an rsl_rl distillation checkpoint, holds a key with no stride
            counterpart, or does not match the models (every mismatched key is listed with both shapes).
    """
    layout = rsl_rl_distillation_layout(data)
    notes: list[str] = [f"rsl_rl {layout} distillation checkpoint converted to stride's layout"]
    models: dict[str, nn.Module] = {"student": student}
    if teacher is not None:
        models["teacher"] = teacher
    if layout in ("2.x", "3.x"):
        converted, order = _split_student_teacher(data, notes)
    else:
        converted, order = {}, []
        for name in _NAMES:
            state = _strip_compile_prefix(data[f"{name}_state_dict"])
            converted[name] = {
                (_STD_KEYS.get(key, key) if layout == "4.x" else key): (tensor, f"{name}_state_dict.{key}")
                for key, tensor in state.items()
            }
        # rsl_rl 4.x-5.x optimized the student's parameters only
        order = [("student", key) for key in converted["student"]]
        if layout == "4.x":
            notes.append("std/log_std → distribution.std_param/log_std_param")
    if teacher is not None:
        _fill_teacher_std(converted, teacher, notes)
    _check_against_models({name: converted[name] for name in models}, models, layout, strict)
    out: dict[str, Any] = {
        f"{name}_state_dict": {key: tensor for key, (tensor, _) in converted[name].items()} for name in models
    }
    optimizer = data.get("optimizer_state_dict")
    if isinstance(optimizer, Mapping):
        remap_models = models if layout in ("2.x", "3.x") else {"student": student}
        remapped = _remap_optimizer(optimizer, [o for o in order if o[0] in remap_models], remap_models, notes)
        if remapped is not None:
            out["optimizer_state_dict"] = remapped
    for key in ("iter", "infos"):
        if key in data:
            out[key] = data[key]
    out[CONVERSION_NOTES_KEY] = notes
    return out


def actor_state_for_teacher(data: Mapping[str, Any], teacher: nn.Module, strict: bool = True) -> tuple[Any, list[str]]:
    """The actor state dict of a PPO checkpoint (stride's or rsl_rl's), to load into a teacher.

    Args:
        data: A loaded PPO checkpoint.
        teacher: The stride teacher model (its config must be the PPO run's actor config).
        strict: Require the keys to equal the teacher's (shape mismatches always raise).

    Returns:
        ``(state_dict, notes)``; notes describe an rsl_rl conversion (empty for stride's checkpoints).

    Raises:
        CheckpointError: If ``data`` holds no actor, or an rsl_rl actor that does not match the teacher.
    """
    if not is_rsl_rl_checkpoint(data):
        if "actor_state_dict" not in data:
            raise CheckpointError(
                f"the checkpoint holds no teacher weights: expected a PPO checkpoint ('actor_state_dict') or a "
                f"distillation one ('teacher_state_dict'), got keys {sorted(map(str, data))}"
            )
        return data["actor_state_dict"], []
    layout = rsl_rl_layout(data)
    notes = [f"rsl_rl {layout} PPO checkpoint: its actor becomes the teacher"]
    if layout in ("2.x", "3.x"):
        converted, _ = _convert_single_module(data, notes)
    else:
        converted, _ = _convert_two_models(data, layout, notes)
    _check_against_models({"actor": converted["actor"]}, {"actor": teacher}, layout, strict)
    return {key: tensor for key, (tensor, _) in converted["actor"].items()}, notes


def actor_input_size(data: Mapping[str, Any]) -> int | None:
    """Size of the (concatenated) observation a PPO checkpoint's actor reads, from its first layer's weights.

    Args:
        data: A loaded PPO checkpoint (stride's or rsl_rl's, any layout).

    Returns:
        The input size, or None when no known first layer is found.
    """
    if isinstance(data.get("model_state_dict"), Mapping):
        state = _strip_compile_prefix(data["model_state_dict"])
        keys = ("actor_obs_normalizer._mean", "memory_a.rnn.weight_ih_l0", "actor.0.weight")
    elif isinstance(data.get("actor_state_dict"), Mapping):
        state = _strip_compile_prefix(data["actor_state_dict"])
        keys = ("obs_normalizer._mean", "rnn.rnn.weight_ih_l0", "mlp.0.weight")
    else:
        return None
    for key in keys:
        tensor = state.get(key)
        if isinstance(tensor, torch.Tensor) and tensor.dim() == 2:
            return int(tensor.shape[1])
    return None


def student_as_actor(
    data: Mapping[str, Any], actor: nn.Module, strict: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """The student of a distillation checkpoint (stride's or rsl_rl's) as the actor of a PPO checkpoint.

    Used to fine-tune a distilled student with PPO: the actor's config must be the student's (same class, groups,
    sizes, normalization and distribution).

    Args:
        data: A loaded distillation checkpoint.
        actor: The PPO actor that receives the weights.
        strict: As in :func:`convert_rsl_rl_distillation_checkpoint`.

    Returns:
        ``({"actor_state_dict": ...}, notes)``.

    Raises:
        CheckpointError: If the student does not match the actor (every mismatched key is listed).
    """
    if "student_state_dict" in data and "schema_version" in data:
        return {"actor_state_dict": data["student_state_dict"]}, ["student_state_dict → actor_state_dict"]
    converted = convert_rsl_rl_distillation_checkpoint(data, actor, None, strict)
    notes = [*converted[CONVERSION_NOTES_KEY], "student → actor"]
    return {"actor_state_dict": converted["student_state_dict"]}, notes


# ---------------------------------------------------------------------------------------------- helpers
def _split_student_teacher(
    data: Mapping[str, Any], notes: list[str]
) -> tuple[dict[str, _Converted], list[tuple[str, str]]]:
    """Split the ``model_state_dict`` of one StudentTeacher module into student and teacher state dicts."""
    model = _strip_compile_prefix(data["model_state_dict"])
    converted: dict[str, _Converted] = {"student": {}, "teacher": {}}
    order: list[tuple[str, str]] = []
    unknown: list[str] = []
    for key, tensor in model.items():
        target = _map_key(key)
        if target is None:
            unknown.append(key)
            continue
        converted[target[0]][target[1]] = (tensor, key)
        order.append(target)
    if unknown:
        raise CheckpointError(
            f"rsl_rl distillation checkpoint 'model_state_dict' has keys with no stride counterpart: {unknown}. stride "
            "converts rsl_rl's StudentTeacher and StudentTeacherRecurrent modules (keys student.*, teacher.*, std, "
            "log_std, memory_s.*, memory_t.*, student/teacher_obs_normalizer.*)."
        )
    notes.append("model_state_dict split into student (student.* → mlp.*) and teacher (teacher.* → mlp.*)")
    for source, name in _RUNNER_NORMS:
        state = data.get(source)
        if isinstance(state, Mapping):
            for key, tensor in state.items():
                converted[name][f"obs_normalizer.{key}"] = (tensor, f"{source}.{key}")
            notes.append(f"runner-level {source} → {name} obs_normalizer.*")
    return converted, order


def _map_key(key: str) -> tuple[str, str] | None:
    if key in _STD_KEYS:
        return "student", _STD_KEYS[key]
    for prefix, name, new_prefix in _OLD_PREFIXES:
        if key.startswith(prefix):
            return name, new_prefix + key[len(prefix) :]
    return None


def _fill_teacher_std(converted: dict[str, _Converted], teacher: nn.Module, notes: list[str]) -> None:
    """Give the teacher the student's std when the checkpoint has none for it (it is never used)."""
    expected = teacher.state_dict()
    for key in _STD_KEYS.values():
        if key in expected and key not in converted["teacher"] and key in converted["student"]:
            tensor, source = converted["student"][key]
            if isinstance(tensor, torch.Tensor) and tuple(tensor.shape) == tuple(expected[key].shape):
                converted["teacher"][key] = (tensor, source)
                notes.append(
                    f"teacher {key}: not in the checkpoint, the student's copied (unused: the teacher acts "
                    "with its mean)"
                )
