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
    "final_evaluation",
    "fmt_mean_std",
    "hardware_info",
    "markdown_table",
    "package_version",
    "seeded_budget",
    "summarize",
    "sync",
    "training_curve",
    "write_run_record",
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


def training_curve(log_dir: str) -> list[list[float]]:
    """``[env steps, Train/mean_reward]`` per logged iteration of a run directory's ``metrics.jsonl``.

    A resumed run logs the iterations after its checkpoint again: the last record of a repeated iteration counts.

    Args:
        log_dir: The run directory.

    Returns:
        One ``[total_steps, mean_reward]`` pair per iteration that ended an episode, in iteration order.
    """
    from stride.logging.plots import read_metrics

    rows: dict[int, dict[str, float]] = {}
    for row in read_metrics(log_dir):
        rows[int(row["iteration"])] = row
    return [
        [int(row["Perf/total_steps"]), float(row["Train/mean_reward"])]
        for _, row in sorted(rows.items())
        if math.isfinite(float(row.get("Train/mean_reward", math.nan)))
    ]


def final_evaluation(task: str, policy: Any, seed: int, episodes: int, num_envs: int, device: str) -> dict[str, Any]:
    """Deterministic evaluation of a trained policy on fresh envs whose seeds no training env used.

    Args:
        task: A ``make_task`` name, e.g. ``"gym:HalfCheetah-v5"``.
        policy: ``runner.get_inference_policy(device)``.
        seed: The training seed; the evaluation envs are seeded with ``10_000 + seed``.
        episodes: Complete episodes to average.
        num_envs: Evaluation envs stepped together.
        device: Torch device.

    Returns:
        ``eval_mean_return``, ``eval_std_return``, ``eval_mean_length``, ``eval_episodes``, ``eval_returns`` and
        ``eval_seconds``.
    """
    import time

    from stride.env.tasks import make_task
    from stride.runners.evaluate import evaluate_policy

    env = make_task(task, num_envs=num_envs, device=device, seed=10_000 + seed)
    start = time.perf_counter()
    result = evaluate_policy(env, policy, num_episodes=episodes)
    seconds = time.perf_counter() - start
    env.close()
    return {
        "eval_mean_return": result.mean_return,
        "eval_std_return": result.std_return,
        "eval_mean_length": result.mean_length,
        "eval_episodes": result.num_episodes,
        "eval_returns": result.returns,
        "eval_seconds": seconds,
    }


def write_run_record(
    path: str,
    runner: Any,
    task: str,
    seed: int,
    *,
    iterations: int,
    train_seconds: float,
    preset: str,
    eval_episodes: int,
    eval_envs: int,
    device: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a finished training run (:func:`final_evaluation`) and write its JSON record to ``path``.

    Args:
        path: The JSON file.
        runner: The runner that trained (its ``log_dir`` holds ``metrics.jsonl``).
        task: Gymnasium id, e.g. ``"HalfCheetah-v5"``.
        seed: Training seed.
        iterations: Iterations of the run.
        train_seconds: Training wall-clock.
        preset: The experiment YAML it trained with.
        eval_episodes: Deterministic evaluation episodes.
        eval_envs: Evaluation envs stepped together.
        device: Torch device.
        extra: Further entries, first in the record.

    Returns:
        The record: task, seed, env steps, iterations, wall-clock, the evaluation, the learning curve, preset,
        hardware and date.
    """
    import datetime
    import json

    evaluation = final_evaluation(
        f"gym:{task}", runner.get_inference_policy(device), seed, eval_episodes, eval_envs, device
    )
    record = {
        **(extra or {}),
        "task": task,
        "seed": seed,
        "env_steps": runner.total_env_steps,
        "iterations": iterations,
        "train_seconds": train_seconds,
        **evaluation,
        "curve": training_curve(runner.log_dir),
        "preset": preset,
        "hardware": hardware_info(device),
        "date": datetime.date.today().isoformat(),
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
    return record


def seeded_budget(experiment: dict[str, Any], seed: int, env_steps: int) -> tuple[dict[str, Any], int, int]:
    """An experiment's runner section set to ``seed`` and to the iterations that cover ``env_steps``.

    Args:
        experiment: An experiment dict (``env.num_envs``, ``runner.num_steps_per_env``); not modified.
        seed: The runner's seed.
        env_steps: The budget, rounded up to whole iterations.

    Returns:
        ``(runner section copy, num_envs, iterations)``.
    """
    import copy

    runner_cfg = copy.deepcopy(experiment["runner"])
    num_envs = int(experiment["env"]["num_envs"])
    iterations = math.ceil(env_steps / (num_envs * int(runner_cfg["num_steps_per_env"])))
    runner_cfg["seed"] = seed
    runner_cfg["max_iterations"] = iterations
    return runner_cfg, num_envs, iterations
