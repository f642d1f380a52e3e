"""Read ``metrics.jsonl`` files and draw learning curves of one or several runs.

matplotlib is imported inside the functions and used through its object API with the Agg canvas: nothing here
touches pyplot's global figure list or the global backend.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml

from stride.logging.writers import METRICS_FILENAME
from stride.utils.errors import ConfigError

__all__ = ["partial_start_iterations", "plot_learning_curves", "read_metrics", "resolve_metrics_path"]

BEHAVIOR_LOSS_KEY = "Loss/behavior"
"""Distillation's objective; drawn in a second panel under the reward when a run logged it."""

_log = logging.getLogger(__name__)


def resolve_metrics_path(run: str) -> str:
    """Return the metrics file of a run given its directory, or the file itself.

    Args:
        run: A run directory (holding ``metrics.jsonl``) or the path of a metrics file.

    Returns:
        The metrics file path (it may not exist).
    """
    return os.path.join(run, METRICS_FILENAME) if os.path.isdir(run) else run


def read_metrics(path: str) -> list[dict[str, float]]:
    """Read a JSON-lines metrics file written by ``JsonlWriter``.

    ``null`` values (non-finite when written) are read as NaN. A malformed *last* line, as left by a run killed
    mid-write, is skipped with a warning.

    Args:
        path: The metrics file, or a run directory holding ``metrics.jsonl``.

    Returns:
        One dict per line in file order, e.g. ``{"iteration": 0, "Train/mean_reward": 1.5, ...}``.

    Raises:
        ConfigError: The file does not exist, or a line other than the last is not a JSON object.
    """
    path = resolve_metrics_path(path)
    if not os.path.isfile(path):
        raise ConfigError(
            f"No metrics file at {path!r}; expected a run directory holding {METRICS_FILENAME} (written by the "
            "'jsonl' log backend) or the path of such a file. Check the path, and that the run logged with jsonl."
        )
    with open(path, encoding="utf-8") as file:
        lines = [(number, line) for number, line in enumerate(file, start=1) if line.strip()]
    records: list[dict[str, float]] = []
    for index, (number, line) in enumerate(lines):
        try:
            parsed: Any = json.loads(line)
            if not isinstance(parsed, dict):
                raise ValueError(f"a JSON {type(parsed).__name__}")
        except ValueError as error:
            if index == len(lines) - 1:
                _log.warning("Skipping the truncated last line %d of %s (%s).", number, path, error)
                break
            raise ConfigError(
                f"Line {number} of {path!r} is not a JSON object ({error}); expected one object per line as "
                "written by JsonlWriter. Repair or remove that line."
            ) from error
        records.append({key: math.nan if value is None else value for key, value in parsed.items()})
    return records


def _curve(
    records: list[dict[str, float]], key: str, x_key: str, skip_iterations: int = 0
) -> tuple[list[float], list[float]]:
    """``(x, y)`` of ``key`` sorted by x.

    A repeated iteration (resumed run) keeps its last record; iterations below ``skip_iterations`` are left out.
    """
    by_iteration: dict[object, dict[str, float]] = {}
    for position, record in enumerate(records):
        if record.get("iteration", position) < skip_iterations:
            continue
        if key in record and x_key in record:
            by_iteration[record.get("iteration", position)] = record
    points = sorted((float(r[x_key]), float(r[key])) for r in by_iteration.values())
    return [x for x, _ in points], [y for _, y in points]


def _run_folder(run: str) -> str:
    """The run directory of a run given as a directory or as its metrics file."""
    return run if os.path.isdir(run) else os.path.dirname(run)


