"""``orthogonal_init_gains`` of the MLP, RNN and CNN models: orthogonal Linear layers with the given gains and zero
biases, the distribution's own initialization kept, torch's default without the key, and config errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from tensordict import TensorDict

from stride.models import CNNModel, MLPModel, RNNModel
from stride.models.registry import build_model
from stride.utils.errors import ConfigError

GAINS = [math.sqrt(2), math.sqrt(2), 0.01]
GROUPS = {"actor": ["policy"], "critic": ["policy"], "image": ["camera"]}


def _obs() -> TensorDict:
    return TensorDict({"policy": torch.zeros(4, 5), "camera": torch.zeros(4, 1, 16, 16)}, batch_size=[4])


def _assert_orthogonal(weight: torch.Tensor, gain: float) -> None:
    """W Wᵀ = g²·I (wide or square W) or Wᵀ W = g²·I (tall W), to float32 precision."""
    w = weight.detach().double()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    torch.testing.assert_close(gram, gain**2 * torch.eye(gram.shape[0], dtype=torch.float64), atol=1e-6, rtol=1e-5)


class TestGains:
    """Every Linear layer of the MLP is orthogonal with its gain; biases are 0."""

    def test_mlp_model(self) -> None:
        torch.manual_seed(0)
        model = MLPModel(_obs(), GROUPS, "actor", 3, [64, 32], "tanh", False,
                         {"class_name": "GaussianDistribution", "init_std": 1.0}, GAINS)  # fmt: skip
        layers = model.mlp.linear_layers
        assert [tuple(layer.weight.shape) for layer in layers] == [(64, 5), (32, 64), (3, 32)]
        for layer, gain in zip(layers, GAINS, strict=True):
            _assert_orthogonal(layer.weight, gain)
            assert torch.count_nonzero(layer.bias) == 0
        # a 0.01 output layer: first mean actions are tiny whatever the input
        with torch.no_grad():
            mean = model.mlp(torch.randn(256, 5) * 3)
        assert float(mean.abs().max()) < 0.05

    def test_state_dependent_std_head_kept(self) -> None:
        torch.manual_seed(0)
        dist = {"class_name": "HeteroscedasticGaussianDistribution", "init_std": 0.5, "std_type": "log"}
        model = MLPModel(_obs(), GROUPS, "actor", 3, [16], "elu", False, dist, [1.0, 0.01])
        last = model.mlp.linear_layers[-1]
        # the distribution initializes its std half of the output layer after the orthogonal pass
        assert torch.count_nonzero(last.weight[3:]) == 0
        torch.testing.assert_close(last.bias[3:], torch.full((3,), math.log(0.5)))
        assert float(last.weight[:3].detach().abs().max()) > 0

    def test_rnn_and_cnn_heads(self) -> None:
        torch.manual_seed(0)
        rnn = RNNModel(_obs(), GROUPS, "critic", 1, [16, 16], "elu", False, None,
                       rnn_type="gru", rnn_hidden_dim=8, orthogonal_init_gains=GAINS)  # fmt: skip
        cnn_cfg = {"output_channels": [4], "kernel_size": 3, "stride": 2}
        cnn = CNNModel(_obs(), GROUPS, "image", 1, [16, 16], "elu", False, None, cnn_cfg, orthogonal_init_gains=GAINS)
        for model in (rnn, cnn):
            for layer, gain in zip(model.mlp.linear_layers, GAINS, strict=True):
                _assert_orthogonal(layer.weight, gain)

    def test_default_is_torch_init(self) -> None:
        models = []
        for extra in ({}, {"orthogonal_init_gains": None}):
            torch.manual_seed(3)
            models.append(build_model({"class_name": "MLPModel", "hidden_dims": [8], **extra}, _obs(), GROUPS,
                                      "critic", 1, "critic"))  # fmt: skip
        for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values(), strict=True):
            assert torch.equal(a, b)
        assert torch.count_nonzero(models[0].mlp.linear_layers[0].bias) > 0  # torch's default: nonzero biases


class TestConfigErrors:
    """Wrong gain counts and negative or non-finite gains are refused with the key's path."""

    @pytest.mark.parametrize(
        ("gains", "text"),
        [([1.0, 1.0], "one gain per Linear layer, len(hidden_dims) + 1 = 3, got 2"),
         ([1.0, -1.0, 1.0], "finite and >= 0"), ([1.0, float("nan"), 1.0], "finite and >= 0")],
    )  # fmt: skip
    def test_rejected(self, gains: list[float], text: str) -> None:
        cfg: dict[str, Any] = {"class_name": "MLPModel", "hidden_dims": [8, 8], "orthogonal_init_gains": gains}
        with pytest.raises(ConfigError, match=r"critic\.orthogonal_init_gains") as info:
            build_model(cfg, _obs(), GROUPS, "critic", 1, "critic")
        assert text in str(info.value)
