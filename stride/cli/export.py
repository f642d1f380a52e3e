"""``stride export``: write a run's deterministic policy as TorchScript (``policy.pt``) and ONNX (``policy.onnx``).

``stride export RUN_DIR [--checkpoint F] [--out DIR]`` rebuilds the run's runner as ``stride play`` does, loads the
checkpoint (default: the latest) and exports the PPO actor, or the student of a distillation run, into ``DIR``
(default: ``RUN_DIR/exported``). docs/export.md describes the files.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from stride.utils.errors import StrideError

__all__ = ["add_export_parser", "run_export"]


def add_export_parser(sub: Any) -> None:
    """Register the ``export`` subcommand on the CLI's subparsers."""
    export = sub.add_parser("export", help="export a run's policy to TorchScript and ONNX")
    export.add_argument("run_dir", help="run directory (its latest checkpoint is used)")
    export.add_argument("--checkpoint", default=None, help="checkpoint file (default: the run's latest)")
    export.add_argument("--out", default=None, metavar="DIR", help="output folder (default: RUN_DIR/exported)")


def run_export(args: argparse.Namespace) -> int:
    """Run ``stride export`` (see the module docstring).

    Returns:
        Exit code 0.

    Raises:
        StrideError: On bad input (missing run or checkpoint, unwritable output folder), reported as one line.
    """
    from stride.cli.main import _load_run
    from stride.runners.export import batch_axis

    _exp, runner, checkpoint = _load_run(args.run_dir, args.checkpoint, "cpu")
    out = args.out or os.path.join(args.run_dir, "exported")
    try:
        runner.export_policy_to_jit(out, "policy.pt")
        runner.export_policy_to_onnx(out, "policy.onnx")
    except OSError as err:
        raise StrideError(f"cannot write the exported policy to '{out}': {err.strerror or err}.") from err
    model = runner.alg.get_policy()
    module = model.as_onnx()
    # an empty input (an image-only model's 'obs') is not part of the ONNX graph
    inputs = ", ".join(
        f"{name} {_shape(x.shape, batch_axis(name))}"
        for name, x in zip(module.input_names, module.get_dummy_inputs(), strict=True)
        if x.numel() > 0
    )
    stream = sys.stdout
    stream.write(f"exported the {type(model).__name__} policy of {checkpoint}\n")
    reset = "; reset() when the episode ends" if module.is_recurrent else ""
    stream.write(f"  {os.path.join(out, 'policy.pt')}    TorchScript{reset}\n")
    stream.write(f"  {os.path.join(out, 'policy.onnx')}  ONNX opset 18: {inputs} -> {', '.join(module.output_names)}\n")
    return 0


def _shape(shape: Any, batch_axis: int) -> str:
    """A tensor shape with its batch axis written as ``batch``: ``(batch, 48)``."""
    dims = [str(d) for d in shape]
    dims[batch_axis] = "batch"
    return f"({', '.join(dims)})"
