"""Validate an environment against the VecEnv contract before any training step.

``check_env(env)`` reads the env's attributes, takes a few steps with random actions and raises
:class:`~stride.utils.errors.EnvContractError` at the first violation. Every message has the form::

    check_env: <field> (<where>): expected <what the contract says>, got <what the env did>. Fix: <how>.

Accepted observation type: a ``tensordict.TensorDict`` (any ``TensorDictBase``) only. Plain dicts are rejected
because the runner moves observations with ``obs.to(device)`` and the algorithms index them as TensorDicts.

Checking never touches the global random streams (actions come from a private ``torch.Generator``) and, when the
env has ``state_dict()``/``load_state_dict()`` (every built-in task), the env is restored to its state before the
check, so training with and without the check is identical.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn, cast

import torch
from tensordict import TensorDictBase

from stride.env.tasks.registry import ADAPTER_PREFIXES, make_task
from stride.utils.errors import ConfigError, EnvContractError
from stride.utils.imports import import_object

__all__ = ["CheckReport", "LiveCheck", "check_env", "check_env_target"]

_MISSING = object()
_MAX_LISTED = 8


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_env` found in an env that follows the contract.

    Attributes:
        num_envs: ``env.num_envs``.
        num_actions: ``env.num_actions``.
        device: The device every returned tensor was on.
        max_episode_length: The (smallest) time limit in steps.
        groups: Observation groups and their shapes, batch dimension included, e.g. ``{"policy": (4, 3)}``.
        has_time_outs: Whether ``step`` returned ``extras["time_outs"]``.
        has_final_obs: Whether ``step`` returned ``extras["final_obs"]``.
        num_steps: Steps taken by the check.
        restored: Whether the env was put back to its state before the check (via ``state_dict``).
        seconds: Wall time of the check.
    """

    num_envs: int
    num_actions: int
    device: str
    max_episode_length: int
    groups: dict[str, tuple[int, ...]]
    has_time_outs: bool
    has_final_obs: bool
    num_steps: int
    restored: bool
    seconds: float

    def summary(self) -> str:
        """One human-readable line per finding (for the CLI).

        Returns:
            A multi-line string.
        """
        groups = ", ".join(f"{name} {shape}" for name, shape in self.groups.items())
        return "\n".join(
            [
                f"env follows the VecEnv contract ({self.num_steps} steps checked in {self.seconds * 1e3:.1f} ms)",
                f"  num_envs={self.num_envs}  num_actions={self.num_actions}  device={self.device}  "
                f"max_episode_length={self.max_episode_length}",
                f"  observation groups: {groups}",
                f"  extras: time_outs {'yes' if self.has_time_outs else 'no'}, "
                f"final_obs {'yes' if self.has_final_obs else 'no'}",
                f"  env state restored after the check: {'yes' if self.restored else 'no'}",
            ]
        )


def _fail(
    field: str, expected: str, got: str, fix: str, where: str | None = None, cause: BaseException | None = None
) -> NoReturn:
    """Raise the contract error for ``field`` in the house format, chained to ``cause`` (the env's own error)."""
    at = f" ({where})" if where else ""
    raise EnvContractError(f"check_env: {field}{at}: expected {expected}, got {got}. Fix: {fix}") from cause


