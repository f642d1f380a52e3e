"""The models' export surface: ``as_jit()`` / ``as_onnx()`` as rsl_rl 5.5.1 defines them, exported by the calls
rsl_rl and mjlab 1.6 make, and the recurrent-policy members Isaac Lab 3.0's export backend reads and writes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from tensordict import TensorDict
from torch import nn

from stride.models import CNNModel, MLPModel, RNNModel

GAUSSIAN = {"class_name": "GaussianDistribution", "init_std": 0.5}
CNN_CFG = {"output_channels": [4], "kernel_size": 3, "stride": 2}
KINDS = ["mlp", "gru", "lstm", "cnn"]


def _obs(batch: int = 2, seed: int = 0) -> TensorDict:
    gen = torch.Generator().manual_seed(seed)
    return TensorDict(
        {"policy": torch.randn(batch, 5, generator=gen), "camera": torch.randn(batch, 2, 8, 8, generator=gen)},
        batch_size=[batch],
    )


def _args(kind: str) -> tuple[Any, ...]:
    """Positional constructor arguments shared by stride's and rsl_rl's models."""
    groups = {"actor": ["policy", "camera"] if kind == "cnn" else ["policy"]}
    return (_obs(), groups, "actor", 3, [16], "elu", True, dict(GAUSSIAN))


def _model(kind: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "mlp":
        model: Any = MLPModel(*_args(kind))
    elif kind == "cnn":
        model = CNNModel(*_args(kind), cnn_cfg=CNN_CFG)
    else:
        model = RNNModel(*_args(kind), rnn_type=kind, rnn_hidden_dim=8, rnn_num_layers=2)
    model.update_normalization(_obs(64, seed=1).apply(lambda x: x * 3.0 + 2.0))
    return model.eval()


def _random_inputs(module: Any, seed: int) -> tuple[torch.Tensor, ...]:
    """Random tensors shaped like ``get_dummy_inputs()`` (batch 1: downstream exports fix the batch size)."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(x.shape, generator=gen) for x in module.get_dummy_inputs())


class TestRslRlSurface:
    """``as_onnx()`` has rsl_rl 5.5.1's names and dummy-input shapes for the same model; ``as_jit()`` scripts, has
    ``reset()``, and keeps an RNN's state in batch-1 buffers that ``reset()`` zeroes."""

    @pytest.mark.parametrize("kind", KINDS)
    def test_names_and_dummy_inputs_match_rsl_rl(self, kind: str) -> None:
        rsl = pytest.importorskip("rsl_rl.models")
        if kind == "mlp":
            theirs = rsl.MLPModel(*_args(kind)).as_onnx(verbose=False)
        elif kind == "cnn":
            theirs = rsl.CNNModel(*_args(kind), cnn_cfg=CNN_CFG).as_onnx(verbose=False)
        else:
            theirs = rsl.RNNModel(*_args(kind), rnn_type=kind, rnn_hidden_dim=8, rnn_num_layers=2).as_onnx()
        ours: Any = _model(kind).as_onnx()
        assert (ours.input_names, ours.output_names) == (theirs.input_names, theirs.output_names)
        assert [x.shape for x in ours.get_dummy_inputs()] == [x.shape for x in theirs.get_dummy_inputs()]
        assert ours.is_recurrent == (kind in ("gru", "lstm"))

    @pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_jit_state_buffers_and_reset(self, kind: str) -> None:
        scripted = torch.jit.script(_model(kind).as_jit())
        buffers = ["hidden_state", "cell_state"] if kind == "lstm" else ["hidden_state"]
        assert sorted(n for n, _ in scripted.named_buffers() if "_state" in n) == sorted(buffers)
        first = scripted(torch.ones(1, 5))
        assert all(
            getattr(scripted, b).shape == (2, 1, 8) and bool(getattr(scripted, b).abs().sum() > 0) for b in buffers
        )
        assert not torch.equal(scripted(torch.ones(1, 5)), first)  # the state carried over
        scripted.reset()
        assert all(bool((getattr(scripted, b) == 0).all()) for b in buffers)
        assert torch.equal(scripted(torch.ones(1, 5)), first)

    @pytest.mark.parametrize("kind", KINDS)
    def test_copies_are_independent_and_in_eval_mode(self, kind: str) -> None:
        model: Any = _model(kind).train()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        for module in (model.as_jit(), model.as_onnx()):
            assert not any(m.training for m in module.modules())
            with torch.no_grad():
                for p in module.parameters():
                    p.add_(1.0)
        assert model.training
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


