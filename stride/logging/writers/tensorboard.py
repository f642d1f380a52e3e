"""A writer that records scalars as TensorBoard event files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stride.logging.writers.base import LogWriter

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = ["TensorBoardWriter"]


class TensorBoardWriter(LogWriter):
    """Writes each scalar as a TensorBoard summary with the iteration as its step.

    ``torch.utils.tensorboard`` is imported on construction, so importing stride does not pull in tensorboard.

    Args:
        log_dir: Folder the event files are written under (created if missing).
        flush_secs: Longest time pending events stay in memory before they are flushed to disk.
    """

    def __init__(self, log_dir: str, flush_secs: int = 10) -> None:
        """Open the event file; see the class docstring."""
        from torch.utils.tensorboard import SummaryWriter  # lazy: tensorboard is slow to import

        self.log_dir = log_dir
        self._writer: SummaryWriter | None = SummaryWriter(log_dir=log_dir, flush_secs=flush_secs)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Add one summary per scalar at ``step``.

        Args:
            step: Training iteration.
            scalars: Tag to value; non-finite values are recorded as they are.

        Raises:
            ValueError: The writer was closed.
        """
        if self._writer is None:
            raise ValueError(f"TensorBoardWriter for {self.log_dir!r} is closed; create a new writer to keep logging.")
        for tag, value in scalars.items():
            self._writer.add_scalar(tag, float(value), global_step=int(step))

    def flush(self) -> None:
        """Write pending events to disk now."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file. Calling it twice is harmless."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
