"""Compare a checkpoint's states with the live models before anything is loaded.

``torch.nn.Module.load_state_dict`` stops at the first kind of problem and reports shapes one key at a time, after
it may already have copied some tensors. The functions here look at every key first and list all differences in
one :class:`~stride.utils.errors.CheckpointError`: missing keys, unexpected keys and shape mismatches, each with
the checkpoint's and the model's shape, prefixed by the part they belong to (``actor.mlp.0.weight``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stride.utils.errors import CheckpointError

__all__ = [
    "RSL_RL_RND_KEYS",
    "extension_state_mismatches",
    "match_state_dict",
    "mismatch_error",
    "optimizer_state_mismatches",
    "optional_state_mismatches",
    "state_dict_mismatches",
]

RSL_RL_RND_KEYS = ("rnd_state_dict", "rnd_optimizer_state_dict")
"""Top-level keys where rsl_rl keeps the state of its RND module (stride keeps it under ``extensions['rnd']``)."""

_HINT = (
    "Build the models with the config the checkpoint was trained with (observation groups and their sizes, "
    "hidden_dims, action size, obs_normalization, distribution_cfg, value_normalization, extensions)"
)


def _describe(value: object) -> str:
    """``checkpoint shape (3, 4)`` for a tensor, the type name otherwise."""
    if isinstance(value, torch.Tensor):
        return f"checkpoint shape {tuple(value.shape)}"
    return type(value).__name__


def _shape(value: object) -> str:
    """``(4, 32)`` for a tensor, the type name otherwise."""
    if isinstance(value, torch.Tensor):
        return str(tuple(value.shape))
    return f"a {type(value).__name__}, not a tensor"


def state_dict_mismatches(
    expected: Mapping[str, Any], state: object, strict: bool, what: str, source: str | None = None
) -> list[str]:
    """List every difference between a checkpoint state dict and the state dict a model expects.

    Args:
        expected: The model's own ``state_dict()`` (key → tensor).
        state: The checkpoint's state dict for that model (anything; a non-mapping is one problem).
        strict: Report missing and unexpected keys; shape mismatches are reported either way (they cannot load).
        what: Prefix naming the part, e.g. ``"actor"``.
        source: Checkpoint key the state came from (e.g. ``"actor_state_dict"``), for the message when it is
            absent; defaults to ``f"{what}_state_dict"``.

    Returns:
        One line per problem (empty when the state loads): ``"actor.mlp.0.weight: checkpoint shape (32, 6) vs
        model shape (32, 4)"``, ``"... expected by the model but missing from the checkpoint"``, ``"... in the
        checkpoint but not in the model"``.
    """
    if not isinstance(state, Mapping):
        got = "nothing" if state is None else f"a {type(state).__name__}"
        return [f"{what}: the checkpoint holds {got} under '{source or what + '_state_dict'}', expected a state dict"]
    problems: list[str] = []
    for key, tensor in expected.items():
        if key not in state:
            if strict:
                problems.append(
                    f"{what}.{key} (model shape {_shape(tensor)}): expected by the model but missing from the "
                    "checkpoint"
                )
            continue
        value = state[key]
        if isinstance(tensor, torch.Tensor) and (
            not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(tensor.shape)
        ):
            problems.append(f"{what}.{key}: checkpoint shape {_shape(value)} vs model shape {_shape(tensor)}")
    if strict:
        for key, value in state.items():
            if key not in expected:
                problems.append(
                    f"{what}.{key} (checkpoint shape {_shape(value)}): in the checkpoint but not in the model"
                )
    return problems


def match_state_dict(module: nn.Module, state: object, strict: bool, what: str) -> None:
    """Check that ``module.load_state_dict(state, strict=strict)`` can succeed, before it changes anything.

    Args:
        module: The model (or normalizer) that will receive the state.
        state: The checkpoint's state dict for it.
        strict: Also require the key sets to be equal (shape mismatches always count).
        what: Prefix naming the part in the message, e.g. ``"actor"``.

    Raises:
        CheckpointError: Listing every missing key, unexpected key and shape mismatch (checkpoint shape vs model
            shape), each prefixed by ``what``.
    """
    problems = state_dict_mismatches(module.state_dict(), state, strict, what)
    if problems:
        raise mismatch_error(problems, strict)


def optional_state_mismatches(
    module: nn.Module | None, state: object, strict: bool, what: str, option: str
) -> list[str]:
    """Like :func:`state_dict_mismatches` for a part that exists only when a config option is on.

    Args:
        module: The live part (e.g. the value normalizer), or None when the option is off.
        state: The checkpoint's state for it, or None when the checkpoint has none.
        strict: Report a part present on one side only.
        what: Prefix naming the part, e.g. ``"value_normalizer"``.
        option: The config field that switches the part on, for the message.

    Returns:
        One line per problem; empty when the part loads (or is absent on both sides).
    """
    if module is not None and state is not None:
        return state_dict_mismatches(module.state_dict(), state, strict, what)
    if not strict or (module is None and state is None):
        return []
    if module is not None:
        return [f"{what}: {option} is on but the checkpoint has no '{what}_state_dict' (trained with it off)"]
    keys = sorted(map(str, state)) if isinstance(state, Mapping) else []
    return [f"{what}_state_dict {keys}: in the checkpoint but {option} is off here (trained with it on)"]


def extension_state_mismatches(state: Mapping[str, Any], extensions: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Extension states a checkpoint holds without a matching extension, and extensions with no saved state.

    Args:
        state: The whole checkpoint (``state["extensions"]`` maps extension name → state; rsl_rl's RND state sits
            at the top level under :data:`RSL_RL_RND_KEYS`).
        extensions: Name → current ``state_dict()`` of every extension of the algorithm.

    Returns:
        One line per unexpected entry (``extensions.rnd.predictor.0.weight (checkpoint shape (8, 4))``) or missing
        extension state; extensions whose state is empty need none.
    """
    problems: list[str] = []
    saved = state.get("extensions", {})
    saved = saved if isinstance(saved, Mapping) else {}
    sources: list[tuple[str, str, object]] = [(f"extensions.{name}", str(name), value) for name, value in saved.items()]
    # stride writes rsl_rl's RND keys too, as a copy of extensions['rnd']: they count only without that entry
    if "rnd" not in saved:
        sources += [(key, "rnd", state[key]) for key in RSL_RL_RND_KEYS if key in state]
    for prefix, name, value in sources:
        if name in extensions:
            continue
        entries = list(value.items()) if isinstance(value, Mapping) else []
        reason = f"in the checkpoint but the algorithm has no '{name}' extension"
        problems += [f"{prefix}.{key} ({_describe(item)}): {reason}" for key, item in entries]
        if not entries:
            problems.append(f"{prefix}: {reason}")
    for name, current in extensions.items():
        if name not in saved and current:
            problems.append(
                f"extensions.{name}: the algorithm has this extension but the checkpoint has no state for it"
            )
    return problems


