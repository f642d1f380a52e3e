"""Strict construction of configuration dataclasses from plain dicts.

``build(cls, data, path)`` checks every key against the dataclass fields (unknown key → ``ConfigError`` with the
dotted path and a "did you mean"), checks value types against the annotations, recurses into nested dataclasses
and never mutates ``data``. Each dataclass may define ``validate(self, path)`` for range and cross-field checks.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from stride.utils.errors import ConfigError

__all__ = ["build", "check_keys", "suggest", "to_dict"]

T = TypeVar("T")


def suggest(key: str, options: typing.Iterable[str]) -> str:
    """Return `` (did you mean 'x'?)`` for the closest option, or an empty string."""
    match = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def check_keys(data: Mapping[str, Any], allowed: typing.Iterable[str], path: str) -> None:
    """Raise ``ConfigError`` for the first key of ``data`` not in ``allowed``.

    Raises:
        ConfigError: Naming the dotted path of the unknown key, a suggestion and the valid keys.
    """
    allowed = list(allowed)
    for key in data:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(
                f"unknown config key '{where}'{suggest(str(key), allowed)}; valid keys: {sorted(allowed)}."
            )


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp`` and return a fresh (never shared) copy of it."""
    origin = get_origin(tp)
    if tp is Any:
        return _deepcopy_plain(value)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        if value is not None and len(options) == 1:
            # Optional[X] with a value: X's own error is the precise one (dotted path, suggestion)
            return _coerce(value, options[0], path)
        errors = []
        for option in get_args(tp):
            try:
                return _coerce(value, option, path)
            except ConfigError as err:
                errors.append(str(err))
        options = " or ".join(_type_name(a) for a in get_args(tp))
        raise ConfigError(f"'{path}' must be {options}, got {value!r} ({type(value).__name__}).")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"'{path}' must be None, got {value!r}.")
    if origin is Literal:
        if value in get_args(tp) and not isinstance(value, bool):
            return value
        choices = list(get_args(tp))
        hint = suggest(str(value), [str(c) for c in choices]) if isinstance(value, str) else ""
        raise ConfigError(f"'{path}' must be one of {choices}, got {value!r}{hint}.")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return build(tp, to_dict(value), path)
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{path}' must be a mapping of {tp.__name__} fields, got {type(value).__name__}.")
        return build(tp, value, path)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' must be a list, got {value!r} ({type(value).__name__}).")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"'{path}' must have {len(args)} entries, got {len(value)}: {value!r}.")
            return tuple(_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"'{path}' must be a mapping, got {value!r} ({type(value).__name__}).")
        args = get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, val_tp, f"{path}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"'{path}' must be true or false, got {value!r} ({type(value).__name__}).")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"'{path}' must be an integer, got {value!r} ({type(value).__name__}).")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"'{path}' must be a number, got {value!r} ({type(value).__name__}).")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"'{path}' must be a string, got {value!r} ({type(value).__name__}).")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    if callable(value) and tp is typing.Callable:
        return value
    raise ConfigError(f"'{path}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__}).")


def _deepcopy_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deepcopy_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deepcopy_plain(v) for v in value]
    return value


def build(cls: type[T], data: Mapping[str, Any] | None, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data`` strictly; ``data`` is never mutated.

    Args:
        cls: A ``@dataclass`` whose fields carry type annotations.
        data: The user's mapping (``None`` means all defaults).
        path: Dotted path of ``data`` inside the whole config, for error messages.

    Returns:
        A new ``cls`` instance, validated with its ``validate(path)`` method when it has one.

    Raises:
        ConfigError: On an unknown key, a value of the wrong type or a failed validation.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"'{path or cls.__name__}' must be a mapping, got {type(data).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    check_keys(data, fields, path)
    hints = get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(value, hints[key], f"{path}.{key}" if path else key)
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate(path)
    return obj


def to_dict(obj: Any) -> Any:
    """Turn a config dataclass (recursively) into plain dicts and lists, for YAML and checkpoints."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj
