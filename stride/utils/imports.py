"""Resolution of ``class_name`` strings: a bare stride/rsl_rl name or ``"module:Attr"``."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from stride.config.strict import check_keys, suggest
from stride.utils.errors import ConfigError

__all__ = ["check_signature_keys", "import_object", "resolve_callable"]


def resolve_callable(name: Any, known: Mapping[str, Any], path: str) -> Any:
    """Return the object a ``class_name`` (or ``data_augmentation_func``) designates.

    Args:
        name: A bare name from ``known``, ``"package.module:Attr"``, or already a class/callable.
        known: Bare names stride provides.
        path: Dotted config path for error messages.

    Returns:
        The resolved class or callable.

    Raises:
        ConfigError: If the name is unknown or the import fails.
    """
    if callable(name) and not isinstance(name, str):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"'{path}' must be a class name string or 'module:Attr', got {name!r}.")
    if name in known:
        return known[name]
    if ":" in name:
        return import_object(name, path)
    raise ConfigError(
        f"'{path}' = '{name}' is not a known class{suggest(name, known)}; known: {sorted(known)}, "
        "or give 'package.module:Attr'."
    )


def import_object(spec: str, path: str) -> Any:
    """Import ``"package.module:attr.path"`` (or ``"package.module.Attr"``) and return the object.

    Args:
        spec: The import path.
        path: Dotted config path (or command) that gave ``spec``, for error messages.

    Returns:
        The object.

    Raises:
        ConfigError: If the module cannot be imported or an attribute is missing (with a suggestion).
    """
    if ":" in spec:
        module_name, _, attr_path = spec.partition(":")
    else:
        module_name, _, attr_path = spec.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"'{path}' = '{spec}' cannot be imported: cannot import module '{module_name}' ({err}). Fix: put the "
            "module on PYTHONPATH or install its package."
        ) from err
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            match = difflib.get_close_matches(part, names, n=1)
            hint = f" Did you mean '{match[0]}'?" if match else ""
            raise ConfigError(f"'{path}' = '{spec}' cannot be imported: {obj!r} has no attribute '{part}'.{hint}")
        obj = getattr(obj, part)
    return obj


def check_signature_keys(fn: Callable[..., Any], keys: Iterable[str], skip: Iterable[str], path: str) -> None:
    """Check that every key is an accepted keyword of ``fn`` (unless it takes ``**kwargs``).

    Raises:
        ConfigError: Naming the unknown key with a suggestion.
    """
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n in params if n not in set(skip) and n != "self"]
    check_keys(dict.fromkeys(keys), allowed, path)
