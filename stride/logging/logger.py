"""The run logger: fans each iteration's scalars out to the writers and the console view.

A failing writer is disabled after one warning and training goes on; at the end the logger draws the run's
learning curve from ``metrics.jsonl``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TextIO

from stride.logging.console import ConsoleView
from stride.logging.plots import plot_learning_curves
from stride.logging.writers import METRICS_FILENAME, LogWriter, make_writer
from stride.utils.errors import ConfigError

__all__ = ["LEARNING_CURVE_FILENAME", "RunLogger"]

LEARNING_CURVE_FILENAME = "learning_curve.png"
"""Name of the learning-curve figure ``RunLogger.close`` writes into the run directory."""

_log = logging.getLogger(__name__)


def _writer_name(writer: object) -> str:
    return type(writer).__name__


class RunLogger:
    """Sends each iteration's scalars to every writer, then to the console view.

    A writer that raises is closed (best effort) and disabled after one ``logging.warning`` naming it and the
    exception; the other writers and training go on. The console view is guarded the same way.

    Args:
        log_dir: Run directory, or ``None`` when nothing is written to disk.
        writers: Writers receiving every iteration's scalars.
        console: Console view to update after the writers; ``None`` for none.
        stream: When ``console`` is ``None`` and a stream is given, a default :class:`ConsoleView` writing to it
            is used.

    Attributes:
        log_dir: Run directory, or ``None``.
        metrics_path: ``<log_dir>/metrics.jsonl``, or ``None`` without a run directory.
        console: The console view, or ``None``.
    """

    def __init__(
        self,
        log_dir: str | None,
        writers: Sequence[LogWriter] = (),
        console: ConsoleView | None = None,
        stream: TextIO | None = None,
    ) -> None:
        """Set up the logger; see the class docstring for the arguments."""
        self.log_dir = log_dir
        self.metrics_path: str | None = os.path.join(log_dir, METRICS_FILENAME) if log_dir is not None else None
        self._writers: list[LogWriter] = list(writers)
        self.console: ConsoleView | None = console if console is not None or stream is None else ConsoleView(stream)
        self._closed = False
        self._curve_path: str | None = None

    @classmethod
    def create(
        cls,
        log_dir: str | None,
        backends: Sequence[str] = ("tensorboard", "jsonl"),
        console: bool = True,
        is_main_rank: bool = True,
        *,
        stream: TextIO | None = None,
        console_every: int = 1,
    ) -> RunLogger:
        """Build the logger of a run from backend names.

        Args:
            log_dir: Run directory; ``None`` logs to the console only.
            backends: Registered writer names (see ``stride.logging.writers.register_writer``).
            console: Show the per-iteration console line.
            is_main_rank: ``False`` on every distributed rank but 0: no writers, no console, no files.
            stream: Console stream (default ``sys.stdout``).
            console_every: Write a console line every this many iterations.

        Returns:
            The logger. A known backend whose construction fails (missing package, unwritable folder) is left out
            after a warning, so logging never stops training.

        Raises:
            ConfigError: A backend name is unknown or repeated.
        """
        if not is_main_rank:
            return cls(None)
        repeated = sorted({name for name in backends if list(backends).count(name) > 1})
        if repeated:
            raise ConfigError(f"Log backends {repeated} are listed more than once in {list(backends)}; list each once.")
        writers: list[LogWriter] = []
        if log_dir is not None:
            os.makedirs(log_dir, exist_ok=True)
            for name in backends:
                try:
                    writers.append(make_writer(name, log_dir))
                except ConfigError:
                    raise
                except Exception as error:  # a logging backend must never stop training
                    _log.warning("Log backend %r could not be started and is disabled: %r", name, error)
        view = ConsoleView(stream, every=console_every) if console else None
        return cls(log_dir, writers, console=view)

    @property
    def writers(self) -> tuple[LogWriter, ...]:
        """The writers still enabled."""
        return tuple(self._writers)

    def add_writer(self, writer: LogWriter) -> None:
        """Send the scalars of the following iterations to ``writer`` too.

        Args:
            writer: The writer to add.
        """
        self._writers.append(writer)

    def start_clock(self) -> None:
        """Mark the start of training for the console ETA (optional; see :class:`ConsoleView`)."""
        if self.console is not None:
            self.console.start_clock()

    def log(self, iteration: int, scalars: Mapping[str, float], *, start_iteration: int, total_iterations: int) -> None:
        """Record one finished iteration.

        Args:
            iteration: The iteration that just finished (0-based step of every writer).
            scalars: Namespaced scalars (``Loss/*``, ``Perf/*``, ``Train/*``, ...).
            start_iteration: First iteration of this run (non-zero after a resume).
            total_iterations: Iteration number training stops at (exclusive).
        """
        for writer in list(self._writers):
            try:
                writer.write_scalars(iteration, scalars)
            except Exception as error:  # a logging backend must never stop training
                self._disable(writer, error)
        if self.console is not None:
            try:
                self.console.update(
                    iteration, scalars, start_iteration=start_iteration, total_iterations=total_iterations
                )
            except Exception as error:
                _log.warning("The console view failed and is disabled for the rest of the run: %r", error)
                self.console = None

    def _disable(self, writer: LogWriter, error: Exception) -> None:
        _log.warning("Log writer %s failed and is disabled for the rest of the run: %r", _writer_name(writer), error)
        self._writers.remove(writer)
        try:
            writer.close()
        except Exception as close_error:
            _log.debug("Closing the failed log writer %s also failed: %r", _writer_name(writer), close_error)

    def close(self) -> str | None:
        """Close every writer and draw the learning curve.

        Calling it again does nothing and returns the same path. Later calls to :meth:`log` only update the
        console.

        Returns:
            The path of ``<log_dir>/learning_curve.png`` when ``metrics.jsonl`` exists and holds
            ``Train/mean_reward``; otherwise ``None`` (a warning says why when drawing failed).
        """
        if self._closed:
            return self._curve_path
        self._closed = True
        for writer in self._writers:
            try:
                writer.close()
            except Exception as error:
                _log.warning("Log writer %s failed to close: %r", _writer_name(writer), error)
        self._writers.clear()
        if self.log_dir is None or self.metrics_path is None or not os.path.isfile(self.metrics_path):
            return None
        out_path = os.path.join(self.log_dir, LEARNING_CURVE_FILENAME)
        try:
            self._curve_path = plot_learning_curves([self.log_dir], out_path)
        except Exception as error:  # the run's results are on disk already; a missing figure must not fail it
            _log.warning("No learning curve written to %s: %s", out_path, error)
        return self._curve_path
