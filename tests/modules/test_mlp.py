"""Tests for stride.modules.mlp and stride.modules.activations."""

from __future__ import annotations

import pytest
import rsl_rl.modules as rsl_modules
import torch
from rsl_rl.utils import resolve_nn_activation
from torch import nn

from stride.modules.activations import ACTIVATION_NAMES, resolve_activation
from stride.modules.mlp import MLP
from stride.utils.errors import ConfigError

_LAYOUTS = [
    (7, 3, [64, 32], "elu", None),
    (7, 3, [-1, 16, -1], "relu", "tanh"),
    (5, 1, [8], "swish", None),
    (12, 4, [256, 256, 256], "elu", None),
]


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


class TestRslRlLayout:
    """MLP state dicts have rsl_rl's keys and shapes, load rsl_rl weights as is and then compute the same outputs."""

    @pytest.mark.parametrize(("input_dim", "output_dim", "hidden", "act", "last_act"), _LAYOUTS)
    def test_keys_shapes_and_outputs_match(
        self, input_dim: int, output_dim: int, hidden: list[int], act: str, last_act: str | None
    ) -> None:
        torch.manual_seed(0)
        ours = MLP(input_dim, output_dim, hidden, act, last_act)
        theirs = rsl_modules.MLP(input_dim, output_dim, hidden, act, last_act)
        assert _shapes(ours) == _shapes(theirs)
        # stride's layers subclass torch's (Linear) or compute the same function (ELU, to one float32 ulp)
        for mine, ref in zip(ours, theirs, strict=True):
            assert isinstance(mine, type(ref)) or (isinstance(ref, nn.ELU) and type(mine).__name__ == "ELU")
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(16, input_dim)
        torch.testing.assert_close(ours(x), theirs(x), rtol=0.0, atol=1e-6 if act == "elu" else 0.0)

    def test_two_headed_output_matches_rsl_rl_list_output(self) -> None:
        num_actions = 4
        ours = MLP(10, 2 * num_actions, [32, 32])
        theirs = rsl_modules.MLP(10, [2, num_actions], [32, 32])
        assert _shapes(ours) == _shapes(theirs)
        assert list(_shapes(ours)) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(5, 10)
        # rsl_rl unflattens to (B, 2, A); row block 0 of that is the first A of our flat output
        torch.testing.assert_close(ours(x).view(5, 2, num_actions), theirs(x), rtol=0.0, atol=0.0)

    def test_minus_one_means_input_dim(self) -> None:
        mlp = MLP(9, 2, [-1, 4])
        assert [(lin.in_features, lin.out_features) for lin in mlp.linear_layers] == [(9, 9), (9, 4), (4, 2)]
        assert (mlp.input_dim, mlp.output_dim) == (9, 2)

    def test_scripted_equals_eager(self) -> None:
        mlp = MLP(6, 3, [16, 16], "mish", "tanh")
        x = torch.randn(8, 6)
        torch.testing.assert_close(torch.jit.script(mlp)(x), mlp(x), rtol=0.0, atol=0.0)


class TestActivations:
    """Every rsl_rl activation name resolves to the same torch class; bad names fail with a suggestion."""

    @pytest.mark.parametrize("name", ACTIVATION_NAMES)
    def test_same_function_as_rsl_rl(self, name: str) -> None:
        x = torch.linspace(-30.0, 30.0, 1 << 17).reshape(-1, 1024)  # big enough for ELU's fast path too
        ours, theirs = resolve_activation(name), resolve_nn_activation(name)
        atol = 2.5e-7 if name == "elu" else 0.0
        torch.testing.assert_close(ours(x), theirs(x), rtol=0.0, atol=atol)
        torch.testing.assert_close(resolve_activation(name.upper())(x), theirs(x), rtol=0.0, atol=atol)
        if name != "elu":
            assert type(ours) is type(theirs)

    def test_exactly_rsl_rl_names(self) -> None:
        assert len(ACTIVATION_NAMES) == 12
        assert {"crelu", "swish", "lrelu", "identity"} <= set(ACTIVATION_NAMES)
        assert isinstance(resolve_activation("crelu"), nn.CELU)
        assert isinstance(resolve_activation("swish"), nn.SiLU)

    def test_fresh_instance_each_call(self) -> None:
        assert resolve_activation("elu") is not resolve_activation("elu")

    def test_unknown_name_suggests_closest(self) -> None:
        with pytest.raises(ConfigError, match=r"'rellu'.*Did you mean 'relu'"):
            resolve_activation("rellu")
        with pytest.raises(ConfigError, match="expected one of"):
            resolve_activation("zzzz")
        with pytest.raises(ConfigError, match="must be a string"):
            resolve_activation(None)  # type: ignore[arg-type]


