"""A writer that logs scalars to Weights & Biases (optional extra: ``pip install 'stride-rl[wandb]'``)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any, Literal

from stride.logging.writers.base import LogWriter
from stride.utils.errors import ConfigError

__all__ = ["WandbLogWriter"]

_RESERVED_INIT_KEYS = ("dir", "project", "entity", "name", "config", "mode")


def _scalar(value: object) -> float | int:
    """Python number W&B accepts: ints stay ints, everything else (numpy, 0-d tensors) becomes a float."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    return float(value)  # type: ignore[arg-type]  # numpy / 0-d torch scalars


class WandbLogWriter(LogWriter):
    """Logs each iteration's scalars as one W&B history row whose step is the training iteration.

    ``wandb`` is imported on construction, so importing stride never imports it. The run's local files go to
    ``<log_dir>/wandb/``. Non-finite values are sent as they are (W&B stores NaN and ±inf). Set
    ``WANDB_MODE=offline`` (or ``mode="offline"``) to log without a network; ``wandb sync`` uploads later.

    Args:
        log_dir: Run directory; W&B writes its run folder inside it.
        project: W&B project; ``None`` lets W&B use ``WANDB_PROJECT`` or its default.
        entity: W&B team or user; ``None`` uses ``WANDB_USERNAME`` (the rsl_rl convention), then W&B's own
            ``WANDB_ENTITY`` / default.
        run_name: Display name; ``None`` uses the name of ``log_dir``.
        config: Run configuration recorded in the W&B run (e.g. ``{"runner": train_cfg, "env": env_cfg}``).
        mode: W&B mode; ``None`` follows ``WANDB_MODE`` (default online).
        init_kwargs: Further keywords for ``wandb.init`` (``tags``, ``group``, ``notes``, ``settings``, ...).

    Raises:
        ConfigError: ``init_kwargs`` repeats an argument this class sets itself.
        ModuleNotFoundError: ``wandb`` is not installed.
    """

    def __init__(
        self,
        log_dir: str,
        project: str | None = None,
        entity: str | None = None,
        run_name: str | None = None,
        config: Mapping[str, Any] | None = None,
        mode: Literal["online", "offline", "disabled", "shared"] | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Start the W&B run; see the class docstring."""
        extra = dict(init_kwargs or {})
        clashes = sorted(key for key in extra if key in _RESERVED_INIT_KEYS)
        if clashes:
            raise ConfigError(
                f"WandbLogWriter init_kwargs repeat {clashes}, which the writer sets itself; pass them as the "
                f"writer's own arguments (project, entity, run_name, config, mode) instead."
            )
        # lazy: an optional extra, and slow to import (typed as Any: the package may be absent when type-checking)
        wandb: Any = importlib.import_module("wandb")

        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)
        self._run: Any = wandb.init(
            dir=log_dir,
            project=project,
            entity=entity if entity is not None else os.environ.get("WANDB_USERNAME"),
            name=run_name if run_name is not None else os.path.basename(os.path.normpath(log_dir)),
            config=dict(config) if config is not None else None,
            mode=mode,
            **extra,
        )

    @property
    def run(self) -> Any:
        """The active W&B run.

        Raises:
            ValueError: The writer was closed.
        """
        if self._run is None:
            raise ValueError(f"WandbLogWriter for {self.log_dir!r} is closed; create a new writer to keep logging.")
        return self._run

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Log one history row at ``step`` and commit it at once.

        Args:
            step: Training iteration; must not decrease between calls (W&B drops rows with an older step).
            scalars: Namespaced key to value.

        Raises:
            ValueError: The writer was closed.
        """
        row = {key: _scalar(value) for key, value in scalars.items()}
        self.run.log(row, step=int(step), commit=True)

    def save_file(self, path: str) -> None:
        """Attach a file (checkpoint, git diff, config) to the run, uploaded as it is now.

        Args:
            path: File to attach; it appears in the run's files under its base name.

        Raises:
            ValueError: The writer was closed.
        """
        self.run.save(path, base_path=os.path.dirname(os.path.abspath(path)), policy="now", glob=False)

    def close(self) -> None:
        """Finish the W&B run (uploads what is pending). Calling it twice is harmless."""
        if self._run is not None:
            run, self._run = self._run, None
            run.finish()
