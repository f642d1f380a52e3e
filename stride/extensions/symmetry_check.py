"""The construction-time check of symmetry augmentation functions (rsl_rl's ``data_augmentation_func``).

A malformed function would otherwise fail deep inside the first update, or worse, train on wrong data silently.
:func:`check_augmentation_function` calls it on a sample batch and raises a ``ConfigError`` naming the function
on the first violated rule (see docs/algorithms/symmetry.md for the list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from tensordict import TensorDict

from stride.utils.errors import ConfigError

__all__ = ["AugmentationFunction", "as_tensordict", "check_augmentation_function", "function_name"]

AugmentationFunction = Callable[..., Any]
"""``func(env=..., obs=TensorDict | None, actions=Tensor | None) -> (obs_aug | None, actions_aug | None)``."""

_TOLERANCE = 1e-5
"""Relative and absolute tolerance of the involution and consistency checks."""


def function_name(func: Any) -> str:
    """``module:qualname`` of a callable (for messages and logs)."""
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', type(func).__qualname__)}"


def _items(obs: Any) -> list[tuple[str, torch.Tensor]]:
    if not isinstance(obs, Mapping):
        return []
    return [(str(key), value) for key, value in obs.items()]


def as_tensordict(obs: Any, batch: int) -> TensorDict:
    """``obs`` (a TensorDict or a mapping of tensors) as a TensorDict of batch ``[batch]``."""
    if isinstance(obs, TensorDict) and obs.batch_size == torch.Size([batch]):
        return obs
    items = dict(_items(obs))
    device = next(iter(items.values())).device if items else None
    return TensorDict(items, batch_size=[batch], device=device)


def _fail(name: str, path: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"'{path}' = {name} is not a valid augmentation function: {problem}. Fix: {fix}")


def _equal(a: Any, b: Any) -> bool:
    """Exact equality of two tensors or two TensorDicts with the same keys."""
    if isinstance(a, torch.Tensor):
        return bool(torch.equal(a, b))
    return all(torch.equal(a[key], b[key]) for key in list(b.keys()))


def _call(func: AugmentationFunction, name: str, path: str, env: Any, obs: Any, actions: Any) -> tuple[Any, Any]:
    snapshots = [(given, given.clone()) for given in (obs, actions) if given is not None]
    try:
        out = func(env=env, obs=obs, actions=actions)
    except Exception as err:  # any failure of user code becomes one named config error
        what = ", ".join(k for k, v in (("obs", obs), ("actions", actions)) if v is not None)
        raise _fail(
            name,
            path,
            f"calling it with {what} raised {type(err).__name__}: {err}",
            "it must accept func(env=..., obs=TensorDict | None, actions=Tensor | None)",
        ) from err
    if not all(_equal(given, before) for given, before in snapshots):
        raise _fail(name, path, "it modified its input tensors in place", "build new tensors (torch.cat, clone)")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise _fail(name, path, f"it returned {type(out).__name__}", "return the pair (obs, actions)")
    return out[0], out[1]


def _check_structure(name: str, path: str, given: Any, out: Any, what: str, size: int) -> int:
    """Check one output (obs TensorDict or actions tensor) against its input; return the number of copies k."""
    if what == "obs":
        obs: Mapping[str, torch.Tensor] = given
        if not isinstance(out, Mapping):
            raise _fail(name, path, f"the returned obs is {type(out).__name__}", "return a TensorDict of the groups")
        missing = sorted(set(obs.keys()) - set(out.keys()))
        extra = sorted(set(out.keys()) - set(obs.keys()))
        if missing or extra:
            raise _fail(
                name,
                path,
                f"the returned obs has groups {sorted(out.keys())}, expected {sorted(obs.keys())} (dropped "
                f"{missing}, added {extra})",
                "return every observation group, in the same layout",
            )
        pairs = [(f"obs['{key}']", obs[key], out[key]) for key in list(obs.keys())]
    else:
        if not isinstance(out, torch.Tensor):
            raise _fail(name, path, f"the returned actions are {type(out).__name__}", "return a tensor")
        pairs = [("actions", given, out)]
    copies = 0
    for label, original, augmented in pairs:
        if tuple(augmented.shape[1:]) != tuple(original.shape[1:]) or augmented.dtype != original.dtype:
            raise _fail(
                name,
                path,
                f"{label} came back with per-sample shape {tuple(augmented.shape[1:])} and dtype {augmented.dtype}, "
                f"expected {tuple(original.shape[1:])} and {original.dtype}",
                "keep every entry's shape and dtype; only the batch dimension grows",
            )
        total = augmented.shape[0]
        if total % size != 0 or total < 2 * size or (copies and total != copies * size):
            raise _fail(
                name,
                path,
                f"{label} came back with batch {total} for an input batch of {size}; expected one common multiple "
                f"k·{size} with k >= 2",
                "concatenate the originals and k − 1 transformed copies along dimension 0",
            )
        copies = total // size
        if not torch.equal(augmented[:size], original):
            raise _fail(
                name,
                path,
                f"the first {size} rows of {label} differ from the input (the originals must come first, unchanged "
                "and in order)",
                "return torch.cat([x, mirror(x)]), not torch.cat([mirror(x), x]) nor a modified x",
            )
    return copies


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a.double(), b.double(), rtol=_TOLERANCE, atol=_TOLERANCE))


def check_augmentation_function(
    func: AugmentationFunction,
    env: Any,
    obs: Mapping[str, torch.Tensor],
    actions: torch.Tensor,
    *,
    joint_call: bool = True,
    obs_only_call: bool = False,
    name: str | None = None,
    path: str = "algorithm.symmetry_cfg.data_augmentation_func",
) -> int:
    """Check an augmentation function on one sample batch; raise naming it on the first violation.

    Checked: it returns ``(obs, actions)``; every group is kept with its per-sample shape and dtype; the batch grows
    to one multiple ``k·B`` (``k >= 2``) for every entry; the first ``B`` rows are the inputs, unchanged and in
    order; the inputs are not modified in place; applying the function to its own output gives the originals back
    (each transformation has its inverse among the copies; for a mirror, mirror∘mirror = identity); and the
    separate calls the extension makes (``obs=None`` for actions, ``actions=None`` for observations) agree with
    the joint call.

    Args:
        func: The augmentation function.
        env: Passed as ``env=``.
        obs: A sample batch of observations (all groups). Shape per group: (B, ...).
        actions: A sample batch of actions. Shape: (B, num_actions).
        joint_call: Check ``func(obs=..., actions=...)`` (used by data augmentation).
        obs_only_call: Check ``func(obs=..., actions=None)`` (used by the mirror loss without augmentation).
        name: Name of the function in messages (default ``module:qualname``).
        path: Config path in messages.

    Returns:
        The number of copies k (originals included).

    Raises:
        ConfigError: Naming the function, what it returned and what was expected.
    """
    name = name or function_name(func)
    obs = as_tensordict(obs, actions.shape[0])
    size = actions.shape[0]
    # actions-only: the mirror loss's target, always used
    _, actions_aug = _call(func, name, path, env, None, actions)
    copies = _check_structure(name, path, actions, actions_aug, "actions", size)
    obs_aug = None
    if joint_call:
        obs_joint, actions_joint = _call(func, name, path, env, obs, actions)
        copies_obs = _check_structure(name, path, obs, obs_joint, "obs", size)
        _check_structure(name, path, actions, actions_joint, "actions", size)
        if copies_obs != copies or not _close(actions_joint, actions_aug):
            raise _fail(
                name,
                path,
                "the actions of func(obs=..., actions=...) differ from those of func(obs=None, actions=...) "
                f"({copies_obs} vs {copies} copies)",
                "transform the actions the same way whether or not obs is given",
            )
        obs_aug = as_tensordict(obs_joint, copies * size)
    if obs_only_call:
        obs_only, _ = _call(func, name, path, env, obs, None)
        copies_obs = _check_structure(name, path, obs, obs_only, "obs", size)
        if copies_obs != copies:
            raise _fail(name, path, f"obs comes back with {copies_obs} copies, actions with {copies}", "use one k")
        obs_only = as_tensordict(obs_only, copies * size)
        if obs_aug is not None and not all(_close(obs_only[k], obs_aug[k]) for k in list(obs.keys())):
            raise _fail(
                name,
                path,
                "the obs of func(obs=..., actions=None) differ from those of func(obs=..., actions=...)",
                "transform the observations the same way whether or not actions are given",
            )
        obs_aug = obs_only
    _check_inverse(func, name, path, env, obs, actions, obs_aug, actions_aug, copies)
    return copies


def _check_inverse(
    func: AugmentationFunction,
    name: str,
    path: str,
    env: Any,
    obs: TensorDict,
    actions: torch.Tensor,
    obs_aug: TensorDict | None,
    actions_aug: torch.Tensor,
    copies: int,
) -> None:
    """Every transformed copy j must map back to the originals under one of the function's transformations i."""
    size = actions.shape[0]
    total = copies * size
    obs_twice, _ = _call(func, name, path, env, obs_aug, None) if obs_aug is not None else (None, None)
    _, actions_twice = _call(func, name, path, env, None, actions_aug)
    # the same structure rules hold for a batch of k·B samples: k·k·B samples back, the k·B inputs first
    if obs_aug is not None:
        if _check_structure(name, path, obs_aug, obs_twice, "obs", total) != copies:
            raise _fail(name, path, f"a batch of {total} gave another number of copies than {copies}", "use one k")
        obs_twice = as_tensordict(obs_twice, copies * total)
    if _check_structure(name, path, actions_aug, actions_twice, "actions", total) != copies:
        raise _fail(name, path, f"a batch of {total} gave another number of copies than {copies}", "use one k")

    def block(x: torch.Tensor, i: int, j: int) -> torch.Tensor:
        # transformation i applied to copy j: rows [i·kB + j·B, i·kB + (j + 1)·B) of the second application
        return x[i * total + j * size : i * total + (j + 1) * size]

    for j in range(1, copies):
        inverse_found = False
        for i in range(copies):
            ok = _close(block(actions_twice, i, j), actions)
            if ok and obs_twice is not None:
                ok = all(_close(block(obs_twice[k], i, j), obs[k]) for k in list(obs.keys()))
            if ok:
                inverse_found = True
                break
        if not inverse_found:
            label = "mirror(mirror(x)) != x" if copies == 2 else f"no transformation undoes copy {j}"
            raise _fail(
                name,
                path,
                f"{label} (within {_TOLERANCE:g}): applying it to its own output does not give the originals back",
                "check every swapped index and sign flip; a mirror applied twice must be the identity",
            )
