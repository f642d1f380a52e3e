"""The log-writer protocol and the registry that maps backend names to writer factories.

A writer receives one mapping of scalars per training iteration. Backends are pluggable: a new one (W&B, Neptune,
a user's own) only needs ``write_scalars`` and ``close``, and a factory registered under a name with
:func:`register_writer` makes it selectable from ``RunLogger.create(backends=[...])``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

from stride.utils.errors import ConfigError

__all__ = ["LogWriter", "WriterFactory", "available_writers", "make_writer", "register_writer"]


@runtime_checkable
class LogWriter(Protocol):
    """Something that records the scalars of each training iteration.

    Implementations may raise from any method: ``RunLogger`` disables a failing writer after one warning, so a
    logging backend never stops training.
    """

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Record the scalars of one iteration.

        Args:
            step: Training iteration the scalars belong to.
            scalars: Namespaced keys (``Loss/value``, ``Perf/total_fps``, ...) to float values. Values may be
                non-finite.
        """
        ...

    def close(self) -> None:
        """Flush pending data and release files or connections. Calling it twice is harmless."""
        ...


WriterFactory = Callable[[str], LogWriter]
"""Builds a writer from the run directory (``log_dir``) it should write into."""

_REGISTRY: dict[str, WriterFactory] = {}


def register_writer(name: str, factory: WriterFactory, *, overwrite: bool = False) -> None:
    """Make a writer backend selectable by name in ``RunLogger.create(backends=...)``.

    Args:
        name: Backend name, e.g. ``"wandb"``.
        factory: Called with the run directory; returns the writer. Options the backend needs beyond the
            directory (project name, API key, ...) are bound into the factory, e.g. with ``functools.partial``.
        overwrite: Replace an existing registration of ``name`` instead of raising.

    Raises:
        ConfigError: ``name`` is already registered and ``overwrite`` is false, or ``name`` is empty.
    """
    if not name:
        raise ConfigError("register_writer received an empty backend name; expected a non-empty string.")
    if name in _REGISTRY and not overwrite:
        raise ConfigError(
            f"Log writer backend {name!r} is already registered; pass overwrite=True to replace it "
            "or register under another name."
        )
    _REGISTRY[name] = factory


def available_writers() -> tuple[str, ...]:
    """Return the registered backend names, sorted.

    Returns:
        The names accepted by :func:`make_writer`.
    """
    return tuple(sorted(_REGISTRY))


def make_writer(name: str, log_dir: str) -> LogWriter:
    """Build the writer registered under ``name`` for the run directory ``log_dir``.

    Args:
        name: Registered backend name.
        log_dir: Run directory the writer writes into.

    Returns:
        The new writer.

    Raises:
        ConfigError: ``name`` is not registered; the message lists the registered names and a close match.
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown log writer backend {name!r}; expected one of {list(available_writers())}.{hint} "
            "Register custom backends with stride.logging.register_writer."
        )
    return factory(log_dir)
