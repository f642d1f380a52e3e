"""Atomic checkpoint writes and safe, explained reads."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import torch

from stride.utils.errors import CheckpointError

__all__ = ["SCHEMA_VERSION", "atomic_save", "latest_checkpoint", "load_checkpoint"]

SCHEMA_VERSION = 1
"""Version of stride's checkpoint layout; older versions are migrated on load."""


def atomic_save(obj: dict[str, Any], path: str) -> None:
    """Write ``obj`` to ``path`` so that ``path`` is always either the old file or the complete new one.

    A temporary file in the same folder is written, flushed and fsynced, then renamed over ``path``.

    Raises:
        CheckpointError: If the folder cannot be written (the previous file, if any, is left intact).
    """
    folder = os.path.dirname(os.path.abspath(path))
    tmp: str | None = None
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the checkpoint the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        # torch wraps disk errors in RuntimeError; name the underlying OS error when there is one
        cause: BaseException = err
        seen = err.__cause__ or err.__context__
        while seen is not None:
            if isinstance(seen, OSError):
                cause = seen
            seen = seen.__cause__ or seen.__context__
        raise CheckpointError(
            f"cannot write checkpoint '{path}': {type(cause).__name__}: {cause} (the previous file is intact)"
        ) from err
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some file systems do not support fsync on folders
        pass


def load_checkpoint(path: str, map_location: str | torch.device | None = None) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: If the file is missing, empty, truncated, not a torch file, or not a dict.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint '{path}' does not exist.")
    if os.path.getsize(path) == 0:
        raise CheckpointError(
            f"checkpoint '{path}' is empty (0 bytes): the write was interrupted or it is not a checkpoint."
        )
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        raise CheckpointError(f"checkpoint '{path}' cannot be read ({type(err).__name__}: {err}).") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint '{path}' holds a {type(data).__name__}, expected a dict of states.")
    return data


def latest_checkpoint(run_dir: str) -> str | None:
    """The ``model_<N>.pt`` of ``run_dir`` with the largest N, or None when there is none (or no such folder)."""
    if not os.path.isdir(run_dir):
        return None
    found = []
    for name in os.listdir(run_dir):
        stem, ext = os.path.splitext(name)
        if ext == ".pt" and stem.startswith("model_") and stem[6:].isdigit():
            found.append((int(stem[6:]), name))
    return os.path.join(run_dir, max(found)[1]) if found else None
