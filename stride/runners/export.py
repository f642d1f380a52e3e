"""Policy export to TorchScript and ONNX files, for the runners and the ``stride export`` command.

Both functions take a stride model (``MLPModel``, ``RNNModel``, ``CNNModel``: a PPO actor or a distillation
student) and write its deterministic policy, observation normalizer included, to one file on the CPU:

- :func:`export_jit`: ``torch.jit.script(model.as_jit())``. Recurrent policies keep their state inside the module
  (one env) and have ``reset()``.
- :func:`export_onnx`: ``model.as_onnx()`` through torch's TorchScript-based ONNX exporter, opset 18, with the
  module's ``input_names``/``output_names`` (rsl_rl's) and a dynamic batch axis on every input and output.
  Recurrent state is explicit (``h_in``/``c_in`` → ``h_out``/``c_out``).

The file formats are described in docs/export.md.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from stride.utils.errors import ConfigError

__all__ = ["ONNX_OPSET", "batch_axis", "export_jit", "export_onnx"]

ONNX_OPSET = 18
"""ONNX operator set of exported files (rsl_rl's and mjlab's)."""

_STATE_NAMES = ("h_in", "c_in", "h_out", "c_out")
"""Recurrent-state inputs and outputs, shaped (num_layers, batch, hidden_dim)."""


def batch_axis(name: str) -> int:
    """The batch axis of an exported ONNX input or output: 1 for recurrent states, 0 for everything else."""
    return 1 if name in _STATE_NAMES else 0


def export_jit(policy: nn.Module, path: str, filename: str = "policy.pt") -> str:
    """Write the deterministic policy of ``policy`` as a TorchScript file.

    Args:
        policy: A stride model (it is copied, not changed), on any device.
        path: Folder to write into (created if missing).
        filename: File name inside ``path``.

    Returns:
        The path of the written file.

    Raises:
        ConfigError: If ``policy`` has no ``as_jit()`` (not an export-capable model).
    """
    module = _export_module(policy, "as_jit").to("cpu")
    with _quiet_export():
        scripted = torch.jit.script(module)
    return _write(path, filename, lambda tmp: scripted.save(tmp))


def export_onnx(policy: nn.Module, path: str, filename: str = "policy.onnx", verbose: bool = False) -> str:
    """Write the deterministic policy of ``policy`` as an ONNX file (opset 18, dynamic batch).

    Args:
        policy: A stride model (it is copied, not changed), on any device.
        path: Folder to write into (created if missing).
        filename: File name inside ``path``.
        verbose: Let the exporter print the graph.

    Returns:
        The path of the written file.

    Raises:
        ConfigError: If ``policy`` has no ``as_onnx()`` (not an export-capable model).
    """
    module = _export_module(policy, "as_onnx", verbose=verbose).to("cpu")
    names = list(module.input_names) + list(module.output_names)
    dynamic_axes = {name: {batch_axis(name): "batch"} for name in names}

    def write(tmp: str) -> None:
        with _quiet_export():
            torch.onnx.export(
                module,
                module.get_dummy_inputs(),
                tmp,
                export_params=True,
                opset_version=ONNX_OPSET,
                verbose=verbose,
                input_names=module.input_names,
                output_names=module.output_names,
                dynamic_axes=dynamic_axes,
                # the TorchScript-based exporter (mjlab's choice): it needs no onnxscript, takes dynamic_axes, runs
                # in milliseconds and writes the same graph for every torch version stride supports
                dynamo=False,
            )

    return _write(path, filename, write)


def _export_module(policy: nn.Module, method: str, **kwargs: bool) -> Any:
    """``policy.as_jit()`` / ``policy.as_onnx(...)`` in eval mode, or a ConfigError naming what the policy lacks.

    Typed ``Any``: the ONNX surface (``get_dummy_inputs``, ``input_names``, ``output_names``) is duck-typed, as
    rsl_rl's exporters read it, so a user's own model class can provide it.
    """
    factory: Any = getattr(policy, method, None)
    if not callable(factory):
        raise ConfigError(
            f"cannot export a {type(policy).__name__}: it has no {method}() method. Export a stride model "
            "(MLPModel, RNNModel, CNNModel) or give your model class as_jit() and as_onnx() as they do."
        )
    module: Any = factory(**kwargs)
    return module.eval()


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the warnings torch raises on every export of a stride policy, and only those.

    Each is about torch's own API or a case stride's files never meet; any other warning still reaches the user.
    """
    with warnings.catch_warnings():
        # torch >= 2.9 deprecates torch.jit.script, which is still the way to write a self-contained .pt policy
        warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
        # the TorchScript-based ONNX exporter (chosen above, as mjlab does) announces its deprecation, and calls
        # one of its own deprecated helpers
        warnings.filterwarnings("ignore", r"You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        warnings.filterwarnings("ignore", r"The feature will be removed", DeprecationWarning, r"torch\.onnx")
        # torch's GRU/LSTM compare the traced state's size with Python ints; the state shape is fixed by the graph
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.modules\.rnn")
        # about packed variable-length sequences; an exported policy runs one step of length 1
        warnings.filterwarnings("ignore", r"Exporting a model to ONNX with a batch_size other than 1", UserWarning)
        yield


def _write(path: str, filename: str, write: Callable[[str], None]) -> str:
    """Write through ``write(tmp)`` into a temporary file next to the target, then rename it over the target."""
    os.makedirs(path, exist_ok=True)
    target = os.path.join(path, filename)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(filename)[1], dir=path)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp creates 0600 files; give the export the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