class TestValidation:
    """Impossible MLP shapes raise ConfigError naming the field instead of building a broken network."""

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"hidden_dims": []}, "hidden_dims"),
            ({"hidden_dims": 64}, "hidden_dims"),
            ({"hidden_dims": [64, 0]}, r"hidden_dims\[1\]"),
            ({"hidden_dims": [-2]}, r"hidden_dims\[0\]"),
            ({"hidden_dims": [True]}, r"hidden_dims\[0\]"),
            ({"input_dim": 0}, "input_dim"),
            ({"output_dim": -1}, "output_dim"),
            ({"activation": "elux"}, "elux"),
            ({"last_activation": "tanhh"}, "tanhh"),
        ],
    )
    def test_rejects(self, kwargs: dict[str, object], field: str) -> None:
        args: dict[str, object] = {"input_dim": 4, "output_dim": 2, "hidden_dims": [8]} | kwargs
        with pytest.raises(ConfigError, match=field):
            MLP(**args)  # type: ignore[arg-type]


class TestInitOrthogonal:
    """init_orthogonal gives W W^T = gain^2 I (rows <= cols) per Linear layer and zero biases."""

    def test_per_layer_gains(self) -> None:
        torch.manual_seed(1)
        mlp = MLP(64, 4, [32, 16])
        gains = [1.5, 2.0, 0.01]
        mlp.init_orthogonal(gains)
        for layer, gain in zip(mlp.linear_layers, gains, strict=True):
            w = layer.weight.detach().double()
            eye = torch.eye(w.shape[0], dtype=torch.float64)
            torch.testing.assert_close(w @ w.T, gain**2 * eye, rtol=0.0, atol=1e-5)
            assert torch.count_nonzero(layer.bias) == 0

    def test_single_gain_and_wrong_count(self) -> None:
        mlp = MLP(8, 2, [8])
        mlp.init_orthogonal(3.0)
        w = mlp.linear_layers[0].weight.detach().double()
        torch.testing.assert_close(w @ w.T, 9.0 * torch.eye(8, dtype=torch.float64), rtol=0.0, atol=1e-5)
        with pytest.raises(ConfigError, match="3 gains for 2 Linear layers"):
            mlp.init_orthogonal([1.0, 1.0, 1.0])


class TestFastPaths:
    """stride's Linear and ELU fast paths give torch's values and gradients (regression guard for the speed-up)."""

    @pytest.mark.parametrize(("batch", "in_dim", "out_dim"), [(2048, 4, 256), (2048, 256, 1), (64, 4, 1), (3000, 8, 3)])
    def test_linear_matches_torch(self, batch: int, in_dim: int, out_dim: int) -> None:
        from stride.modules.linear import Linear

        torch.manual_seed(0)
        ref = nn.Linear(in_dim, out_dim).double()
        ours = Linear(in_dim, out_dim).double()
        ours.load_state_dict(ref.state_dict())
        x1 = torch.randn(batch, in_dim, dtype=torch.float64, requires_grad=True)
        x2 = x1.detach().clone().requires_grad_(True)
        g = torch.randn(batch, out_dim, dtype=torch.float64)
        ref(x1).backward(g)
        ours(x2).backward(g)
        torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-12, atol=1e-12)
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-10)

    def test_linear_under_bf16_autocast(self) -> None:
        """Regression: a narrow-input layer on a large batch (the fast path's shape) under CPU bf16 autocast raised
        'expected m1 and m2 to have the same dtype' in backward (SAC/TD3 with use_mixed_precision, batch >= 1024);
        it now takes torch's own backward and gives nn.Linear's bf16 output and gradients exactly."""
        from stride.modules.linear import Linear

        torch.manual_seed(0)
        ref, ours = nn.Linear(3, 64), Linear(3, 64)
        ours.load_state_dict(ref.state_dict())
        x = torch.randn(2048, 3)
        grads = []
        for layer in (ref, ours):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = layer(x)
            assert y.dtype == torch.bfloat16
            y.float().square().sum().backward()
            grads.append((y.detach(), layer.weight.grad, layer.bias.grad))
        for mine, theirs in zip(grads[1], grads[0], strict=True):
            assert torch.equal(mine, theirs)

    def test_elu_gradient_matches_torch(self) -> None:
        from stride.modules.activations import ELU

        x = torch.randn(512, 256, dtype=torch.float64) * 5  # 131k elements: the fused path
        x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        g = torch.randn_like(x)
        nn.functional.elu(x1).backward(g)
        ELU()(x2).backward(g)
        torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-12, atol=1e-12)