def _describe(value: object) -> str:
    """Short description of a value of the wrong kind."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    if isinstance(value, TensorDictBase):
        return f"a nested {type(value).__name__} with keys {sorted(map(str, value.keys()))}"
    if value is None:
        return "None"
    if type(value).__name__ in ("NonTensorData", "NonTensorStack"):
        return f"non-tensor data ({type(value).__name__})"
    if isinstance(value, Mapping):
        return f"{type(value).__name__} with keys {sorted(map(str, value.keys()))}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _listed(envs: torch.Tensor) -> str:
    """``"3 env(s) [0, 5, 9]"`` with at most ``_MAX_LISTED`` indices."""
    more = f" (+{envs.numel() - _MAX_LISTED} more)" if envs.numel() > _MAX_LISTED else ""
    return f"{envs.numel()} env(s) {envs[:_MAX_LISTED].tolist()}{more}"


def _canonical(device: torch.device) -> torch.device:
    """The device with its index made explicit where torch has a current one (``cuda`` → ``cuda:k``)."""
    if device.index is None and device.type == "cuda" and torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def _same_device(a: torch.device, b: torch.device) -> bool:
    a, b = _canonical(a), _canonical(b)
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def _nonfinite(x: torch.Tensor, rows: torch.Tensor | None = None) -> str | None:
    """Describe the NaN/inf entries of ``x`` (leading dim = envs), restricted to ``rows``; None if all finite."""
    if not x.is_floating_point():
        return None
    flat = x.reshape(x.shape[0], -1) if x.dim() > 1 else x.reshape(-1, 1)
    bad = ~torch.isfinite(flat).all(dim=1)
    if rows is not None:
        bad &= rows
    if not bool(bad.any()):
        return None
    envs = bad.nonzero().squeeze(-1)
    sub = flat[envs]
    kinds = [k for k, fn in (("NaN", torch.isnan), ("+inf", torch.isposinf), ("-inf", torch.isneginf)) if fn(sub).any()]
    return f"{'/'.join(kinds)} in {_listed(envs)}"


def _not_binary(x: torch.Tensor) -> str | None:
    """Describe the entries of ``x`` outside {0, 1}; None if there are none."""
    if x.dtype == torch.bool:
        return None
    bad = (x != 0) & (x != 1)  # NaN compares unequal to both, so it is caught too
    if not bool(bad.any()):
        return None
    envs = bad.nonzero().squeeze(-1)
    return f"values {x[envs[:_MAX_LISTED]].tolist()} in {_listed(envs)}"


# ------------------------------------------------------------------------------------------------------ attributes
def _check_count(env: object, name: str) -> int:
    value = getattr(env, name, _MISSING)
    if value is _MISSING:
        _fail(name, "an int >= 1", "no such attribute", f"set env.{name} (an int) in the env's constructor.")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(name, "an int >= 1", _describe(value), f"set env.{name} to a plain Python int.")
    if int(value) < 1:
        _fail(name, "an int >= 1", repr(value), f"env.{name} must count at least one.")
    return int(value)


def _check_device(env: object, device: str | torch.device | None) -> torch.device:
    raw = getattr(env, "device", _MISSING)
    fix = "set env.device to the device every tensor of the env lives on, e.g. 'cpu' or 'cuda:0'."
    if raw is _MISSING:
        _fail("device", "a torch.device or device string", "no such attribute", fix)
    try:
        dev = torch.device(raw)  # pyright: ignore[reportArgumentType]
    except (TypeError, RuntimeError, ValueError) as err:
        _fail("device", "a torch.device or device string", f"{_describe(raw)} ({err})", fix, cause=err)
    if dev.type == "meta":
        _fail("device", "a device that holds data", "'meta' (tensors without storage)", fix)
    try:
        torch.empty(0, device=dev)
    except Exception as err:  # torch raises AssertionError/RuntimeError for devices missing from this build
        got = f"{str(raw)!r}, where torch cannot allocate ({err})"
        _fail("device", "a device usable in this process", got, fix, cause=err)
    if device is not None and not _same_device(torch.device(device), dev):
        _fail(
            "device",
            f"the env on {torch.device(device)} (the device passed to check_env)",
            f"env.device = {dev}",
            "build the env on that device, or pass device=None to accept env.device.",
        )
    return dev


def _check_max_episode_length(env: object, num_envs: int) -> int:
    value = getattr(env, "max_episode_length", _MISSING)
    expected = f"an int > 0 or a ({num_envs},) tensor of values > 0"
    fix = "set env.max_episode_length to the time limit in steps (a positive int, or one per env)."
    if value is _MISSING:
        _fail("max_episode_length", expected, "no such attribute", fix)
    if isinstance(value, torch.Tensor):
        if tuple(value.shape) not in ((), (num_envs,)) or value.dtype == torch.bool or value.is_complex():
            _fail("max_episode_length", expected, _describe(value), fix)
        bad = ~torch.isfinite(value.double()) | (value <= 0)
        if bool(bad.any()):
            envs = bad.reshape(-1).nonzero().squeeze(-1)
            _fail("max_episode_length", expected, f"{value.reshape(-1)[envs[:_MAX_LISTED]].tolist()}", fix)
        return math.ceil(float(value.min()))
    # integral-valued floats are accepted: legged_gym-style envs compute the limit with np.ceil
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail("max_episode_length", expected, _describe(value), fix)
    number = float(value)
    if not math.isfinite(number) or number <= 0 or not number.is_integer():
        _fail("max_episode_length", expected, repr(value), fix)
    return int(number)


def _check_length_buf(env: object, num_envs: int, dev: torch.device, where: str | None = None) -> torch.Tensor:
    buf = getattr(env, "episode_length_buf", _MISSING)
    expected = f"a torch.long tensor of shape ({num_envs},) on {dev}"
    fix = (
        f"keep the steps of each env's current episode in env.episode_length_buf = "
        f"torch.zeros({num_envs}, dtype=torch.long, device=env.device), and update that attribute in step()."
    )
    if buf is _MISSING:
        _fail("episode_length_buf", expected, "no such attribute", fix, where)
    if not isinstance(buf, torch.Tensor) or buf.dtype != torch.long or tuple(buf.shape) != (num_envs,):
        _fail("episode_length_buf", expected, _describe(buf), fix, where)
    if not _same_device(buf.device, dev):
        _fail("episode_length_buf", expected, f"a tensor on {buf.device} (env.device is {dev})", fix, where)
    return buf


# --------------------------------------------------------------------------------------------------- observations
def _check_obs(
    obs: object,
    label: str,
    where: str,
    num_envs: int,
    dev: torch.device,
    reference: Mapping[str, tuple[int, ...]] | None = None,
    rows: torch.Tensor | None = None,
) -> dict[str, tuple[int, ...]]:
    """Validate one observation TensorDict; returns ``{group: shape}``.

    Args:
        obs: What the env returned.
        label: Field name for messages (``obs``, ``extras['final_obs']``).
        where: Event for messages (``get_observations()``, ``step 2``).
        num_envs: Expected batch size.
        dev: Expected device.
        reference: Groups and shapes the observation must match exactly (those of the first observation).
        rows: Envs whose values must be finite (all when None). Shape: (num_envs,), bool.
    """
    if not isinstance(obs, TensorDictBase):
        fix = f"return TensorDict({{'policy': ..., ...}}, batch_size=[{num_envs}]) (from tensordict)."
        _fail(label, "a tensordict.TensorDict of observation groups", _describe(obs), fix, where)
    keys = list(obs.keys())
    if not keys:
        _fail(
            label,
            "at least one observation group (e.g. 'policy')",
            "a TensorDict with no entries",
            f"put each observation group in the TensorDict, e.g. {{'policy': tensor of shape ({num_envs}, obs_dim)}}.",
            where,
        )
    groups: dict[str, tuple[int, ...]] = {}
    for key in keys:
        field = f"{label}[{key!r}]"
        value = obs.get(key)
        if not isinstance(value, torch.Tensor):
            fix = "store only tensors as observation groups; put nested or non-tensor data in extras."
            _fail(field, "a torch.Tensor", _describe(value), fix, where)
        shape = tuple(value.shape)
        if len(shape) < 2 or shape[0] != num_envs:
            fix = "return (num_envs, obs_dim) per group: add .unsqueeze(-1) to 1-D groups, batch envs in dim 0."
            if len(shape) >= 1 and shape[0] != num_envs:
                fix = f"the leading (batch) dimension of every group must be num_envs = {num_envs}."
            _fail(field, f"shape ({num_envs}, obs_dim) or ({num_envs}, C, H, W)", f"shape {shape}", fix, where)
        if value[0].numel() == 0:
            fix = "drop empty groups or give them at least one feature."
            _fail(field, "at least one value per env", f"shape {shape}", fix, where)
        if value.dtype != torch.float32:
            _fail(field, "dtype torch.float32", str(value.dtype), "cast the group with .float() in the env.", where)
        if not _same_device(value.device, dev):
            fix = f"create or move the group on env.device ({dev}); env.device must say where tensors are."
            _fail(field, f"a tensor on {dev}", f"a tensor on {value.device}", fix, where)
        if reference is not None and key in reference and reference[key] != shape:
            fix = "keep every group's shape fixed for the whole run."
            _fail(field, f"shape {reference[key]} (as in get_observations())", f"shape {shape}", fix, where)
        bad = _nonfinite(value, rows)
        if bad is not None:
            fix = "find where the env produces NaN/inf (e.g. division by zero, invalid reset state) and fix or clip it."
            _fail(field, "finite values", bad, fix, where)
        groups[str(key)] = shape
    if reference is not None and set(groups) != set(reference):
        missing, extra = sorted(set(reference) - set(groups)), sorted(set(groups) - set(reference))
        diff = ", ".join(f"{what} {keys}" for what, keys in (("missing", missing), ("unexpected", extra)) if keys)
        _fail(
            label,
            f"the groups {sorted(reference)} of get_observations()",
            f"{sorted(groups)} ({diff})",
            "return the same observation groups at reset, at every step and in final_obs.",
            where,
        )
    if tuple(obs.batch_size) != (num_envs,):
        _fail(
            f"{label}.batch_size",
            f"[{num_envs}] (num_envs)",
            f"{list(obs.batch_size)}",
            f"build the observations with TensorDict(..., batch_size=[{num_envs}]).",
            where,
        )
    return groups


# ---------------------------------------------------------------------------------------------- step() outputs
def _check_flags(x: object, field: str, where: str, num_envs: int, dev: torch.device, what: str) -> torch.Tensor:
    """Validate a (num_envs,) tensor of 0/1 flags (bool, int or float); returns it as bool."""
    expected = f"a bool/int/float tensor of shape ({num_envs},) with values in {{0, 1}}"
    if not isinstance(x, torch.Tensor) or x.is_complex():
        _fail(field, expected, _describe(x), f"return {what} as a ({num_envs},) bool tensor.", where)
    if tuple(x.shape) != (num_envs,):
        fix = f"return {what} as one flag per env, shape ({num_envs},)."
        if tuple(x.shape) == (num_envs, 1):
            fix = f"squeeze the trailing dimension: {field}.squeeze(-1)."
        _fail(field, expected, f"shape {tuple(x.shape)}", fix, where)
    if not _same_device(x.device, dev):
        _fail(field, f"a tensor on {dev}", f"a tensor on {x.device}", f"create {field} on env.device.", where)
    bad = _not_binary(x)
    if bad is not None:
        _fail(field, expected, bad, f"return {what} as booleans (or 0/1), e.g. (condition).to(torch.bool).", where)
    return x.to(torch.bool)


def _check_rewards(x: object, where: str, num_envs: int, dev: torch.device) -> None:
    expected = f"a floating-point tensor of shape ({num_envs},)"
    if not isinstance(x, torch.Tensor):
        _fail("rewards", expected, _describe(x), f"return the rewards as a ({num_envs},) float32 tensor.", where)
    if tuple(x.shape) != (num_envs,):
        fix = "squeeze the trailing dimension: rewards.squeeze(-1)."
        if tuple(x.shape) != (num_envs, 1):
            fix = "return one scalar reward per env (sum reward terms before returning)."
        _fail("rewards", expected, f"shape {tuple(x.shape)}", fix, where)
    if not x.is_floating_point():
        _fail("rewards", expected, f"dtype {x.dtype}", "cast the rewards with .float() in the env.", where)
    if not _same_device(x.device, dev):
        _fail("rewards", f"a tensor on {dev}", f"a tensor on {x.device}", "create the rewards on env.device.", where)
    bad = _nonfinite(x)
    if bad is not None:
        fix = "find the reward term that produces NaN/inf and fix or clip it."
        _fail("rewards", "finite values", bad, fix, where)


def _check_extras(
    extras: object, where: str, num_envs: int, dev: torch.device, dones: torch.Tensor, groups: dict[str, Any]
) -> tuple[bool, bool]:
    """Validate ``extras``; returns ``(has_time_outs, has_final_obs)``."""
    if not isinstance(extras, Mapping):
        _fail("extras", "a dict", _describe(extras), "return a dict as the 4th item of step() (may be empty).", where)
    time_outs = extras.get("time_outs")
    if time_outs is not None:
        what = "the truncations (dones caused by the time limit, not by failure)"
        flags = _check_flags(time_outs, "extras['time_outs']", where, num_envs, dev, what)
        orphan = flags & ~dones
        if bool(orphan.any()):
            _fail(
                "extras['time_outs']",
                "time-outs only where dones is set (done = terminated or truncated)",
                f"time_outs without done in {_listed(orphan.nonzero().squeeze(-1))}",
                "compute dones = terminated | time_outs.",
                where,
            )
    final_obs = extras.get("final_obs")
    if final_obs is not None:
        _check_obs(final_obs, "extras['final_obs']", where, num_envs, dev, reference=groups, rows=dones)
    for section in ("log", "episode"):
        value = extras.get(section)
        if value is not None and not isinstance(value, Mapping):
            fix = f"put the scalars or tensors to log in a dict: extras[{section!r}] = {{'name': value}}."
            _fail(f"extras[{section!r}]", "a dict of scalars or tensors", _describe(value), fix, where)
    return time_outs is not None, final_obs is not None


def _step(env: Any, actions: torch.Tensor, where: str) -> tuple[object, object, object, object]:
    """Call ``env.step`` and unpack its 4-tuple; exceptions become contract errors that name ``num_actions``."""
    try:
        result = env.step(actions)
    except EnvContractError:
        raise
    except Exception as err:
        _fail(
            "num_actions",
            f"env.step() to accept actions of shape {tuple(actions.shape)} (num_envs, num_actions), float32 in "
            f"[-1, 1] on {actions.device}",
            f"{type(err).__name__}: {err}",
            "set env.num_actions to the action size step() consumes; if it already is, fix the error in step() "
            "(see the chained traceback).",
            where,
            cause=err,
        )
    if not isinstance(result, (tuple, list)) or len(result) != 4:
        got = f"{len(result)} items" if isinstance(result, (tuple, list)) else _describe(result)
        fix = "return (obs, rewards, dones, extras)."
        if isinstance(result, (tuple, list)) and len(result) == 5:
            fix += " For gymnasium-style (obs, reward, terminated, truncated, info) use dones = terminated | truncated"
            fix += " and extras['time_outs'] = truncated."
        _fail("step()", "a tuple (obs, rewards, dones, extras) of 4 items", got, fix, where)
    obs, rewards, dones, extras = result
    return obs, rewards, dones, extras


class _Held(NamedTuple):
    """An observation returned earlier, with its tensors and a copy of their values."""

    where: str
    obs: TensorDictBase
    tensors: dict[str, torch.Tensor]
    values: dict[str, torch.Tensor]


def _hold(obs: TensorDictBase, where: str) -> _Held:
    tensors = {str(k): cast(torch.Tensor, obs.get(k)) for k in list(obs.keys())}
    return _Held(where, obs, tensors, {k: v.clone() for k, v in tensors.items()})


def _check_unchanged(held: _Held, where: str) -> None:
    """Raise if the observation returned earlier was overwritten by the step that just happened."""
    for key, value in held.values.items():
        current = held.obs.get(key)
        if current is held.tensors[key] and torch.equal(current, value):
            continue
        if current is not held.tensors[key]:
            how = f"the same TensorDict object was returned by {where} with its entry replaced"
        else:
            how = f"its tensor was overwritten in place by {where}"
        _fail(
            f"obs[{key!r}]",
            f"the observation returned by {held.where} to stay unchanged after the next step()",
            how,
            "return new tensors every step (e.g. build a new TensorDict, or .clone() preallocated buffers); "
            "the runner keeps the previous observation while the env steps.",
            held.where,
        )


# ---------------------------------------------------------------------------------------------------- check_env
def _snapshot(env: object) -> Any:
    """A deep copy of ``env.state_dict()``, or None when the env cannot be restored."""
    save, load = getattr(env, "state_dict", None), getattr(env, "load_state_dict", None)
    if not (callable(save) and callable(load)):
        return None
    try:
        state = save()
        # {}: nothing to restore (a Gymnasium env whose simulators stride cannot capture); treated as no state_dict
        return None if isinstance(state, dict) and not state else copy.deepcopy(state)
    except Exception:  # an env whose state cannot be copied is checked without restoring it
        return None


def check_env(
    env: Any,
    num_steps: int = 3,
    device: str | torch.device | None = None,
    *,
    seed: int = 0,
    restore: bool = True,
) -> CheckReport:
    """Check that ``env`` follows the VecEnv contract (DESIGN.md §2), raising at the first violation.

    Checked: ``num_envs``/``num_actions`` (int >= 1), ``max_episode_length`` (int > 0, or a ``(num_envs,)`` tensor
    > 0), ``episode_length_buf`` (long ``(num_envs,)`` on ``device``, writable: a new tensor is assigned before the
    last step and must advance by one in the envs that are not done), ``device``; the observations of
    ``get_observations()`` and every step (a TensorDict with ``batch_size=[num_envs]``, >= 1 group, each group a
    float32 ``(num_envs, ...)`` tensor on ``device``, non-empty, finite, same groups and shapes every step, not
    overwritten in place by the next step); ``step`` accepting ``(num_envs, num_actions)`` actions and returning a
    4-tuple; ``rewards`` floating ``(num_envs,)``, finite; ``dones`` ``(num_envs,)`` in {0, 1} (bool, int or float);
    ``extras`` a dict; ``extras["time_outs"]`` (optional) ``(num_envs,)`` in {0, 1} and only where done;
    ``extras["final_obs"]`` (optional) like the observations, finite in the done envs; ``extras["log"]`` and
    ``extras["episode"]`` (optional) dicts.

    Actions are uniform in [-1, 1] from a private ``torch.Generator``: the global random streams are not touched.
    When the env has ``state_dict()``/``load_state_dict()`` and ``restore`` is true, its state (and its
    ``episode_length_buf`` object) is put back afterwards, also when a check fails; other envs are left
    ``num_steps`` steps further on, with their real episode lengths (the random lengths assigned for the check
    are undone).

    Args:
        env: The environment (any object with the VecEnv members).
        num_steps: Steps to take (>= 1).
        device: Device the env's tensors must be on; None accepts ``env.device``.
        seed: Seed of the generator drawing the random actions and episode lengths.
        restore: Restore the env's state after the check when it has ``state_dict``/``load_state_dict``.

    Returns:
        A :class:`CheckReport` describing the env.

    Raises:
        EnvContractError: At the first violation, naming the field, expected vs actual, and the fix.
        ConfigError: If ``num_steps`` is not an int >= 1.
    """
    start = time.perf_counter()
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ConfigError(f"check_env: num_steps must be an int >= 1, got {num_steps!r}.")
    num_envs = _check_count(env, "num_envs")
    num_actions = _check_count(env, "num_actions")
    dev = _check_device(env, device)
    limit = _check_max_episode_length(env, num_envs)
    original_buf = _check_length_buf(env, num_envs, dev)
    for name in ("get_observations", "step"):
        if not callable(getattr(env, name, None)):
            _fail(f"{name}()", "a method", _describe(getattr(env, name, None)), f"implement env.{name}().")
    state = _snapshot(env) if restore else None
    generator = torch.Generator()
    generator.manual_seed(seed)
    try:
        with torch.no_grad():
            report = _run_steps(env, num_steps, num_envs, num_actions, dev, limit, generator)
    except BaseException:
        if state is not None:
            with contextlib.suppress(Exception):  # the contract error matters more than a failed restore
                _restore(env, state, original_buf)
        raise
    if state is not None:
        _restore(env, state, original_buf)
    else:
        _put_back_lengths(env, report[3], report[4])
    return CheckReport(
        num_envs=num_envs,
        num_actions=num_actions,
        device=str(dev),
        max_episode_length=limit,
        groups=report[0],
        has_time_outs=report[1],
        has_final_obs=report[2],
        num_steps=num_steps,
        restored=state is not None,
        seconds=time.perf_counter() - start,
    )


class LiveCheck:
    """The VecEnv contract checked inside a run, without ever stepping or resetting the env for it.

    A runner's constructor must leave the env as it found it (Isaac Lab's and mjlab's simulations carry curricula
    and step counters), so the runner checks in three stages instead of calling :func:`check_env`:

    1. construction (``__init__``): ``num_envs``, ``num_actions`` and the observations of ``get_observations()``;
    2. :meth:`before_rollout` (start of ``learn``): ``device``, ``max_episode_length``, ``episode_length_buf``,
       ``step``;
    3. :meth:`after_step` on the first ``num_checked_steps`` real steps: everything :func:`check_env` checks of a
       step's outputs (groups and shapes, observations not overwritten in place by the next step, rewards, dones,
       ``time_outs``, ``final_obs``, ``log``/``episode``).

    Args:
        env: The environment.
        obs: What ``env.get_observations()`` returned when the runner was built.
        num_checked_steps: Steps of the first rollout to check (>= 1).

    Raises:
        EnvContractError: At the first violation, naming the field, expected vs actual, and the fix.
    """

    def __init__(self, env: Any, obs: object, num_checked_steps: int = 2) -> None:
        self.num_envs = _check_count(env, "num_envs")
        self.num_actions = _check_count(env, "num_actions")
        if getattr(env, "device", _MISSING) is not _MISSING:
            dev = _check_device(env, None)
        else:  # the device is checked before the first step; until then the observations tell
            first = obs.get(next(iter(obs.keys()))) if isinstance(obs, TensorDictBase) and obs.keys() else None
            dev = first.device if isinstance(first, torch.Tensor) else torch.device("cpu")
        self.groups = _check_obs(obs, "obs", "get_observations()", self.num_envs, dev)
        self.device = dev
        self._remaining = num_checked_steps
        self._held: _Held | None = None
        self._step = 0

    @property
    def finished(self) -> bool:
        """True once every step to check has been checked."""
        return self._remaining <= 0

    def before_rollout(self, env: Any, obs: object) -> None:
        """Check the members a rollout uses, and the observations it starts from (``get_observations()``)."""
        self.device = _check_device(env, None)
        _check_max_episode_length(env, self.num_envs)
        _check_length_buf(env, self.num_envs, self.device)
        if not callable(getattr(env, "step", None)):
            _fail("step()", "a method", _describe(getattr(env, "step", None)), "implement env.step().")
        _check_obs(obs, "obs", "get_observations()", self.num_envs, self.device, reference=self.groups)
        self._held = _hold(cast(TensorDictBase, obs), "get_observations()")

    def after_step(self, obs: object, rewards: object, dones: object, extras: object) -> None:
        """Check one step's outputs exactly as the env returned them (before any move or cast)."""
        self._step += 1
        where = f"step {self._step}"
        _check_obs(obs, "obs", where, self.num_envs, self.device, reference=self.groups)
        if self._held is not None:
            _check_unchanged(self._held, where)
        self._held = _hold(cast(TensorDictBase, obs), where)
        _check_rewards(rewards, where, self.num_envs, self.device)
        done = _check_flags(dones, "dones", where, self.num_envs, self.device, "done = terminated or truncated")
        _check_extras(extras, where, self.num_envs, self.device, done, self.groups)
        self._remaining -= 1
        if self.finished:
            self._held = None


