"""Pluggable log writers and the name registry ``RunLogger.create`` builds them from.

Built-in backends: ``"tensorboard"`` (event files in the run directory) and ``"jsonl"``
(``<log_dir>/metrics.jsonl``). Others are added with :func:`register_writer`.
"""

from __future__ import annotations

import os

from stride.logging.writers.base import LogWriter, WriterFactory, available_writers, make_writer, register_writer
from stride.logging.writers.jsonl import JsonlWriter
from stride.logging.writers.tensorboard import TensorBoardWriter

__all__ = [
    "METRICS_FILENAME",
    "JsonlWriter",
    "LogWriter",
    "TensorBoardWriter",
    "WriterFactory",
    "available_writers",
    "make_writer",
    "register_writer",
]

METRICS_FILENAME = "metrics.jsonl"
"""Name of the JSON-lines metrics file inside a run directory."""


def _make_tensorboard(log_dir: str) -> LogWriter:
    return TensorBoardWriter(log_dir)


def _make_jsonl(log_dir: str) -> LogWriter:
    return JsonlWriter(os.path.join(log_dir, METRICS_FILENAME))


register_writer("tensorboard", _make_tensorboard, overwrite=True)
register_writer("jsonl", _make_jsonl, overwrite=True)
