"""R22 soak: 1,000 training iterations keep memory flat and keep no autograd graph across iterations."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner

WARMUP, TOTAL, CHUNK = 100, 1000, 100
MAX_GROWTH_MB = 50.0


def _rss_mb() -> float:
    """Resident memory of this process in MiB (from /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _live_tensors() -> tuple[int, int]:
    """(tensors tracked by the garbage collector, those of them that belong to an autograd graph)."""
    gc.collect()
    tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor)]
    return len(tensors), sum(t.grad_fn is not None for t in tensors)


def _tensors_of(value: Any, name: str) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor inside an attribute value (tensors, TensorDicts, dicts, lists, tuples)."""
    if isinstance(value, torch.Tensor):
        yield name, value
    elif isinstance(value, TensorDict):
        for key in value.keys():  # noqa: SIM118 - iterating a TensorDict yields rows, not keys
            yield from _tensors_of(value.get(key), f"{name}.{key}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors_of(item, f"{name}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors_of(item, f"{name}[{i}]")


@pytest.mark.filterwarnings("ignore::FutureWarning")
class TestLeakDetectors:
    """The soak's instruments see what they must: a kept 64 MB tensor in RSS, a kept graph in the tensor census."""

    def test_instruments_see_a_leak(self) -> None:
        # regression (seen in the full tier): freed heap pages that stay resident satisfied the 64 MB allocation
        # without RSS growing; hand them back to the OS first so the allocation has to fault in new pages
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        rss_before = _rss_mb()
        tensors_before, graph_before = _live_tensors()
        weight = torch.ones(4, requires_grad=True)
        kept = [torch.ones(16 * 2**20) for _ in range(1)] + [weight * 2.0]  # 64 MB, and an autograd graph
        tensors_after, graph_after = _live_tensors()
        assert _rss_mb() - rss_before > 60.0
        assert tensors_after >= tensors_before + 3 and graph_after == graph_before + 1
        del kept


@pytest.mark.slow  # ~60-90 s on a loaded 2-core machine
@pytest.mark.filterwarnings("ignore::FutureWarning")  # gc.get_objects() touches torch's deprecated aliases
class TestSoak:
    """1,000 iterations of a tiny cartpole run: resident memory grows < 50 MB after a 100-iteration warm-up, the
    number of live tensors is flat, and no tensor the runner keeps carries an autograd graph."""

    def test_thousand_iterations(self, record_property: Any) -> None:
        cfg = {
            "num_steps_per_env": 8,
            "seed": 0,
            "actor": {"hidden_dims": [16, 16], "distribution_cfg": {"class_name": "GaussianDistribution"}},
            "critic": {"hidden_dims": [16, 16]},
        }
        runner = OnPolicyRunner(make_task("cartpole", num_envs=16, seed=0), cfg, log_dir=None)
        start = time.perf_counter()
        runner.learn(WARMUP)
        tensors_start, graph_start = _live_tensors()
        rss_start = _rss_mb()
        readings = [rss_start]
        while runner.current_learning_iteration < TOTAL:
            runner.learn(CHUNK)
            gc.collect()
            readings.append(_rss_mb())
        seconds = time.perf_counter() - start
        tensors_end, graph_end = _live_tensors()
        growth = readings[-1] - rss_start
        record_property(
            "soak",
            f"iterations={runner.current_learning_iteration} seconds={seconds:.1f} rss_start_mb={rss_start:.1f} "
            f"growth_mb={growth:.2f} peak_growth_mb={max(readings) - rss_start:.2f} tensors={tensors_start}->"
            f"{tensors_end} graph_tensors={graph_start}->{graph_end}",
        )
        assert runner.current_learning_iteration == TOTAL
        assert growth < MAX_GROWTH_MB, f"RSS grew {growth:.1f} MB over {TOTAL - WARMUP} iterations: {readings}"
        # a leak of one tensor per iteration would add 900; the count must stay flat
        assert tensors_end <= tensors_start + 8, (tensors_start, tensors_end)
        assert graph_end <= graph_start, (graph_start, graph_end)
        alg = runner.alg
        kept = dict(_tensors_of(vars(alg.storage), "storage"))
        kept.update(_tensors_of({"ep_return": runner._ep_return, "ep_length": runner._ep_length}, "runner"))
        kept.update(_tensors_of({"loss_sums": alg._loss_sums, "lr": alg._lr}, "alg"))
        kept.update(_tensors_of(dict(alg.actor.named_buffers()), "actor"))
        kept.update(_tensors_of({str(i): state for i, state in enumerate(alg.optimizer.state.values())}, "optimizer"))
        assert len(kept) > 15  # not vacuous: the storage buffers, statistics and optimizer moments are all here
        with_graph = [name for name, t in kept.items() if t.grad_fn is not None or t.requires_grad]
        assert with_graph == [], f"tensors kept across iterations with autograd history: {with_graph}"
        grads = [p.grad for p in alg.actor.parameters() if p.grad is not None]
        assert grads and all(g.grad_fn is None for g in grads)
