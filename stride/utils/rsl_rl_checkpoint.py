"""Conversion of rsl_rl checkpoints (releases 2.x to 5.x, and legged_gym's 1.x) into stride's state layout.

rsl_rl has written three checkpoint layouts for PPO:

- **2.x-3.x** (and legged_gym): ``model_state_dict`` of one ``ActorCritic`` module (``actor.N.*``, ``critic.N.*``,
  ``std`` or ``log_std``, ``memory_a.*``/``memory_c.*`` for recurrent policies, ``actor_obs_normalizer.*`` /
  ``critic_obs_normalizer.*`` from 3.0). Releases 2.1-2.3 kept the observation normalizers in the runner and
  saved them as ``obs_norm_state_dict`` and ``critic_obs_norm_state_dict`` (2.3: ``privileged_obs_norm_state_dict``).
- **4.x**: ``actor_state_dict`` / ``critic_state_dict`` of two models (``mlp.N.*``, ``obs_normalizer.*``), the
  Gaussian std as ``std`` / ``log_std`` on the actor.
- **5.x**: as 4.x with the std in the distribution module (``distribution.std_param`` / ``log_std_param``), which
  is stride's layout.

:func:`convert_rsl_rl_checkpoint` maps any of them to stride's keys, checks every tensor against the models it will
be loaded into, and re-indexes the optimizer state by parameter name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
from torch import nn

from stride.utils.errors import CheckpointError

__all__ = [
    "CONVERSION_NOTES_KEY",
    "RslRlLayout",
    "convert_rsl_rl_checkpoint",
    "is_rsl_rl_checkpoint",
    "rsl_rl_layout",
]

RslRlLayout = Literal["2.x", "3.x", "4.x", "5.x"]
"""The rsl_rl release family whose checkpoint layout a dict follows."""

CONVERSION_NOTES_KEY = "conversion_notes"
"""Key of the converted dict holding the list of human-readable notes about the conversion."""

_ModelName = str
"""Name of a model section (``"actor"``, ``"critic"``; ``"student"``, ``"teacher"`` for distillation)."""

# (old prefix, model, new prefix) of the single-module ActorCritic layout; first match wins
_OLD_PREFIXES: tuple[tuple[str, _ModelName, str], ...] = (
    ("actor_obs_normalizer.", "actor", "obs_normalizer."),
    ("critic_obs_normalizer.", "critic", "obs_normalizer."),
    ("actor_cnns.", "actor", "cnns."),
    ("critic_cnns.", "critic", "cnns."),
    ("memory_a.", "actor", "rnn."),
    ("memory_c.", "critic", "rnn."),
    ("actor.", "actor", "mlp."),
    ("critic.", "critic", "mlp."),
)
_STD_KEYS = {"std": "distribution.std_param", "log_std": "distribution.log_std_param"}
# runner-level normalizers of rsl_rl 2.1-2.3 (the critic's under two spellings)
_RUNNER_ACTOR_NORM = "obs_norm_state_dict"
_RUNNER_CRITIC_NORMS = ("critic_obs_norm_state_dict", "privileged_obs_norm_state_dict")
_PASS_THROUGH = ("rnd_state_dict", "rnd_optimizer_state_dict")

# (tensor, key it had in the rsl_rl checkpoint) per stride state-dict key
_Converted = dict[str, tuple[torch.Tensor, str]]


def is_rsl_rl_checkpoint(data: object) -> bool:
    """Whether ``data`` is a PPO checkpoint written by rsl_rl (any release) rather than by stride.

    Args:
        data: A loaded checkpoint.

    Returns:
        True for a dict without stride's ``schema_version`` holding ``model_state_dict`` (rsl_rl 2.x-3.x,
        legged_gym) or both ``actor_state_dict`` and ``critic_state_dict`` (rsl_rl 4.x-5.x).
    """
    if not isinstance(data, Mapping) or "schema_version" in data:
        return False
    if isinstance(data.get("model_state_dict"), Mapping):
        return True
    return isinstance(data.get("actor_state_dict"), Mapping) and isinstance(data.get("critic_state_dict"), Mapping)


def rsl_rl_layout(data: Mapping[str, Any]) -> RslRlLayout:
    """The release family whose layout an rsl_rl checkpoint follows.

    Args:
        data: A dict for which :func:`is_rsl_rl_checkpoint` is true.

    Returns:
        ``"2.x"`` (normalizers outside the model, or none), ``"3.x"`` (normalizers inside ``model_state_dict``),
        ``"4.x"`` (std on the actor) or ``"5.x"``. A 4.x checkpoint without a std parameter (state-dependent std)
        already has the 5.x layout and is reported as ``"5.x"``.

    Raises:
        CheckpointError: If ``data`` is not an rsl_rl PPO checkpoint.
    """
    if not is_rsl_rl_checkpoint(data):
        raise CheckpointError(
            f"not an rsl_rl PPO checkpoint: expected 'model_state_dict' or 'actor_state_dict' + 'critic_state_dict' "
            f"and no 'schema_version', got keys {sorted(map(str, data))}."
        )
    if isinstance(data.get("model_state_dict"), Mapping):
        model = data["model_state_dict"]
        if any(str(key).startswith(("actor_obs_normalizer.", "critic_obs_normalizer.")) for key in model):
            return "3.x"
        return "2.x"
    actor = _strip_compile_prefix(data["actor_state_dict"])
    return "4.x" if any(key in actor for key in _STD_KEYS) else "5.x"


def convert_rsl_rl_checkpoint(
    data: Mapping[str, Any], actor: nn.Module, critic: nn.Module, strict: bool = True
) -> dict[str, Any]:
    """Convert an rsl_rl PPO checkpoint into the dict stride's ``PPO.load_state_dict`` reads.

    Model tensors are renamed (``actor.N.weight`` → actor ``mlp.N.weight``, ``std`` → ``distribution.std_param``,
    ``actor_obs_normalizer._mean`` → ``obs_normalizer._mean``, runner-level normalizers → the models' ``obs_normalizer``
    ...) and checked against ``actor.state_dict()`` and ``critic.state_dict()``. The optimizer state is re-indexed
    from rsl_rl's parameter order (the saved module's, or actor then critic) to stride's (the trainable parameters of
    the actor, then of the critic); when that cannot be done safely it is dropped with a note. ``iter``, ``infos``
    and the RND states are passed through unchanged (rsl_rl's ``iter`` is the index of the last iteration run).

    Args:
        data: The loaded rsl_rl checkpoint (not modified; tensors are shared, not copied).
        actor: The stride actor model the checkpoint will be loaded into.
        critic: The stride critic model.
        strict: Require the converted keys to equal the models' keys exactly (shape mismatches always raise).

    Returns:
        A new dict with ``actor_state_dict``, ``critic_state_dict``, and when present in ``data``
        ``optimizer_state_dict``, ``iter``, ``infos``, ``rnd_state_dict``, ``rnd_optimizer_state_dict``; plus
        :data:`CONVERSION_NOTES_KEY`, a list of notes (layout found, what was moved, dropped or guessed).

    Raises:
        CheckpointError: If ``data`` is not an rsl_rl PPO checkpoint (e.g. a distillation checkpoint), holds a key
            with no stride counterpart, or does not match the models: the message lists every mismatched key with
            the checkpoint's and the model's shapes.
    """
    layout = rsl_rl_layout(data)
    notes: list[str] = [f"rsl_rl {layout} checkpoint converted to stride's layout"]
    if layout in ("2.x", "3.x"):
        converted, old_param_order = _convert_single_module(data, notes)
    else:
        converted, old_param_order = _convert_two_models(data, layout, notes)
    models: dict[_ModelName, nn.Module] = {"actor": actor, "critic": critic}
    _check_against_models(converted, models, layout, strict)
    out: dict[str, Any] = {
        f"{name}_state_dict": {key: tensor for key, (tensor, _) in converted[name].items()} for name in models
    }
    optimizer = data.get("optimizer_state_dict")
    if isinstance(optimizer, Mapping):
        remapped = _remap_optimizer(optimizer, old_param_order, models, notes)
        if remapped is not None:
            out["optimizer_state_dict"] = remapped
    for key in ("iter", "infos", *_PASS_THROUGH):
        if key in data:
            out[key] = data[key]
    if any(key in data for key in _PASS_THROUGH):
        notes.append("RND states passed through unchanged (rnd_state_dict, rnd_optimizer_state_dict)")
    out[CONVERSION_NOTES_KEY] = notes
    return out


# ---------------------------------------------------------------------------------------------- key mapping
def _strip_compile_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``_orig_mod.`` prefix ``torch.compile`` adds to the keys of a compiled module's state dict."""
    return {str(k).removeprefix("_orig_mod."): v for k, v in state.items()}


def _convert_single_module(
    data: Mapping[str, Any], notes: list[str]
) -> tuple[dict[_ModelName, _Converted], list[tuple[_ModelName, str]]]:
    """Split the ``model_state_dict`` of one ActorCritic module into actor and critic state dicts."""
    model = _strip_compile_prefix(data["model_state_dict"])
    if any(key.startswith(("student.", "teacher.", "memory_s.", "memory_t.")) for key in model):
        raise CheckpointError(
            "this is an rsl_rl distillation checkpoint (StudentTeacher: 'student.*', 'teacher.*' keys), not a PPO "
            "(ActorCritic) one. Load it with stride.runners.DistillationRunner.load (or OnPolicyRunner.load, which "
            "takes its student as the actor); see stride.utils.distillation_checkpoint."
        )
    converted: dict[_ModelName, _Converted] = {"actor": {}, "critic": {}}
    order: list[tuple[_ModelName, str]] = []  # every converted key in saved order (parameters filtered later)
    unknown: list[str] = []
    for key, tensor in model.items():
        target = _map_single_module_key(key)
        if target is None:
            unknown.append(key)
            continue
        name, new_key = target
        converted[name][new_key] = (tensor, key)
        order.append((name, new_key))
    if unknown:
        raise CheckpointError(
            f"rsl_rl checkpoint 'model_state_dict' has keys with no stride counterpart: {unknown}. stride converts "
            "rsl_rl's ActorCritic, ActorCriticRecurrent and ActorCriticCNN modules (keys actor.*, critic.*, std, "
            "log_std, memory_a.*, memory_c.*, actor_cnns.*, critic_cnns.*, actor/critic_obs_normalizer.*)."
        )
    notes.append("model_state_dict split into actor (actor.* → mlp.*) and critic (critic.* → mlp.*) state dicts")
    if any(key in model for key in _STD_KEYS):
        notes.append("std/log_std → actor distribution.std_param/log_std_param")
    _convert_runner_normalizers(data, converted, notes)
    return converted, order


def _map_single_module_key(key: str) -> tuple[_ModelName, str] | None:
    if key in _STD_KEYS:
        return "actor", _STD_KEYS[key]
    for prefix, name, new_prefix in _OLD_PREFIXES:
        if key.startswith(prefix):
            return name, new_prefix + key[len(prefix) :]
    return None


def _convert_runner_normalizers(
    data: Mapping[str, Any], converted: dict[_ModelName, _Converted], notes: list[str]
) -> None:
    """Move rsl_rl 2.1-2.3's runner-level observation normalizers into the models."""
    actor_norm = data.get(_RUNNER_ACTOR_NORM)
    critic_key = next((k for k in _RUNNER_CRITIC_NORMS if k in data), None)
    critic_norm = data.get(critic_key) if critic_key is not None else None
    if isinstance(critic_norm, Mapping) and isinstance(actor_norm, Mapping):
        # without a critic observation group, rsl_rl 2.x fed the critic the actor's normalized observations and never
        # updated the critic normalizer: its count stays 0 while the actor's grows
        critic_count, actor_count = critic_norm.get("count"), actor_norm.get("count")
        same_shape = _shape(critic_norm.get("_mean")) == _shape(actor_norm.get("_mean"))
        if _as_int(critic_count) == 0 and (_as_int(actor_count) or 0) > 0 and same_shape:
            critic_norm = actor_norm
            notes.append(
                f"{critic_key} was never updated (count 0; the env had no critic group, so rsl_rl 2.x normalized the "
                f"critic's input with the actor's normalizer): the critic gets {_RUNNER_ACTOR_NORM}"
            )
    sources: tuple[tuple[_ModelName, object, str | None], ...] = (
        ("actor", actor_norm, _RUNNER_ACTOR_NORM),
        ("critic", critic_norm, critic_key),
    )
    for name, state, source in sources:
        if not isinstance(state, Mapping):
            continue
        for key, tensor in state.items():
            converted[name][f"obs_normalizer.{key}"] = (tensor, f"{source}.{key}")
        notes.append(f"runner-level {source} → {name} obs_normalizer.*")


def _convert_two_models(
    data: Mapping[str, Any], layout: RslRlLayout, notes: list[str]
) -> tuple[dict[_ModelName, _Converted], list[tuple[_ModelName, str]]]:
    """rsl_rl 4.x/5.x: rename 4.x's actor ``std``/``log_std``; everything else already has stride's names."""
    converted: dict[_ModelName, _Converted] = {"actor": {}, "critic": {}}
    order: list[tuple[_ModelName, str]] = []
    names: tuple[_ModelName, ...] = ("actor", "critic")
    for name in names:
        raw = data[f"{name}_state_dict"]
        state = _strip_compile_prefix(raw)
        if any(str(k).startswith("_orig_mod.") for k in raw):
            notes.append(f"{name}_state_dict: torch.compile prefix '_orig_mod.' removed")
        for key, tensor in state.items():
            new_key = _STD_KEYS.get(key, key) if name == "actor" and layout == "4.x" else key
            converted[name][new_key] = (tensor, f"{name}_state_dict.{key}")
            order.append((name, new_key))
    if layout == "4.x":
        notes.append("actor std/log_std → distribution.std_param/log_std_param")
    return converted, order


def _shape(value: object) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _as_int(value: object) -> int | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return int(value.item())
    if isinstance(value, int):
        return value
    return None


# ------------------------------------------------------------------------------------------------ checking
def _check_against_models(
    converted: dict[_ModelName, _Converted], models: Mapping[_ModelName, nn.Module], layout: str, strict: bool
) -> None:
    """Raise one CheckpointError listing every key whose presence or shape differs from the models."""
    problems: list[str] = []
    for name, model in models.items():
        expected = model.state_dict()
        got = converted[name]
        for key, (tensor, source) in got.items():
            if not isinstance(tensor, torch.Tensor):
                problems.append(f"{name}.{key} (rsl_rl '{source}'): not a tensor but {type(tensor).__name__}")
            elif key in expected:
                if tuple(tensor.shape) != tuple(expected[key].shape):
                    problems.append(
                        f"{name}.{key} (rsl_rl '{source}'): checkpoint shape {tuple(tensor.shape)} vs model shape "
                        f"{tuple(expected[key].shape)}"
                    )
            elif strict:
                problems.append(
                    f"{name}.{key} (rsl_rl '{source}', shape {tuple(tensor.shape)}): in the checkpoint but not in "
                    "the model"
                )
        if strict:
            for key, tensor in expected.items():
                if key not in got:
                    problems.append(
                        f"{name}.{key} (model shape {tuple(tensor.shape)}): expected by the model but missing from "
                        "the checkpoint"
                    )
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise CheckpointError(
            f"rsl_rl {layout} checkpoint does not match the stride models ({len(problems)} mismatches):\n{listing}\n"
            "Build the models with the config the checkpoint was trained with (observation groups and their sizes, "
            "hidden_dims, obs_normalization, distribution_cfg); migrate an old config with "
            "stride.config.compat.migrate_train_cfg."
        )


# ---------------------------------------------------------------------------------------------- optimizer
def _remap_optimizer(
    optimizer: Mapping[str, Any],
    old_order: list[tuple[_ModelName, str]],
    models: Mapping[_ModelName, nn.Module],
    notes: list[str],
) -> dict[str, Any] | None:
    """Re-index an rsl_rl optimizer state from rsl_rl's parameter order to stride's; None (and a note) if unsafe.

    rsl_rl built its optimizer from ``policy.parameters()`` (2.x-3.x) or ``chain(actor.parameters(),
    critic.parameters())`` (4.x-5.x); both follow the saved state dicts' order, so the i-th parameter entry of the
    saved state is the i-th saved tensor that is a parameter of the stride models.
    """
    params = {name: dict(model.named_parameters()) for name, model in models.items()}
    old_names = [(name, key) for name, key in old_order if key in params[name]]
    # stride's optimizer holds each parameter once: encoders shared by actor and critic count as the actor's
    new_names: list[tuple[_ModelName, str]] = []
    seen: set[int] = set()
    for name, model in models.items():
        for key, p in model.named_parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                new_names.append((name, key))
    groups = optimizer.get("param_groups")
    state = optimizer.get("state")
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(state, Mapping):
        count = len(groups) if isinstance(groups, list) else "no"
        notes.append(
            f"optimizer state dropped: expected one parameter group, found {count}; the optimizer starts fresh"
        )
        return None
    old_ids = list(groups[0].get("params", []))
    if len(old_ids) != len(old_names):
        notes.append(
            f"optimizer state dropped: it covers {len(old_ids)} parameters but the checkpoint's models have "
            f"{len(old_names)}, so its order cannot be matched by name; the optimizer starts fresh"
        )
        return None
    old_id_by_name = dict(zip(old_names, old_ids, strict=True))
    new_state: dict[int, Any] = {}
    for new_index, name in enumerate(new_names):
        entry = state.get(old_id_by_name[name])
        if entry is None:
            continue  # no step taken for this parameter yet
        param_shape = tuple(params[name[0]][name[1]].shape)
        for value in entry.values() if isinstance(entry, Mapping) else ():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and tuple(value.shape) != param_shape:
                notes.append(
                    f"optimizer state dropped: the state of {name[0]}.{name[1]} has shape {tuple(value.shape)}, the "
                    f"parameter {param_shape}; the optimizer starts fresh"
                )
                return None
        new_state[new_index] = dict(entry)
    group = {k: v for k, v in groups[0].items() if k not in ("params", "param_names")}
    group["params"] = list(range(len(new_names)))
    # parameters stride does not train (a shared encoder's second name is trained, as the actor's)
    skipped = [f"{n}.{k}" for n, k in old_names if (n, k) not in set(new_names) and id(params[n][k]) not in seen]
    if skipped:
        notes.append(f"optimizer state of parameters stride does not train dropped: {skipped}")
    if old_names != new_names:
        notes.append("optimizer state re-indexed by parameter name from rsl_rl's parameter order to stride's")
    return {"state": new_state, "param_groups": [group]}