def _restore(env: Any, state: Any, original_buf: torch.Tensor) -> None:
    with torch.no_grad():
        env.episode_length_buf = original_buf
        try:
            env.load_state_dict(state)
        except Exception as err:
            _fail(
                "load_state_dict()",
                "the env to accept the state its own state_dict() returned",
                f"{type(err).__name__}: {err}",
                "make load_state_dict(state_dict()) a round trip, or pass restore=False.",
                cause=err,
            )


def _put_back_lengths(env: Any, before: torch.Tensor, done: torch.Tensor) -> None:
    """Undo the random episode lengths the last checked step assigned, in an env whose state cannot be restored.

    ``before`` is the env's buffer just before that assignment (the real lengths then); the real lengths after the
    step are those + 1, or 0 where the step ended the episode. Without this, every env would start its next episode
    at a random length (truncated early) although the run did not ask for random episode starts.
    """
    with torch.no_grad():
        before.copy_(torch.where(done.to(before.device), torch.zeros_like(before), before + 1))
        env.episode_length_buf = before


def _run_steps(
    env: Any,
    num_steps: int,
    num_envs: int,
    num_actions: int,
    dev: torch.device,
    limit: int,
    generator: torch.Generator,
) -> tuple[dict[str, tuple[int, ...]], bool, bool, torch.Tensor, torch.Tensor]:
    """The stepping part of :func:`check_env`.

    Returns:
        ``(groups, has_time_outs, has_final_obs, buffer before the last step's assignment, last step's dones)``.
    """
    where = "get_observations()"
    try:
        obs = env.get_observations()
    except Exception as err:
        got = f"{type(err).__name__}: {err}"
        _fail("get_observations()", "observations", got, "fix get_observations().", cause=err)
    groups = _check_obs(obs, "obs", where, num_envs, dev)
    held = _hold(cast(TensorDictBase, obs), where)
    has_time_outs = has_final_obs = False
    before = env.episode_length_buf
    done = torch.zeros(num_envs, dtype=torch.bool)
    for t in range(1, num_steps + 1):
        where = f"step {t}"
        assigned: torch.Tensor | None = None
        if t == num_steps:
            before = env.episode_length_buf
            # writable episode_length_buf: values in [0, limit - 1) cannot trigger a time-out themselves
            with torch.inference_mode(False):
                assigned = torch.randint(0, max(limit - 1, 1), (num_envs,), generator=generator).to(dev)
            try:
                env.episode_length_buf = assigned
            except Exception as err:
                _fail(
                    "episode_length_buf",
                    "a writable attribute (the runner assigns random episode lengths)",
                    f"{type(err).__name__}: {err}",
                    "make episode_length_buf a plain attribute (or give its property a setter) and read it in step().",
                    where,
                    cause=err,
                )
            assigned = assigned.clone()
        actions = (2.0 * torch.rand((num_envs, num_actions), generator=generator) - 1.0).to(dev)
        obs, rewards, dones, extras = _step(env, actions, where)
        _check_obs(obs, "obs", where, num_envs, dev, reference=groups)
        _check_unchanged(held, where)
        held = _hold(cast(TensorDictBase, obs), where)  # _check_obs raised if it is no TensorDict
        _check_rewards(rewards, where, num_envs, dev)
        done = _check_flags(dones, "dones", where, num_envs, dev, "done = terminated or truncated")
        flags = _check_extras(extras, where, num_envs, dev, done, groups)
        has_time_outs, has_final_obs = has_time_outs or flags[0], has_final_obs or flags[1]
        buf = _check_length_buf(env, num_envs, dev, where)
        if assigned is not None:
            running = ~done.to(buf.device)
            if bool(running.any()) and not torch.equal(buf[running], assigned[running] + 1):
                first = int(running.nonzero()[0, 0])
                _fail(
                    "episode_length_buf",
                    f"the assigned values + 1 in the envs that are not done (env {first}: "
                    f"{int(assigned[first])} -> {int(assigned[first]) + 1})",
                    f"env {first}: {int(assigned[first])} -> {int(buf[first])}",
                    "step() must increment env.episode_length_buf itself (no private copy): the runner assigns a "
                    "new tensor to randomize episode starts.",
                    where,
                )
    return groups, has_time_outs, has_final_obs, before, done