class TestAutocast:
    """Under CPU bfloat16 autocast (``use_mixed_precision``) the fast paths run in one dtype and match torch's layers.

    Hidden layers compute what autocast's ``F.linear`` computes (the same casts, bitwise equal outputs; gradients
    within bfloat16 rounding, as the products are laid out differently); output heads (≤ FLOAT32_HEAD_OUTPUTS
    outputs) return float32 values bitwise equal to the float32 layer on the same input, with and without autograd,
    and gradients within bfloat16 rounding; ELU forwards equal torch's bfloat16 kernel bitwise.
    """

    @staticmethod
    def _pair(in_dim: int, out_dim: int) -> tuple[nn.Linear, nn.Linear]:
        from stride.modules.linear import Linear

        torch.manual_seed(0)
        ref = nn.Linear(in_dim, out_dim)
        ours = Linear(in_dim, out_dim)
        ours.load_state_dict(ref.state_dict())
        return ref, ours

    @pytest.mark.parametrize(("batch", "in_dim", "out_dim"), [(2048, 4, 256), (2048, 256, 256), (64, 8, 32)])
    def test_hidden_layer_matches_autocast_linear(self, batch: int, in_dim: int, out_dim: int) -> None:
        ref, ours = self._pair(in_dim, out_dim)
        x1 = torch.randn(batch, in_dim, requires_grad=True)
        x2 = x1.detach().clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y1, y2 = ref(x1), ours(x2)
        assert y2.dtype == torch.bfloat16
        assert torch.equal(y1, y2)
        g = torch.randn(batch, out_dim).to(torch.bfloat16)
        y1.backward(g)
        y2.backward(g)
        assert x2.grad is not None and x2.grad.dtype == torch.float32
        torch.testing.assert_close(x2.grad, x1.grad, rtol=2e-2, atol=2e-2)
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            assert a.grad is not None and a.grad.dtype == torch.float32
            # bfloat16 products summed over the batch in another order: within a few bfloat16 ulps of the norm
            assert (a.grad - b.grad).norm() <= 1e-2 * b.grad.norm()

    @pytest.mark.parametrize(("batch", "in_dim", "out_dim"), [(2048, 256, 1), (2048, 256, 16), (64, 32, 3)])
    def test_head_stays_float32(self, batch: int, in_dim: int, out_dim: int) -> None:
        ref, ours = self._pair(in_dim, out_dim)
        x1 = torch.randn(batch, in_dim, requires_grad=True)
        x2 = x1.detach().clone().requires_grad_(True)
        y1 = ref(x1)  # float32 reference, no autocast
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y2 = ours(x2)
        assert y2.dtype == torch.float32
        torch.testing.assert_close(y2, y1, rtol=0.0, atol=0.0)
        g = torch.randn(batch, out_dim)
        y1.backward(g)
        y2.backward(g)
        torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-6, atol=1e-6)
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-5)

    @pytest.mark.parametrize(("batch", "in_dim", "out_dim"), [(2048, 256, 1), (2048, 256, 12), (64, 32, 3)])
    def test_head_on_bfloat16_input(self, batch: int, in_dim: int, out_dim: int) -> None:
        ref, ours = self._pair(in_dim, out_dim)
        x = torch.randn(batch, in_dim).to(torch.bfloat16)  # a hidden layer's output under autocast
        x1 = x.float().requires_grad_(True)
        x2 = x.clone().requires_grad_(True)
        y1 = ref(x1)  # the float32 layer on the same (exactly representable) input
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y2 = ours(x2)
            with torch.no_grad():
                y3 = ours(x)  # the rollout's forward
        assert y2.dtype == torch.float32
        assert torch.equal(y2, y1) and torch.equal(y3, y1)
        g = torch.randn(batch, out_dim)
        y1.backward(g)
        y2.backward(g)
        assert x2.grad is not None and x2.grad.dtype == torch.bfloat16
        # the backward's products run in bfloat16: within a few bfloat16 ulps of the float32 gradients
        assert (x2.grad.float() - x1.grad).norm() <= 1e-2 * x1.grad.norm()
        for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
            assert a.grad is not None and a.grad.dtype == torch.float32
            assert (a.grad - b.grad).norm() <= 1e-2 * b.grad.norm()

    def test_elu_bfloat16_forward_is_torch_kernel(self) -> None:
        from stride.modules.activations import ELU

        x = (torch.randn(512, 256) * 3).to(torch.bfloat16)  # 131k elements: the custom function's path
        x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        y1, y2 = nn.functional.elu(x1), ELU()(x2)
        assert torch.equal(y1, y2)
        g = torch.randn_like(x)
        y1.backward(g)
        y2.backward(g)
        # torch differentiates from the input (e^x), stride from the bfloat16 output (y + 1): within bfloat16 rounding
        torch.testing.assert_close(x2.grad, x1.grad, rtol=1e-2, atol=1e-2)
