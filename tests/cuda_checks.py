"""Helpers of the CUDA-graph tests (PPO's and the off-policy learners', CPU and gpu tiers): state distance,
no-host-sync region, the results of every update."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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


def record_updates(alg: Any) -> list[dict[str, float]]:
    """Wrap ``alg.update`` so every call's returned statistics are appended to the list returned here."""
    results: list[dict[str, float]] = []
    update = alg.update

    def recording(iteration: int | None = None) -> dict[str, float]:
        result = update(iteration)
        results.append(result)
        return result

    alg.update = recording
    return results
