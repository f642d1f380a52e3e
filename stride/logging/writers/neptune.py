"""A writer that logs scalars to Neptune (optional extra: ``pip install 'stride-rl[neptune]'``)."""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from stride.logging.writers.base import LogWriter
from stride.utils.errors import ConfigError

__all__ = ["NeptuneLogWriter", "neptune_field_path"]

_RESERVED_INIT_KEYS = ("project", "api_token", "name", "mode", "tags")
_log = logging.getLogger(__name__)


def neptune_field_path(key: str) -> str:
    """Map a log key to the Neptune field it is stored under.

    Neptune fields form a tree, so a key cannot be both a value and a folder (``Train/mean_reward`` and
    ``Train/mean_reward/time`` collide). Keys keep their first namespace and join the rest with ``_``:
    ``Train/mean_reward/time`` → ``Train/mean_reward_time``; leading, trailing and repeated ``/`` are dropped.

    Args:
        key: A namespaced log key.

    Returns:
        The Neptune field path (at most one ``/``).
    """
    parts = [part for part in key.split("/") if part]
    if len(parts) <= 2:
        return "/".join(parts) if parts else "_"
    return parts[0] + "/" + "_".join(parts[1:])


def _neptune_value(value: Any) -> Any:
    """Turn a config value into one Neptune stores: mappings recurse, numbers/str/bool stay, the rest is ``str``."""
    if isinstance(value, Mapping):
        return {str(key): _neptune_value(item) for key, item in value.items()}
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


class NeptuneLogWriter(LogWriter):
    """Logs each scalar as a Neptune float series whose step is the training iteration.

    ``neptune`` is imported on construction, so importing stride never imports it. Field paths come from
    :func:`neptune_field_path`. Neptune cannot store NaN or ±inf: such values are skipped (one warning per run).

    Args:
        log_dir: Run directory; stored in the run as ``log_dir``.
        project: ``"workspace/project"``. A bare project name is prefixed with ``NEPTUNE_USERNAME`` when that is
            set (the rsl_rl convention); ``None`` lets Neptune read ``NEPTUNE_PROJECT``.
        api_token: Neptune API token; ``None`` lets Neptune read ``NEPTUNE_API_TOKEN``.
        run_name: Display name; ``None`` uses the name of ``log_dir``.
        config: Run configuration, stored under ``config`` (values Neptune cannot hold are stored as strings).
        mode: Neptune connection mode; ``"debug"`` keeps the data in memory, ``"offline"`` stores it for a later
            ``neptune sync``; ``None`` follows ``NEPTUNE_MODE`` (default async). Neptune keeps its queue in
            ``.neptune/`` of the working directory; set ``NEPTUNE_DATA_DIRECTORY`` to put it elsewhere.
        tags: Tags of the run.
        init_kwargs: Further keywords for ``neptune.init_run`` (``capture_hardware_metrics``, ``source_files``,
            ...).

    Raises:
        ConfigError: ``init_kwargs`` repeats an argument this class sets itself.
        ModuleNotFoundError: ``neptune`` is not installed.
    """

    def __init__(
        self,
        log_dir: str,
        project: str | None = None,
        api_token: str | None = None,
        run_name: str | None = None,
        config: Mapping[str, Any] | None = None,
        mode: Literal["async", "sync", "offline", "debug", "read-only"] | None = None,
        tags: Sequence[str] = (),
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Start the Neptune run; see the class docstring."""
        extra = dict(init_kwargs or {})
        clashes = sorted(key for key in extra if key in _RESERVED_INIT_KEYS)
        if clashes:
            raise ConfigError(
                f"NeptuneLogWriter init_kwargs repeat {clashes}, which the writer sets itself; pass them as the "
                f"writer's own arguments (project, api_token, run_name, mode, tags) instead."
            )
        # lazy: an optional extra, and slow to import (typed as Any: the package may be absent when type-checking)
        neptune: Any = importlib.import_module("neptune")

        username = os.environ.get("NEPTUNE_USERNAME")
        if project is not None and "/" not in project and username:
            project = f"{username}/{project}"
        self.log_dir = log_dir
        self._run: Any = neptune.init_run(
            project=project,
            api_token=api_token,
            name=run_name if run_name is not None else os.path.basename(os.path.normpath(log_dir)),
            mode=mode,
            tags=list(tags) if tags else None,
            **extra,
        )
        self._warned_non_finite = False
        self._run["log_dir"] = os.path.abspath(log_dir)
        if config:
            self._run["config"] = _neptune_value(config)

    @property
    def run(self) -> Any:
        """The active ``neptune.Run``.

        Raises:
            ValueError: The writer was closed.
        """
        if self._run is None:
            raise ValueError(f"NeptuneLogWriter for {self.log_dir!r} is closed; create a new writer to keep logging.")
        return self._run

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Append each finite value to its series at ``step``.

        Args:
            step: Training iteration; must increase between calls (Neptune skips repeated steps).
            scalars: Namespaced key to value.

        Raises:
            ValueError: The writer was closed.
        """
        run = self.run
        for key, value in scalars.items():
            number = float(value)
            if not math.isfinite(number):
                if not self._warned_non_finite:
                    self._warned_non_finite = True
                    _log.warning(
                        "Neptune cannot store non-finite values; %s = %s at iteration %d and any later ones are "
                        "left out of Neptune (metrics.jsonl keeps them).",
                        key,
                        number,
                        step,
                    )
                continue
            run[neptune_field_path(key)].append(number, step=int(step))

    def save_file(self, path: str) -> None:
        """Upload a file (checkpoint, git diff, config) to ``files/<name>`` of the run (``.`` becomes ``_``).

        Args:
            path: File to upload.

        Raises:
            ValueError: The writer was closed.
        """
        name = os.path.basename(path).replace(".", "_") or "file"
        self.run[f"files/{name}"].upload(path)

    def close(self) -> None:
        """Stop the Neptune run (waits for pending uploads). Calling it twice is harmless."""
        if self._run is not None:
            run, self._run = self._run, None
            run.stop()