_EXTRA_ARGS: dict[str, dict[str, Any]] = {
    "rsl_rl": {},  # rsl_rl 5.5.1's export_policy_to_onnx: torch's default exporter
    "mjlab": {"dynamic_axes": {}, "dynamo": False},  # mjlab 1.6's MjlabOnPolicyRunner.export_policy_to_onnx
}


def _downstream_call(call: str, module: Any, path: str) -> None:
    """The ``torch.onnx.export`` call rsl_rl or mjlab makes on ``policy.as_onnx(verbose)``."""
    torch.onnx.export(
        module,
        module.get_dummy_inputs(),
        path,
        export_params=True,
        opset_version=18,
        verbose=False,
        input_names=module.input_names,
        output_names=module.output_names,
        **_EXTRA_ARGS[call],
    )


class TestDownstreamExportCalls:
    """rsl_rl's and mjlab's own ``torch.onnx.export`` calls accept ``model.as_onnx()``; onnxruntime then gives the
    module's outputs (actions and next states) within 1e-5, and no warning points into stride's code."""

    @pytest.mark.parametrize(
        ("call", "kind"),
        [
            *(("mjlab", kind) for kind in KINDS),
            ("rsl_rl", "lstm"),
            # torch's default exporter takes 2-5 s a model: the other kinds run in the slow tier
            *(pytest.param("rsl_rl", kind, marks=pytest.mark.slow) for kind in ("mlp", "gru", "cnn")),
        ],
    )
    def test_export_and_run(self, kind: str, call: str, tmp_path: Path) -> None:
        ort = pytest.importorskip("onnxruntime")
        if call == "rsl_rl":
            pytest.importorskip("onnxscript")  # torch's default (dynamo) exporter needs it
        module: Any = _model(kind).as_onnx(verbose=False)
        module.to("cpu")
        module.eval()
        path = str(tmp_path / "policy.onnx")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _downstream_call(call, module, path)
        assert [str(w.message) for w in caught if "/stride/" in w.filename.replace("\\", "/")] == []
        inputs = _random_inputs(module, seed=7)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feed_names = [i.name for i in session.get_inputs()]
        assert feed_names == module.input_names
        got = session.run(module.output_names, {n: x.numpy() for n, x in zip(feed_names, inputs, strict=True)})
        with torch.no_grad():
            expected = module(*inputs)
        expected = expected if isinstance(expected, tuple) else (expected,)
        assert len(got) == len(expected) == len(module.output_names)
        for g, e in zip(got, expected, strict=True):
            assert (torch.from_numpy(g) - e).abs().max().item() <= 1e-5


class TestIsaacLabRecurrentPolicy:
    """What Isaac Lab 3.0's export backend does with a recurrent inference policy works on stride's: it reads
    ``is_recurrent``, ``rnn``, ``get_hidden_state()`` (None before the first step), builds zeros from
    ``rnn.rnn.num_layers`` / ``hidden_size`` (a tuple for an ``nn.LSTM``), assigns ``rnn.hidden_state`` and steps;
    the step starts from the assigned state and ``get_hidden_state()`` returns the next one, as the explicit-state
    ONNX module computes them."""

    @pytest.mark.parametrize("kind", ["gru", "lstm"])
    def test_state_round_trip(self, kind: str) -> None:
        policy: Any = _model(kind)
        assert policy.is_recurrent and policy.rnn is not None
        policy.reset()
        assert policy.get_hidden_state() is None
        memory = policy.rnn
        gen = torch.Generator().manual_seed(3)
        shape = (memory.rnn.num_layers, 1, memory.rnn.hidden_size)
        state = torch.randn(shape, generator=gen)
        hidden = (state, torch.randn(shape, generator=gen)) if isinstance(memory.rnn, nn.LSTM) else state
        memory.hidden_state = hidden
        obs = _obs(1, seed=4)
        with torch.no_grad():
            actions = policy(obs)
            onnx_module: Any = policy.as_onnx()
            explicit = onnx_module(obs["policy"], *(hidden if isinstance(hidden, tuple) else (hidden,)))
        after = policy.get_hidden_state()
        after = after if isinstance(after, tuple) else (after,)
        assert (actions - explicit[0]).abs().max().item() <= 1e-6
        assert len(after) == len(explicit) - 1
        for a, e in zip(after, explicit[1:], strict=True):
            assert (a - e).abs().max().item() <= 1e-6

    def test_mlp_is_not_recurrent(self) -> None:
        policy: Any = _model("mlp")
        assert not policy.is_recurrent
        assert policy.get_hidden_state() is None