def optimizer_state_mismatches(
    optimizer: torch.optim.Optimizer, state: object, what: str = "optimizer", param_names: Sequence[str] = ()
) -> list[str]:
    """List the reasons an optimizer state dict cannot be loaded into ``optimizer``.

    ``torch.optim.Optimizer.load_state_dict`` checks only the number of parameters per group; a moment tensor of
    another shape loads silently and fails (or broadcasts) at the next step. This also compares every per-parameter
    state tensor (e.g. Adam's ``exp_avg``) with its parameter's shape.

    Args:
        optimizer: The live optimizer.
        state: The checkpoint's ``optimizer_state_dict``.
        what: Prefix naming the part, e.g. ``"optimizer"``.
        param_names: Names of the optimizer's parameters in order (all groups), for readable messages; positions
            are used where absent.

    Returns:
        One line per problem; empty when the state loads.
    """
    if not isinstance(state, Mapping) or not isinstance(state.get("param_groups"), list):
        return [f"{what}: expected a torch optimizer state dict with 'state' and 'param_groups', got {state!r:.80}"]
    saved_groups: list[Any] = state["param_groups"]
    saved_state = state.get("state", {})
    if not isinstance(saved_state, Mapping):
        return [f"{what}: 'state' is a {type(saved_state).__name__}, expected a dict"]
    if len(saved_groups) != len(optimizer.param_groups):
        return [
            f"{what}: the checkpoint has {len(saved_groups)} parameter groups, the optimizer "
            f"{len(optimizer.param_groups)}"
        ]
    problems: list[str] = []
    position = 0
    for index, (saved, group) in enumerate(zip(saved_groups, optimizer.param_groups, strict=True)):
        saved_ids = saved.get("params", []) if isinstance(saved, Mapping) else []
        params: list[torch.Tensor] = list(group["params"])
        if len(saved_ids) != len(params):
            problems.append(
                f"{what}: group {index} covers {len(saved_ids)} parameters in the checkpoint and {len(params)} in "
                "the optimizer (the models' parameter lists differ)"
            )
            position += len(params)
            continue
        for saved_id, param in zip(saved_ids, params, strict=True):
            name = param_names[position] if position < len(param_names) else f"param[{position}]"
            position += 1
            entry = saved_state.get(saved_id)
            if not isinstance(entry, Mapping):
                continue  # no step taken for this parameter yet
            for key, value in entry.items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
                    problems.append(
                        f"{what}.{name}.{key}: checkpoint shape {_shape(value)} vs parameter shape {_shape(param)}"
                    )
    return problems


def mismatch_error(problems: Sequence[str], strict: bool = True) -> CheckpointError:
    """Build the one error that lists every problem found by the functions above.

    Args:
        problems: Lines from :func:`state_dict_mismatches` / :func:`optimizer_state_mismatches`.
        strict: Whether the load was strict (adds the hint about ``strict=False``).

    Returns:
        A :class:`CheckpointError` to raise.
    """
    listing = "\n".join(f"  - {p}" for p in problems)
    fix = _HINT + (
        "; or restore selected parts with load_cfg (e.g. {'optimizer': False}) or strict=False (skips missing and "
        "unexpected keys, never shape mismatches)."
        if strict
        else "; or restore selected parts with load_cfg (e.g. {'optimizer': False})."
    )
    return CheckpointError(f"the checkpoint does not match the models ({len(problems)} mismatches):\n{listing}\n{fix}")
