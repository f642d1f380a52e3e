"""Run logging: pluggable writers (TensorBoard, JSON lines, ...), the console view and learning-curve plots."""

from __future__ import annotations

from stride.logging.console import ConsoleView, format_duration
from stride.logging.logger import LEARNING_CURVE_FILENAME, RunLogger
from stride.logging.plots import plot_learning_curves, read_metrics
from stride.logging.writers import (
    METRICS_FILENAME,
    JsonlWriter,
    LogWriter,
    TensorBoardWriter,
    available_writers,
    make_writer,
    register_writer,
)

__all__ = [
    "LEARNING_CURVE_FILENAME",
    "METRICS_FILENAME",
    "ConsoleView",
    "JsonlWriter",
    "LogWriter",
    "RunLogger",
    "TensorBoardWriter",
    "available_writers",
    "format_duration",
    "make_writer",
    "plot_learning_curves",
    "read_metrics",
    "register_writer",
]
