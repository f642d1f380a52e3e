"""The per-iteration console line: rewards, throughput, timings, losses, learning rate, noise and ETA."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

__all__ = ["ConsoleView", "format_duration", "progress_bar"]

# Display names of the usual loss terms, in display order; other ``Loss/*`` keys follow, shortened.
_LOSS_ABBREVIATIONS: dict[str, str] = {
    "value": "value",
    "value_function": "value",
    "surrogate": "surr",
    "entropy": "ent",
    "symmetry": "sym",
    "rnd": "rnd",
    "behavior": "bc",
    "distillation": "distill",
}
_LOSS_NAME_WIDTH = 6
_LEARNING_RATE_KEYS = ("Policy/learning_rate", "Loss/learning_rate")


def progress_bar(done: int, total: int, width: int = 12) -> str:
    """A text progress bar such as ``[#####-------]``; full when ``total`` is 0."""
    fraction = 1.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
    filled = round(fraction * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def format_duration(seconds: float) -> str:
    """Format a duration compactly: ``"45s"``, ``"1m02s"``, ``"3h07m"``, ``"2d05h"``.

    Args:
        seconds: Duration; negative values count as zero.

    Returns:
        The text, or ``"--"`` when ``seconds`` is NaN or infinite.
    """
    if not math.isfinite(seconds):
        return "--"
    total = max(0, round(seconds))
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _format_rate(value: float) -> str:
    """Format a rate with a k / M / G suffix: ``35200 -> "35.2k"``."""
    if not math.isfinite(value):
        return str(value)
    for threshold, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return f"{value:.0f}"


def _loss_label(name: str) -> str:
    """Short display name of the loss ``Loss/<name>``."""
    return _LOSS_ABBREVIATIONS.get(name, name.replace("/", "_")[:_LOSS_NAME_WIDTH])


class ConsoleView:
    """Writes one line per iteration (or every ``every`` iterations) to a text stream.

    Example line::

        it  13/100 | return  475.3 | len 500.0 | 35.2k steps/s | collect 0.06s learn 0.70s |
        value 0.123 surr -0.012 ent 1.42 | lr 1.0e-03 | std 0.52 | ETA 1m02s

    (one line in the output). Segments whose keys are missing from the scalars are left out. The iteration shown
    is the number of iterations finished, ``iteration + 1``, out of ``total_iterations``.

    The ETA is the mean wall time per iteration times the iterations left. The clock starts at :meth:`start_clock`
    when the caller marks the start of training; otherwise it starts at the first update, and that first line
    estimates the iteration time from ``Perf/collection_time + Perf/learning_time`` (``ETA --`` without them).

    Args:
        stream: Where lines are written (with ``stream.write``).
        every: Write a line every ``every`` finished iterations, and always for the last one.
        clock: Monotonic time source in seconds; replaceable for tests.

    Raises:
        ValueError: ``every`` is below 1.
    """

    def __init__(
        self, stream: TextIO | None = None, every: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Set up the view; see the class docstring for the arguments."""
        if every < 1:
            raise ValueError(f"ConsoleView received every={every}; expected an integer >= 1.")
        self.stream: TextIO = stream if stream is not None else sys.stdout
        self.every = every
        self._clock = clock
        self._anchor_time: float | None = None
        self._anchor_done = 0

    def start_clock(self) -> None:
        """Mark now as the start of training: the ETA averages the wall time of every iteration from here."""
        self._anchor_time = self._clock()
        self._anchor_done = 0

    def update(
        self, iteration: int, scalars: Mapping[str, float], *, start_iteration: int, total_iterations: int
    ) -> str | None:
        """Account for one finished iteration and write its line when due.

        Args:
            iteration: The iteration that just finished (0-based, as logged).
            scalars: The iteration's logged scalars.
            start_iteration: First iteration of this run (non-zero after a resume).
            total_iterations: Iteration number training stops at (exclusive).

        Returns:
            The line written (without the newline), or ``None`` when none was due.
        """
        now = self._clock()
        done = iteration - start_iteration + 1
        remaining = max(0, total_iterations - iteration - 1)
        if self._anchor_time is None:
            self._anchor_time, self._anchor_done = now, done
            per_iteration = sum(float(scalars.get(k, math.nan)) for k in ("Perf/collection_time", "Perf/learning_time"))
        elif done > self._anchor_done:
            # mean wall time per iteration = elapsed since the anchor / iterations finished since the anchor
            per_iteration = (now - self._anchor_time) / (done - self._anchor_done)
        else:
            per_iteration = math.nan
        if done % self.every != 0 and remaining > 0:
            return None
        line = self.format_line(iteration, scalars, total_iterations=total_iterations, eta=per_iteration * remaining)
        self.stream.write(line + "\n")
        self.stream.flush()
        return line

    @staticmethod
    def format_line(iteration: int, scalars: Mapping[str, float], *, total_iterations: int, eta: float) -> str:
        """Build the line of one iteration.

        Args:
            iteration: The iteration that just finished (0-based).
            scalars: The iteration's logged scalars; missing keys drop their segment.
            total_iterations: Iteration number training stops at (exclusive).
            eta: Seconds left; NaN shows ``ETA --``.

        Returns:
            The line, without a newline.
        """

        def get(key: str) -> float | None:
            value = scalars.get(key)
            return None if value is None else float(value)

        width = len(str(total_iterations))
        parts = [f"{progress_bar(iteration + 1, total_iterations)} it {iteration + 1:>{width}}/{total_iterations}"]
        if (reward := get("Train/mean_reward")) is not None:
            parts.append(f"return {reward:>6.1f}")
        if (length := get("Train/mean_episode_length")) is not None:
            parts.append(f"len {length:.1f}")
        if (fps := get("Perf/total_fps")) is not None:
            parts.append(f"{_format_rate(fps)} steps/s")
        timings = [
            f"{label} {value:.2f}s"
            for label, key in (("collect", "Perf/collection_time"), ("learn", "Perf/learning_time"))
            if (value := get(key)) is not None
        ]
        if timings:
            parts.append(" ".join(timings))
        losses = ConsoleView._loss_items(scalars)
        if losses:
            parts.append(" ".join(f"{label} {value:.3g}" for label, value in losses))
        learning_rate = next((v for k in _LEARNING_RATE_KEYS if (v := get(k)) is not None), None)
        if learning_rate is not None:
            parts.append(f"lr {learning_rate:.1e}")
        if (std := get("Policy/mean_std")) is not None:
            parts.append(f"std {std:.3g}")
        parts.append(f"ETA {format_duration(eta)}")
        return " | ".join(parts)

    @staticmethod
    def _loss_items(scalars: Mapping[str, float]) -> list[tuple[str, float]]:
        """``(label, value)`` of every ``Loss/*`` scalar: known terms in a fixed order, then the others."""
        names = [key[len("Loss/") :] for key in scalars if key.startswith("Loss/") and key not in _LEARNING_RATE_KEYS]
        order = {name: i for i, name in enumerate(_LOSS_ABBREVIATIONS)}
        names.sort(key=lambda name: order.get(name, len(order)))  # stable: unknown terms keep their order
        return [(_loss_label(name), float(scalars["Loss/" + name])) for name in names]
