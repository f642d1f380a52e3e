"""Helpers of the CUDA-graph gpu tests (PPO's and the off-policy learners'): state distance, no-host-sync region."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference over the tensors of two states with the same keys, in float64."""
    assert list(a) == list(b)
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@contextlib.contextmanager
def no_host_sync(device: str = "cuda") -> Iterator[None]:
    """Any host synchronization inside raises (``torch.cuda.set_sync_debug_mode("error")``; CUDA only)."""
    if device != "cuda":
        yield
        return
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")
