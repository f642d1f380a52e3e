"""A writer that appends one JSON object per iteration to a ``metrics.jsonl`` file."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import TextIO

from stride.logging.writers.base import LogWriter

__all__ = ["JsonlWriter"]


def _json_value(value: object) -> int | float | None:
    """Convert one scalar to a strict-JSON value: Python ints stay exact, non-finite floats become ``null``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)  # type: ignore[arg-type]  # accepts numpy / 0-d torch scalars too
    return number if math.isfinite(number) else None


class JsonlWriter(LogWriter):
    """Appends ``{"iteration": step, **scalars}`` as one line of strict JSON per call, flushed at once.

    Non-finite values (NaN, ±inf) are written as ``null`` because JSON has no literal for them;
    ``stride.logging.plots.read_metrics`` reads ``null`` back as NaN. The file is opened in append mode, so a
    resumed run continues the same file; readers keep the last record of a repeated iteration.

    Args:
        path: File to append to; its parent folders are created.
    """

    def __init__(self, path: str) -> None:
        """Open ``path`` for appending; see the class docstring."""
        self.path = path
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._file: TextIO | None = open(path, "a", encoding="utf-8")  # noqa: SIM115  # closed in close()

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Append one line and flush it.

        Args:
            step: Training iteration, stored under ``"iteration"``.
            scalars: Values to store next to it.

        Raises:
            ValueError: The writer was closed.
        """
        if self._file is None:
            raise ValueError(f"JsonlWriter for {self.path!r} is closed; create a new writer to keep logging.")
        record: dict[str, int | float | None] = {"iteration": int(step)}
        record.update({key: _json_value(value) for key, value in scalars.items()})
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file. Calling it twice is harmless."""
        if self._file is not None:
            self._file.close()
            self._file = None