# ------------------------------------------------------------------------------------------------- by target
def _resolve_factory(target: str) -> Callable[..., Any]:
    module_name, _, attr_path = target.partition(":")
    if not module_name or not attr_path or ":" in attr_path:
        raise ConfigError(
            f"check-env: target {target!r} is neither a task name nor 'module:factory'; expected e.g. 'cartpole' "
            "or 'my_pkg.envs:make_env'."
        )
    obj = import_object(target, "check-env target")
    if not callable(obj):
        raise ConfigError(f"check-env: {target!r} is {_describe(obj)}; expected a callable that returns an env.")
    return obj


def check_env_target(
    target: str,
    num_envs: int = 4,
    device: str | torch.device = "cpu",
    num_steps: int = 3,
) -> CheckReport:
    """Build an env from a task name or a ``module:factory`` callable and check it.

    A name without ``:``, or with an adapter prefix (``gym:<id>``, ``envpool:<id>``, ``playground:<name>``), is a
    task of ``stride.env.tasks.make_task``. Otherwise the callable after the
    colon (dotted attributes allowed, e.g. ``pkg.mod:Envs.make``) is called with ``num_envs`` and ``device`` as
    keywords where its signature accepts them, and without them otherwise.

    Args:
        target: ``"cartpole"``, ``"envpool:Go1JoystickFlatTerrain-v1"`` or ``"my_pkg.envs:make_env"``.
        num_envs: Number of envs to build.
        device: Device to build the env on.
        num_steps: Steps the check takes.

    Returns:
        The :class:`CheckReport` of the built env.

    Raises:
        ConfigError: If the target cannot be resolved (unknown task, module not importable, no such attribute).
        EnvContractError: If the env breaks the contract.
    """
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(f"check-env: target must be a task name or 'module:factory', got {target!r}.")
    if ":" not in target or target.startswith(ADAPTER_PREFIXES):
        env = make_task(target, num_envs=num_envs, device=device)
    else:
        factory = _resolve_factory(target)
        kwargs: dict[str, Any] = {"num_envs": num_envs, "device": device}
        try:
            params = inspect.signature(factory).parameters
        except (TypeError, ValueError):  # builtins without a signature: call them bare
            params = {}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in params}
        env = factory(**kwargs)
    return check_env(env, num_steps=num_steps)
