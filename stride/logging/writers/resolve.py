"""Turns the runner's ``logger`` setting (rsl_rl's formats) into the list of writers a run logs to.

Accepted forms of ``logger``:

- ``"tensorboard"`` (default), ``"wandb"``, ``"neptune"``; the last two take their project from the runner keys
  ``wandb_project`` / ``neptune_project`` and also write TensorBoard events, as rsl_rl's writers do.
- The name of any backend registered with ``register_writer`` (e.g. ``"jsonl"``).
- ``{"class_name": "WandbLogWriter" | "NeptuneLogWriter", "project_name": ..., **writer_kwargs}``.
- ``{"class_name": "package.module:Attr", **kwargs}``: a user class built as ``Attr(log_dir=..., **kwargs)``. It
  may follow stride's ``LogWriter`` (``write_scalars``/``close``) or rsl_rl's (``add_scalar``/``stop``).

``"jsonl"`` (``<log_dir>/metrics.jsonl``) is always added: the console, plots and ``stride plot`` read it.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stride.logging.writers.base import LogWriter, WriterFactory, available_writers, make_writer
from stride.logging.writers.neptune import NeptuneLogWriter
from stride.logging.writers.tensorboard import TensorBoardWriter
from stride.logging.writers.wandb import WandbLogWriter
from stride.utils.errors import ConfigError
from stride.utils.imports import check_signature_keys, resolve_callable

__all__ = ["open_writers", "resolve_backends", "upload_files"]

_log = logging.getLogger(__name__)

# class_name or string alias -> (backend name = pip extra, writer class, optional module it needs)
_BUILTIN: dict[str, tuple[str, type[LogWriter], str | None]] = {
    "tensorboard": ("tensorboard", TensorBoardWriter, None),
    "TensorBoardWriter": ("tensorboard", TensorBoardWriter, None),
    "wandb": ("wandb", WandbLogWriter, "wandb"),
    "WandbLogWriter": ("wandb", WandbLogWriter, "wandb"),
    "neptune": ("neptune", NeptuneLogWriter, "neptune"),
    "NeptuneLogWriter": ("neptune", NeptuneLogWriter, "neptune"),
}
_PROJECT_KEYS = {"wandb": "wandb_project", "neptune": "neptune_project"}


class _RslRlWriterAdapter(LogWriter):
    """Presents an rsl_rl-style writer (``add_scalar(tag, value, step)``, ``stop()``) as a stride ``LogWriter``."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, float(value), int(step))

    def save_file(self, path: str) -> None:
        save = getattr(self.writer, "save_file", None)
        if callable(save):
            save(path)

    def close(self) -> None:
        for method in ("stop", "close"):
            finish = getattr(self.writer, method, None)
            if callable(finish):
                finish()
                return


def _is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # already in sys.modules without a spec (e.g. a stand-in module): importable
        return True


def _require_package(module: str | None, backend: str) -> None:
    """Raise when the optional package a backend needs is not installed (checked without importing it)."""
    if module is not None and not _is_installed(module):
        raise ConfigError(
            f"logger {backend!r} needs the '{module}' package, which is not installed. Install it with "
            f"`pip install 'stride-rl[{backend}]'`, or set logger='tensorboard'."
        )


def _builtin_factory(cls: type[LogWriter], kwargs: Mapping[str, Any]) -> WriterFactory:
    frozen = dict(kwargs)

    def factory(log_dir: str) -> LogWriter:
        return cls(log_dir, **frozen)  # type: ignore[call-arg]  # each built-in takes log_dir first

    return factory


def _custom_factory(cls: Any, kwargs: Mapping[str, Any]) -> WriterFactory:
    frozen = dict(kwargs)

    def factory(log_dir: str) -> LogWriter:
        writer = cls(log_dir=log_dir, **frozen)
        return writer if callable(getattr(writer, "write_scalars", None)) else _RslRlWriterAdapter(writer)

    return factory


def _unknown(name: str) -> ConfigError:
    known = sorted({*_BUILTIN, *available_writers()})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(
        f"Unknown logger {name!r}; expected one of {known}, a dict {{'class_name': ..., ...}}, or a "
        f"'package.module:Attr' class.{hint}"
    )


def _from_mapping(
    cfg: Mapping[str, Any], runner_cfg: Mapping[str, Any], config: Mapping[str, Any]
) -> tuple[str, WriterFactory, bool]:
    """Resolve the dict form; returns (backend name, factory, whether TensorBoard is added next to it)."""
    if "class_name" not in cfg:
        raise ConfigError(
            f"logger dict {dict(cfg)!r} has no 'class_name'; expected e.g. "
            "{'class_name': 'WandbLogWriter', 'project_name': 'my-project'}."
        )
    class_name = cfg["class_name"]
    kwargs = {key: value for key, value in cfg.items() if key != "class_name"}
    if isinstance(class_name, str) and class_name in _BUILTIN:
        backend, cls, module = _BUILTIN[class_name]
        if "project_name" in kwargs:
            if "project" in kwargs:
                raise ConfigError(
                    f"logger dict gives both 'project_name' ({kwargs['project_name']!r}) and 'project' "
                    f"({kwargs['project']!r}); keep one."
                )
            kwargs["project"] = kwargs.pop("project_name")
        check_signature_keys(cls.__init__, kwargs, skip=("log_dir",), path="logger")
        if backend in _PROJECT_KEYS:
            # Dict form without a project: fall back to the rsl_rl runner key, as the string form does.
            kwargs.setdefault("project", runner_cfg.get(_PROJECT_KEYS[backend]))
            kwargs.setdefault("config", config)
        _require_package(module, backend)
        return backend, _builtin_factory(cls, kwargs), backend != "tensorboard"
    if isinstance(class_name, str) and class_name in available_writers():
        if kwargs:
            raise ConfigError(
                f"logger {class_name!r} is a registered backend and takes no options, got {sorted(kwargs)}; bind "
                "options into the factory given to register_writer."
            )
        return class_name, functools.partial(make_writer, class_name), False
    if isinstance(class_name, str) and ":" not in class_name:
        raise _unknown(class_name)
    cls = resolve_callable(class_name, {}, "logger.class_name")
    if not (callable(getattr(cls, "write_scalars", None)) or callable(getattr(cls, "add_scalar", None))):
        raise ConfigError(
            f"logger class {class_name!r} has neither write_scalars(step, scalars) (stride LogWriter) nor "
            "add_scalar(tag, value, step) (rsl_rl LogWriter); implement one of them."
        )
    if "log_dir" in kwargs:
        raise ConfigError("logger dict must not set 'log_dir'; the runner passes its run directory.")
    return getattr(cls, "__name__", str(class_name)), _custom_factory(cls, kwargs), False


