"""Pluggable log writers and the name registry ``RunLogger.create`` builds them from.

Built-in backends: ``"tensorboard"`` (event files in the run directory), ``"jsonl"``
(``<log_dir>/metrics.jsonl``), and the optional extras ``"wandb"`` and ``"neptune"`` (their packages are imported
only when a writer is built; the registered factories take the project from ``WANDB_PROJECT`` /
``NEPTUNE_PROJECT``). Others are added with :func:`register_writer`. :func:`resolve_backends` turns the runner's
rsl_rl-style ``logger`` setting into writer factories.
"""

from __future__ import annotations

import os

from stride.logging.writers.base import LogWriter, WriterFactory, available_writers, make_writer, register_writer
from stride.logging.writers.jsonl import JsonlWriter
from stride.logging.writers.neptune import NeptuneLogWriter
from stride.logging.writers.resolve import open_writers, resolve_backends, upload_files
from stride.logging.writers.tensorboard import TensorBoardWriter
from stride.logging.writers.wandb import WandbLogWriter

__all__ = [
    "METRICS_FILENAME",
    "JsonlWriter",
    "LogWriter",
    "NeptuneLogWriter",
    "TensorBoardWriter",
    "WandbLogWriter",
    "WriterFactory",
    "available_writers",
    "make_writer",
    "open_writers",
    "register_writer",
    "resolve_backends",
    "upload_files",
]

METRICS_FILENAME = "metrics.jsonl"
"""Name of the JSON-lines metrics file inside a run directory."""


def _make_tensorboard(log_dir: str) -> LogWriter:
    return TensorBoardWriter(log_dir)


def _make_jsonl(log_dir: str) -> LogWriter:
    return JsonlWriter(os.path.join(log_dir, METRICS_FILENAME))


def _make_wandb(log_dir: str) -> LogWriter:
    return WandbLogWriter(log_dir)  # imports wandb only now


def _make_neptune(log_dir: str) -> LogWriter:
    return NeptuneLogWriter(log_dir)  # imports neptune only now


register_writer("tensorboard", _make_tensorboard, overwrite=True)
register_writer("jsonl", _make_jsonl, overwrite=True)
register_writer("wandb", _make_wandb, overwrite=True)
register_writer("neptune", _make_neptune, overwrite=True)
