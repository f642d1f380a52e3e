"""Helpers shared by the benchmark scripts: hardware facts, device-synchronised timing, summaries, markdown.

Nothing here is imported by the library; scripts import it as ``_common`` (run from ``benchmarks/``) or as
``benchmarks._common`` (``python -m benchmarks.<script>`` from the repository root).
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import torch

__all__ = [
    "cpu_model",
    "fmt_mean_std",
    "hardware_info",
    "markdown_table",
    "package_version",
    "summarize",
    "sync",
]


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (falls back to :func:`platform.processor`).

    Returns:
        The model name, or ``"unknown"``.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(dist_name: str) -> str | None:
    """Installed version of a distribution, or None when it is not installed.

    Args:
        dist_name: Distribution name as on PyPI, e.g. ``"rsl-rl-lib"``.

    Returns:
        The version string or None.
    """
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


def hardware_info(device: str) -> dict[str, Any]:
    """The facts a timing is meaningless without.

    Args:
        device: The torch device the benchmark runs on.

    Returns:
        CPU model, logical CPU count, torch threads, torch / python versions and, on CUDA, the GPU name.
    """
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
    }
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        info["gpu_name"] = torch.cuda.get_device_name(torch.device(device))
        info["cuda_version"] = torch.version.cuda
    return info


def sync(device: torch.device) -> None:
    """Wait for queued device work so that a host clock reading covers it (no-op on CPU).

    Args:
        device: The device whose work must be finished.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, min, mean, std (sample) and count of a list of measurements.

    Args:
        values: The measurements (may be empty: every statistic is then NaN and ``n`` is 0).

    Returns:
        ``{"median", "min", "mean", "std", "n"}``.
    """
    if not values:
        nan = float("nan")
        return {"median": nan, "min": nan, "mean": nan, "std": nan, "n": 0}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def fmt_mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``"mean ± std"`` of finite values, or ``"–"`` when there are none.

    Args:
        values: The values.
        digits: Decimals shown.

    Returns:
        The formatted string.
    """
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "–"
    stats = summarize(finite)
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table.

    Args:
        header: Column titles.
        rows: One sequence of cells per row (converted with ``str``).

    Returns:
        The table, lines joined by newlines.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def add_rollout_args(parser: Any, num_envs: int, rounds: int) -> None:
    """The options shared by the rollout-cost benchmarks (guard_cost.py, bootstrap_cost.py)."""
    parser.add_argument("--num-envs", type=int, default=num_envs)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--steps", type=int, default=96, help="steps per measurement (a multiple of 24)")
    parser.add_argument("--hidden-dims", type=int, nargs="+", default=[256, 256], help="actor and critic MLP sizes")


def mlp_runner_cfg(hidden_dims: Sequence[int]) -> dict[str, Any]:
    """A runner config with MLP actor and critic of ``hidden_dims`` on the ``policy`` group, 24 steps per env."""
    return {
        "num_steps_per_env": 24,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "actor": {"hidden_dims": list(hidden_dims), "distribution_cfg": {"class_name": "GaussianDistribution"}},
        "critic": {"hidden_dims": list(hidden_dims)},
    }
