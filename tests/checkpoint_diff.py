"""Test helper: which leaves of two nested state structures differ (tensors compared bitwise).

Importable from any test module: ``pyproject.toml`` puts ``tests/`` on pytest's ``pythonpath``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch


def flatten_state(state: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings, lists and tuples → ``{dotted path: leaf}``; tensors and arrays are copied (a snapshot)."""
    if isinstance(state, Mapping):
        out: dict[str, Any] = {}
        for key, value in state.items():
            out.update(flatten_state(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(state, (list, tuple)):
        out = {}
        for i, value in enumerate(state):
            out.update(flatten_state(value, f"{prefix}[{i}]"))
        return out
    if isinstance(state, torch.Tensor):
        return {prefix: state.clone()}
    if isinstance(state, np.ndarray):
        return {prefix: state.copy()}
    return {prefix: state}


def differing_leaves(a: Any, b: Any) -> list[str]:
    """Sorted paths whose leaves differ, plus the paths present on one side only.

    Tensors and numpy arrays are equal only with the same dtype, shape and bits; other leaves compare with ``==``.
    """
    flat_a, flat_b = flatten_state(a), flatten_state(b)
    out = []
    for key in sorted(set(flat_a) | set(flat_b)):
        if key not in flat_a or key not in flat_b:
            out.append(key)
            continue
        x, y = flat_a[key], flat_b[key]
        if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
            same = x.dtype == y.dtype and torch.equal(x, y)
        elif isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
            same = x.dtype == y.dtype and np.array_equal(x, y)
        elif isinstance(x, (torch.Tensor, np.ndarray)) or isinstance(y, (torch.Tensor, np.ndarray)):
            same = False  # an array against anything else
        else:
            same = x == y
        if not same:
            out.append(key)
    return out
