"""The generic parts of stride's CUDA-graph fast paths (``algorithm.cuda_graphs`` of PPO, SAC and TD3).

A CUDA graph records the kernels of one call once and replays them with one launch. :class:`GraphedCall` runs a
body of no arguments eagerly for :data:`WARMUP_CALLS` calls on a side stream (lazy optimizer state, cuBLAS
workspaces, ``torch.compile``), then captures it and replays it; on a CPU device it always runs the body eagerly,
which is how the default test tier checks the static-buffer code against the eager algorithms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import torch

__all__ = ["WARMUP_CALLS", "GraphedCall", "make_capturable", "on_side_stream"]

WARMUP_CALLS = 3
"""Eager calls before a capture (torch's guidance for warm-up before ``torch.cuda.graph``)."""

T = TypeVar("T")


def on_side_stream(fn: Callable[[], T]) -> T:
    """Run ``fn`` on a fresh CUDA side stream ordered after the current stream's work.

    The warm-up torch asks for before a capture: lazy set-up such as cuBLAS workspaces stays off the capturing stream.
    """
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        output = fn()
    torch.cuda.current_stream().wait_stream(stream)
    return output


def make_capturable(optimizers: Iterable[torch.optim.Optimizer | None]) -> None:
    """Set ``capturable=True`` on every parameter group (torch refuses to capture ``step()`` otherwise).

    Called right before a capture, so eager steps keep the plain fast path; stride's fused optimizers already keep
    their step counters on the device. None entries are skipped.
    """
    for optimizer in optimizers:
        if isinstance(optimizer, torch.optim.Optimizer):
            for group in optimizer.param_groups:
                group["capturable"] = True


class GraphedCall(Generic[T]):
    """Run ``body`` eagerly for the first :data:`WARMUP_CALLS` calls, then capture it once and replay it.

    Args:
        body: A function of no arguments whose tensors all live at fixed addresses (inputs copied into static
            buffers before each call, state changed in place only); its return value is the graph's output,
            overwritten by every replay.
        capture: False (a CPU device): every call runs ``body`` eagerly.
        before_capture: Called once right before the capture (e.g. to make optimizers capturable).
    """

    def __init__(self, body: Callable[[], T], capture: bool, before_capture: Callable[[], None] | None = None) -> None:
        self.body = body
        self.capture = capture
        self.before_capture = before_capture
        self.graph: torch.cuda.CUDAGraph | None = None
        self.output: T | None = None
        self.calls = 0

    @property
    def captured(self) -> bool:
        """Whether the next call replays a graph."""
        return self.graph is not None

    def ready_to_capture(self) -> bool:
        """Whether the next call captures (warm-up done, not captured yet)."""
        return self.capture and self.graph is None and self.calls >= WARMUP_CALLS

    def __call__(self) -> T:
        """Run, capture or replay ``body``; returns its outputs."""
        if not self.capture:
            self.calls += 1
            return self.body()
        if self.graph is None and self.calls < WARMUP_CALLS:
            self.calls += 1
            return on_side_stream(self.body)
        if self.graph is None:
            if self.before_capture is not None:
                self.before_capture()
            graph = torch.cuda.CUDAGraph()
            # thread-local: a logger thread's CUDA calls elsewhere do not abort the capture
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                self.output = self.body()
            self.graph = graph
        # a capture records without running: the capturing call replays too
        self.graph.replay()
        return self.output  # type: ignore[return-value]

    def reset(self) -> None:
        """Forget the graph (and its memory): the next calls warm up and capture again."""
        self.graph = None
        self.output = None
        self.calls = 0