def resolve_backends(
    logger_cfg: str | Mapping[str, Any],
    runner_cfg: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
) -> list[tuple[str, WriterFactory]]:
    """Turn the runner's ``logger`` setting into named writer factories; checks everything before training.

    Nothing is imported or started here (``wandb``/``neptune`` are only looked up); each factory builds its writer
    when called with the run directory.

    Args:
        logger_cfg: The runner's ``logger`` value (see the module docstring for the accepted forms).
        runner_cfg: The runner's configuration as a plain dict; ``wandb_project`` / ``neptune_project`` are read
            from it (missing means ``None``).
        config: Configuration recorded in a W&B / Neptune run; default ``{"runner": runner_cfg}``.

    Returns:
        ``(backend name, factory)`` pairs in logging order, ending with ``("jsonl", ...)``; no name repeats.

    Raises:
        ConfigError: Unknown logger name (with the closest match), a dict without ``class_name``, an unknown writer
            option, an unimportable ``module:Attr``, or a backend whose package is not installed (the message gives
            the ``pip install 'stride-rl[...]'`` command).
    """
    recorded = dict(config) if config is not None else {"runner": dict(runner_cfg)}
    backends: list[tuple[str, WriterFactory]] = []
    if isinstance(logger_cfg, str):
        if logger_cfg in _BUILTIN:
            backend, cls, module = _BUILTIN[logger_cfg]
            _require_package(module, backend)
            # rsl_rl's W&B / Neptune writers also write TensorBoard events into the run directory.
            backends.append(("tensorboard", functools.partial(make_writer, "tensorboard")))
            if backend != "tensorboard":
                kwargs: dict[str, Any] = {"project": runner_cfg.get(_PROJECT_KEYS[backend]), "config": recorded}
                tags = runner_cfg.get("wandb_tags")
                if backend == "wandb" and tags:
                    kwargs["init_kwargs"] = {"tags": [str(t) for t in tags]}  # mjlab's wandb_tags
                backends.append((backend, _builtin_factory(cls, kwargs)))
        elif logger_cfg in available_writers():
            backends.append((logger_cfg, functools.partial(make_writer, logger_cfg)))
        elif ":" in logger_cfg:
            name, factory, _ = _from_mapping({"class_name": logger_cfg}, runner_cfg, recorded)
            backends.append((name, factory))
        else:
            raise _unknown(logger_cfg)
    elif isinstance(logger_cfg, Mapping):
        name, factory, with_tensorboard = _from_mapping(logger_cfg, runner_cfg, recorded)
        if with_tensorboard:
            backends.append(("tensorboard", functools.partial(make_writer, "tensorboard")))
        backends.append((name, factory))
    else:
        raise ConfigError(
            f"logger must be a backend name or a dict with 'class_name', got {type(logger_cfg).__name__} "
            f"{logger_cfg!r}; e.g. logger='tensorboard'."
        )
    if all(name != "jsonl" for name, _ in backends):
        backends.append(("jsonl", functools.partial(make_writer, "jsonl")))
    return backends


def open_writers(backends: Sequence[tuple[str, WriterFactory]], log_dir: str) -> list[LogWriter]:
    """Build the writers of a run; one that fails to start is left out after a warning.

    Args:
        backends: Output of :func:`resolve_backends`.
        log_dir: Run directory (must exist or be creatable by the writers).

    Returns:
        The writers that started, in order. A failure (no network, not logged in, ...) never stops training.

    Raises:
        ConfigError: A factory rejected its configuration.
    """
    writers: list[LogWriter] = []
    for name, factory in backends:
        try:
            writers.append(factory(log_dir))
        except ConfigError:
            raise
        except Exception as error:  # a logging backend must never stop training
            _log.warning("Log backend %r could not be started and is disabled: %r", name, error)
    return writers


def upload_files(writers: Iterable[object], paths: Iterable[str]) -> None:
    """Attach files (checkpoints, git diffs, config) to every writer that has ``save_file`` (W&B, Neptune).

    Args:
        writers: The run's writers, e.g. ``RunLogger.writers``.
        paths: Files to attach.

    Failures are logged as warnings and never raised.
    """
    paths = list(paths)
    for writer in writers:
        save = getattr(writer, "save_file", None)
        if not callable(save):
            continue
        for path in paths:
            try:
                save(path)
            except Exception as error:  # uploading is best effort
                _log.warning("%s could not upload %s: %r", type(writer).__name__, path, error)