def _read_yaml(path: str) -> dict[str, Any]:
    """A YAML mapping, or ``{}`` when the file is missing or unreadable (the plot then does without it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _task_name(folder: str) -> str | None:
    """The run's task: ``experiment.yaml``'s ``task``, else the env id or task recorded in ``config.yaml``."""
    task = _read_yaml(os.path.join(folder, "experiment.yaml")).get("task")
    if task is None:
        env = _read_yaml(os.path.join(folder, "config.yaml")).get("env")
        if isinstance(env, dict):
            task = env.get("task") or env.get("env_id")
    return str(task) if task else None


def _default_labels(runs: Sequence[str]) -> list[str]:
    """``<task>: <run name>`` per run.

    The task comes from the run's files (when recorded), the name is the directory name, or the path as given where
    two runs would get the same label.
    """
    folders = [os.path.normpath(_run_folder(run) or ".") for run in runs]
    tasks = [_task_name(folder) for folder in folders]
    names = [os.path.basename(os.path.abspath(folder)) for folder in folders]
    if len(set(zip(tasks, names, strict=True))) != len(names):
        names = folders
    return [f"{task}: {name}" if task else name for task, name in zip(tasks, names, strict=True)]


def partial_start_iterations(run: str) -> int:
    """How many first iterations logged episodes that started at a random point of their time limit.

    With ``init_at_random_ep_len`` every env begins at a random step of its time limit ``T``, so the episodes that
    end in the first ``T`` env steps are cut short (their returns look better, or worse, than a whole episode's),
    and every episode that ends after step ``T`` started from a reset. Iteration ``i`` ends the episodes of steps
    ``(i·n, (i+1)·n]`` (``n = num_steps_per_env``), so iterations ``0 .. ceil(T / n) − 1`` are affected.

    Args:
        run: A run directory (or its metrics file) written by ``stride train``: ``experiment.yaml`` says whether
            episodes started at random points, ``config.yaml`` holds ``T`` and ``n``.

    Returns:
        ``ceil(T / n)`` for a run with random episode starts, else 0 (also when the files are missing).
    """
    folder = _run_folder(run)
    if not _read_yaml(os.path.join(folder, "experiment.yaml")).get("init_at_random_ep_len"):
        return 0
    config = _read_yaml(os.path.join(folder, "config.yaml"))
    env, runner = config.get("env"), config.get("runner")
    horizon = env.get("max_episode_length") if isinstance(env, dict) else None
    steps = runner.get("num_steps_per_env") if isinstance(runner, dict) else None
    if not isinstance(horizon, int) or not isinstance(steps, int) or steps < 1:
        return 0
    return -(-horizon // steps)


def plot_learning_curves(
    run_dirs: Sequence[str],
    out_path: str,
    key: str = "Train/mean_reward",
    x_key: str = "Perf/total_steps",
    labels: Sequence[str] | None = None,
) -> str:
    """Plot ``key`` against ``x_key`` for each run and save the figure as a PNG.

    Runs sharing a label are drawn as one line, their mean, inside a band from their minimum to their maximum,
    on the x values where all of them have data (each run linearly interpolated there). When some run lacks
    ``x_key``, every run is plotted against ``"iteration"`` instead. A run without ``key`` is skipped with a
    warning.

    Episode statistics (``Train/mean_reward``, ``Train/mean_episode_length``) of a run that started its envs at
    random points of the time limit begin once every counted episode started from a reset (see
    :func:`partial_start_iterations`); a note on the plot says how many iterations were left out. When a run
    logged distillation's behaviour loss (``Loss/behavior``), a second panel shows it under ``key``.

    Args:
        run_dirs: Run directories (or their ``metrics.jsonl`` paths).
        out_path: PNG file to write (parent folders are created; written atomically).
        key: Scalar on the y axis.
        x_key: Scalar on the x axis.
        labels: Legend label per run; equal labels group runs (e.g. seeds). Default: ``<task>: <run name>``.

    Returns:
        ``out_path``.

    Raises:
        ConfigError: ``run_dirs`` is empty, ``labels`` has the wrong length, a run has no metrics file, or no
            run holds ``key``.
    """
    if not run_dirs:
        raise ConfigError("plot_learning_curves received no run directories; expected at least one.")
    if labels is not None and len(labels) != len(run_dirs):
        raise ConfigError(
            f"plot_learning_curves received {len(labels)} labels for {len(run_dirs)} runs; expected one label per "
            "run, or labels=None."
        )
    used_x, groups = _collect_curves(run_dirs, key, x_key, labels)
    panels = [(key, groups)]
    skipped = max(partial_start_iterations(run) for run in run_dirs) if key in _EPISODE_KEYS else 0
    if key != BEHAVIOR_LOSS_KEY and any(BEHAVIOR_LOSS_KEY in r for run in run_dirs for r in read_metrics(run)):
        panels.append((BEHAVIOR_LOSS_KEY, _collect_curves(run_dirs, BEHAVIOR_LOSS_KEY, used_x, labels)[1]))
    note = f"first {skipped} iterations not drawn: random episode starts cut their episodes short" if skipped else ""
    _save_figure(panels, out_path, x_key=used_x, note=note)
    return out_path


_Curve = tuple[list[float], list[float]]
_EPISODE_KEYS = ("Train/mean_reward", "Train/mean_episode_length")
"""Statistics of ended episodes: the ones a random episode start distorts at the beginning of a run."""


def _collect_curves(
    run_dirs: Sequence[str], key: str, x_key: str, labels: Sequence[str] | None
) -> tuple[str, dict[str, list[_Curve]]]:
    """Read every run and return the x key used and the ``(x, y)`` curves grouped by label."""
    run_labels = list(labels) if labels is not None else _default_labels(run_dirs)
    all_records = [read_metrics(run) for run in run_dirs]
    with_key = [[r for r in records if key in r] for records in all_records]
    if not any(with_key):
        raise ConfigError(
            f"No run holds the key {key!r} (searched {[resolve_metrics_path(r) for r in run_dirs]}); expected a "
            "logged scalar such as 'Train/mean_reward'. Pass a key that appears in metrics.jsonl."
        )
    for run, records in zip(run_dirs, with_key, strict=True):
        if not records:
            _log.warning("Run %s has no %r values; it is left out of the plot.", resolve_metrics_path(run), key)
    used_x = x_key if all(x_key in r for records in with_key for r in records) else "iteration"
    groups: dict[str, list[_Curve]] = {}
    for run, label, records in zip(run_dirs, run_labels, with_key, strict=True):
        skip = partial_start_iterations(run) if key in _EPISODE_KEYS else 0
        curve = _curve(records, key, used_x, skip)
        if curve[0]:
            groups.setdefault(label, []).append(curve)
    return used_x, groups


def _aggregate(curves: Sequence[_Curve]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Mean, minimum and maximum of several runs on a common x grid; ``None`` when their x ranges do not overlap.

    The grid is every x value of every run inside the range all runs cover; each run is linearly interpolated
    onto it. Returns ``(grid, mean, lowest, highest)``, each of shape ``(grid_size,)``.
    """
    low = max(x[0] for x, _ in curves)
    high = min(x[-1] for x, _ in curves)
    grid = np.unique(np.concatenate([np.asarray(x, dtype=np.float64) for x, _ in curves]))
    grid = grid[(grid >= low) & (grid <= high)]
    if grid.size == 0:
        return None
    stacked = np.stack([np.interp(grid, x, y) for x, y in curves])
    with warnings.catch_warnings():  # a column where every run is NaN stays NaN (a gap in the line), silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return grid, np.nanmean(stacked, axis=0), np.nanmin(stacked, axis=0), np.nanmax(stacked, axis=0)


def _save_figure(
    panels: Sequence[tuple[str, dict[str, list[_Curve]]]], out_path: str, *, x_key: str, note: str = ""
) -> None:
    """Draw one panel per ``(key, groups)`` and write the PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.5 if len(panels) == 1 else 7.0), layout="constrained")
    FigureCanvasAgg(figure)  # explicit Agg canvas: no pyplot, no global backend
    all_axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for axes, (key, groups) in zip(all_axes, panels, strict=True):
        _draw_groups(axes, groups, x_key)
        axes.set_ylabel(key)
        axes.grid(alpha=0.3)
        if groups:
            axes.legend(loc="best", fontsize="small")
    all_axes[0].set_title(f"Learning curve: {panels[0][0]}")
    if note:
        all_axes[0].text(0.01, 0.01, note, transform=all_axes[0].transAxes, fontsize="x-small", alpha=0.7)
    all_axes[-1].set_xlabel("environment steps" if x_key == "Perf/total_steps" else x_key)

    parent = os.path.dirname(out_path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    temporary = f"{out_path}.tmp{os.getpid()}"
    try:
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, out_path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _draw_groups(axes: Any, groups: dict[str, list[_Curve]], x_key: str) -> None:
    """One line per group: the curve of a single run, or the mean of several inside their min-max band."""
    for label, curves in groups.items():
        if len(curves) == 1:
            axes.plot(curves[0][0], curves[0][1], label=label)
            continue
        aggregate = _aggregate(curves)
        if aggregate is None:
            _log.warning("Runs labelled %r share no %s range; they are drawn one by one.", label, x_key)
            color = None
            for x, y in curves:
                (line,) = axes.plot(x, y, color=color, label=label if color is None else None)
                color = line.get_color()
            continue
        grid, mean, lowest, highest = aggregate
        (line,) = axes.plot(grid, mean, label=f"{label} (mean of {len(curves)})")
        axes.fill_between(grid, lowest, highest, alpha=0.2, linewidth=0, color=line.get_color())
