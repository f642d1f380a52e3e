"""``torch_compile_mode``: compile the model calls of an algorithm's hot paths with ``torch.compile``.

The algorithms keep their models uncompiled (``state_dict`` keys, checkpoints, export and ``get_policy()`` see
the plain modules, never an ``OptimizedModule`` with ``_orig_mod.`` prefixes) and route the calls of the rollout
and of the update through callables this module compiles: the bound methods of the same module objects, so the
compiled and the plain calls share one set of parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar, cast, get_args

import torch

from stride.utils.errors import ConfigError

__all__ = ["COMPILE_MODES", "CompileMode", "check_compile_mode", "compiled"]

CompileMode = Literal["default", "max-autotune-no-cudagraphs"]
"""The ``torch.compile`` modes the key accepts (rsl_rl 5.5.1's set)."""

COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)

_GRAPH_MODES = ("reduce-overhead", "max-autotune")
"""torch.compile modes that capture CUDA graphs: refused (a replay overwrites the previous call's outputs, and the
rollout keeps the outputs of several calls alive at once)."""

F = TypeVar("F", bound=Callable[..., object])


def check_compile_mode(mode: object) -> CompileMode | None:
    """Return ``mode`` if the key accepts it.

    Raises:
        ConfigError: Naming the value received and the accepted ones (and why CUDA-graph modes are refused).
    """
    if mode is None or mode in COMPILE_MODES:
        return cast("CompileMode | None", mode)
    why = (
        " It captures CUDA graphs, whose replay overwrites the previous call's output buffers while the rollout and "
        "the update still hold them."
        if mode in _GRAPH_MODES
        else ""
    )
    raise ConfigError(
        f"torch_compile_mode must be one of {[*COMPILE_MODES, None]}, got {mode!r}.{why} Use 'default' or "
        "'max-autotune-no-cudagraphs', or null for eager execution."
    )


def compiled(fn: F, mode: CompileMode | None) -> F:
    """``fn`` compiled with ``torch.compile(mode=mode)``; ``fn`` itself when ``mode`` is None.

    Args:
        fn: A model call of a hot path, e.g. the bound method ``actor.distribution_params``.
        mode: One of :data:`COMPILE_MODES`, or None (eager).

    Raises:
        ConfigError: If ``mode`` is not accepted (see :func:`check_compile_mode`).
    """
    mode = check_compile_mode(mode)
    if mode is None:
        return fn
    return cast(F, torch.compile(fn, mode=mode))
