"""What the CLI settles before a run starts: device, CPU threads, run directory, and the commands it prints.

Each check turns a bad value into a :class:`~stride.utils.errors.StrideError` that the CLI prints as one line
(exit code 2), before anything is built or written.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from typing import Any

from stride.utils.errors import StrideError

__all__ = [
    "check_device",
    "choose_threads",
    "command_line",
    "load_run",
    "positive_int",
    "refuse_resume_options",
    "threads_arg",
]

# the options a resumed run cannot honour: the run continues as it was configured
_RESUME_FIXED = (
    ("config", "--config"),
    ("set", "--set"),
    ("task", "--task"),
    ("num_envs", "--num-envs"),
    ("seed", "--seed"),
    ("run_dir", "--run-dir"),
)


def check_device(device: str) -> str:
    """Return ``device`` if torch can use it, else raise a one-line error.

    Args:
        device: A torch device string, e.g. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.

    Returns:
        The device string unchanged.

    Raises:
        StrideError: If torch does not know the device type, or this torch build or machine cannot reach it.
    """
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise StrideError(
            f"--device '{device}' is not a torch device; expected e.g. cpu, cuda, cuda:0 or mps."
        ) from err
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise StrideError(f"--device '{device}': {build} (torch {torch.__version__}); use --device cpu.")
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise StrideError(f"--device '{device}': only {count} CUDA device(s) visible (cuda:0..cuda:{count - 1}).")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise StrideError(f"--device '{device}': MPS is not available on this machine; use --device cpu.")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise StrideError(f"--device '{device}': stride runs on cpu, cuda or mps, got device type '{parsed.type}'.")
    return device


def positive_int(text: str) -> int:
    """Parse an option that counts something: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got '{text}'")
    return value


def threads_arg(text: str) -> int | None:
    """Parse ``--threads``: ``auto`` (None) or an integer >= 1."""
    if text == "auto":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got '{text}'") from None


def choose_threads(task: str, device: str, requested: int | None) -> tuple[int, str]:
    """Set torch's CPU thread count for a run and say why.

    ``auto`` (``requested=None``) picks 1 thread for a run on the CPU. The policy's tensors are a few dozen to a
    few thousand rows: torch's extra threads add synchronisation to every small operation and, on a machine shared
    with other work, wait for busy cores. Measured on a shared 2-core machine (docs/design.md 8.22): 1 thread ran
    ``gym:Ant-v5`` 5-50x, the cartpole preset 4-5x and cartpole with 1,024 envs and [256, 256] layers 3x faster
    than torch's default of 2. One thread also makes a run's numbers independent of the machine's core count.
    A run on a GPU keeps torch's default. ``OMP_NUM_THREADS`` set in the environment is respected as the user's
    choice.

    Args:
        task: The task name (``gym:<id>`` for Gymnasium).
        device: The torch device of the run.
        requested: ``--threads`` (None for ``auto``).

    Returns:
        ``(threads, reason)``: the thread count now in effect and a short reason for the run's first lines.
    """
    import torch

    if requested is not None:
        torch.set_num_threads(requested)
        return requested, "--threads"
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads(), "OMP_NUM_THREADS"
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
        kind = "Gymnasium sub-envs step" if task.startswith("gym:") else "small batched tensors run"
        return 1, f"auto: {kind} on the CPU; extra threads only add synchronisation"
    return torch.get_num_threads(), f"auto: torch's default beside the {device} device"


def refuse_resume_options(args: argparse.Namespace, command: str) -> None:
    """Refuse the options that a ``--resume`` run cannot honour (it continues exactly as configured).

    Args:
        args: The parsed arguments.
        command: ``"train"`` or ``"distill"`` (named in the message).

    Raises:
        StrideError: Naming the first such option given.
    """
    for attribute, option in _RESUME_FIXED:
        value = getattr(args, attribute, None)
        if value not in (None, []):
            fresh = "--teacher" if command == "distill" else "without --resume"
            raise StrideError(
                f"stride {command} --resume continues the run exactly as it was configured, so {option} cannot "
                f"change it; leave {option} out, or start a new run ({fresh})."
            )


def load_run(run_dir: str) -> Any:
    """The ``ExperimentCfg`` of a run directory written by ``stride train`` or ``stride distill``.

    Raises:
        StrideError: If the directory does not exist or holds no ``experiment.yaml``.
    """
    from stride.config.io import load_experiment

    if not os.path.isdir(run_dir):
        raise StrideError(f"run directory '{run_dir}' does not exist.")
    path = os.path.join(run_dir, "experiment.yaml")
    if not os.path.isfile(path):
        raise StrideError(
            f"'{run_dir}' holds no experiment.yaml, so it is not a run written by stride train or stride distill."
        )
    return load_experiment(path)


def command_line(program: str, *args: str) -> str:
    """A shell command running ``program`` that works without an activated virtual environment.

    The program installed next to this Python interpreter is named by its full path unless the same file is the
    one found on ``PATH``; arguments are shell-quoted.
    """
    beside = os.path.join(os.path.dirname(sys.executable), program)
    on_path = shutil.which(program)
    if os.path.isfile(beside) and (on_path is None or not os.path.samefile(on_path, beside)):
        program = beside
    return " ".join(shlex.quote(part) for part in (program, *args))
