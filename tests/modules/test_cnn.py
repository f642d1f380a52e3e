"""The CNN encoder: output shapes for every option, golden parameter counts, rsl_rl layout, validation, TorchScript."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch

from stride.modules import CNN
from stride.utils.errors import ConfigError

PADDINGS = ["none", "zeros", "reflect", "replicate", "circular"]
NORMS = ["none", "batch", "layer"]
MAX_POOLS: list[Any] = [False, True, [True, False]]
GLOBAL_POOLS = ["none", "max", "avg"]
STRIDES: list[Any] = [1, [2, 1]]
KERNELS: list[Any] = [3, [5, 2]]
COMBINATIONS = list(itertools.product(PADDINGS, NORMS, MAX_POOLS, GLOBAL_POOLS, STRIDES, KERNELS))


def _conv_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Reference output size of a convolution, written out from torch's Conv2d documentation (dilation 1)."""
    return (size + 2 * padding - (kernel - 1) - 1) // stride + 1


def _expected_shape(height: int, width: int, kw: dict[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) after the layers described by ``kw``, computed independently of stride's code."""
    sizes = [height, width]
    for i in range(len(kw["output_channels"])):
        k = kw["kernel_size"][i] if isinstance(kw["kernel_size"], list) else kw["kernel_size"]
        s = kw["stride"][i] if isinstance(kw["stride"], list) else kw["stride"]
        new = []
        for size in sizes:
            # rsl_rl's "same"-style padding: ceil((s·floor(size/s) − size − s + k − 1 + 1) / 2)
            pad = 0 if kw["padding"] == "none" else -(-(s * (size // s) - size - s + k) // 2)
            new.append(_conv_size(size, k, s, max(pad, 0)))
        sizes = new
        pool = kw["max_pool"][i] if isinstance(kw["max_pool"], list) else kw["max_pool"]
        if pool:
            sizes = [-(-size // 2) for size in sizes]  # 3×3 stride-2 padding-1 pool: ceil(size / 2)
    if kw["global_pool"] != "none":
        sizes = [1, 1]
    return kw["output_channels"][-1], sizes[0], sizes[1]


class TestOutputShapes:
    """Every combination of padding, norm, max_pool, global_pool, stride and kernel gives the predicted shape."""

    def test_every_combination(self) -> None:
        x = torch.randn(4, 2, 13, 16)
        for padding, norm, max_pool, global_pool, stride, kernel in COMBINATIONS:
            kw = {
                "output_channels": [3, 5],
                "kernel_size": kernel,
                "stride": stride,
                "padding": padding,
                "norm": norm,
                "max_pool": max_pool,
                "global_pool": global_pool,
            }
            channels, height, width = _expected_shape(13, 16, kw)
            flat = CNN((13, 16), 2, **kw)
            unflat = CNN((13, 16), 2, **kw, flatten=False)
            assert flat(x).shape == (4, channels * height * width), kw
            assert flat.output_dim == channels * height * width and flat.output_channels is None, kw
            assert unflat(x).shape == (4, channels, height, width), kw
            assert unflat.output_dim == (height, width) and unflat.output_channels == channels, kw
        assert len(COMBINATIONS) == 540

    def test_golden_sizes(self) -> None:
        # 32×32, k3 s2, no padding: 32 → 15 → 7; "zeros" padding (p = 1 for odd inputs, 0 for even): 32 → 16 → 8
        assert CNN((32, 32), 1, [8, 16], 3, stride=2).output_dim == 16 * 7 * 7
        assert CNN((32, 32), 1, [8, 16], 3, stride=2, padding="zeros").output_dim == 16 * 8 * 8
        # stride 1, "same" padding keeps the size; a max pool after each layer halves it (rounding up): 9 → 5 → 3
        assert CNN((9, 9), 1, [4, 4], 3, padding="reflect", max_pool=True).output_dim == 4 * 3 * 3
        assert CNN((9, 9), 1, [4, 4], 3, global_pool="avg").output_dim == 4


class TestParameterCounts:
    """Golden parameter counts: conv C_in·C_out·k² + C_out, BatchNorm 2·C, LayerNorm 2·C·H·W."""

    @pytest.mark.parametrize(
        ("norm", "expected"),
        [
            ("none", (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32)),  # 160 + 4640 = 4800
            ("batch", 4800 + 2 * 16 + 2 * 32),  # 4896
            ("layer", 4800 + 2 * 16 * 15 * 15 + 2 * 32 * 7 * 7),  # 15136: outputs 15×15 and 7×7
        ],
    )
    def test_count(self, norm: Any, expected: int) -> None:
        cnn = CNN((32, 32), 1, [16, 32], 3, stride=2, norm=norm)
        assert sum(p.numel() for p in cnn.parameters()) == expected

    def test_per_layer_kernels(self) -> None:
        cnn = CNN((20, 20), 3, [8, 8], [5, 1], dilation=[1, 2])
        assert sum(p.numel() for p in cnn.parameters()) == (3 * 8 * 25 + 8) + (8 * 8 * 1 + 8)


class TestRslRlLayout:
    """State-dict keys and shapes equal rsl_rl's CNN; with its weights loaded the outputs agree within 1e-6."""

    @pytest.mark.parametrize(
        "kw",
        [
            {"output_channels": [8, 16], "kernel_size": 3, "stride": 2},
            {"output_channels": [4, 8, 8], "kernel_size": [5, 3, 3], "padding": "zeros", "norm": "batch"},
            {"output_channels": [4, 6], "kernel_size": 3, "norm": ["layer", "none"], "max_pool": [True, False]},
            {
                "output_channels": [6],
                "kernel_size": 4,
                "padding": "circular",
                "global_pool": "max",
                "activation": "relu",
            },
        ],
    )
    def test_same_layout_and_outputs(self, kw: dict[str, Any]) -> None:
        rsl_modules = pytest.importorskip("rsl_rl.modules")
        torch.manual_seed(0)
        ours = CNN((24, 20), 3, **kw)
        theirs = rsl_modules.CNN((24, 20), 3, **kw)
        assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
            (k, tuple(v.shape)) for k, v in theirs.state_dict().items()
        ]
        assert ours.output_dim == theirs.output_dim
        theirs.load_state_dict(ours.state_dict())
        ours.eval()
        theirs.eval()
        x = torch.rand(7, 3, 24, 20)
        assert (ours(x) - theirs(x)).abs().max().item() <= 1e-6


class TestValidation:
    """Invalid arguments raise ConfigError naming the argument, before any layer is built."""

    @pytest.mark.parametrize(
        ("kw", "fragment"),
        [
            ({"output_channels": []}, "output_channels must be a non-empty list"),
            ({"output_channels": [4, 0]}, "output_channels must be ints >= 1"),
            ({"kernel_size": 0}, "kernel_size must be ints >= 1"),
            ({"kernel_size": [3]}, "kernel_size has 1 entries for 2 layers"),
            ({"stride": [1, 2, 1]}, "stride has 3 entries for 2 layers"),
            ({"norm": "group"}, "norm must be one of ['none', 'batch', 'layer']"),
            ({"padding": "same"}, "padding must be one of"),
            ({"global_pool": "mean"}, "global_pool must be one of"),
            ({"max_pool": [True, 1]}, "max_pool must be true or false"),
            ({"activation": "relu6"}, "Unknown activation 'relu6'"),
            (
                {"kernel_size": 7, "stride": 2},
                "gets a 3×3 input (padding 0×0), smaller than the extent d·(k − 1) + 1 = 7",
            ),
        ],
    )
    def test_rejected(self, kw: dict[str, Any], fragment: str) -> None:
        args: dict[str, Any] = {"output_channels": [4, 4], "kernel_size": 3, **kw}
        with pytest.raises(ConfigError) as info:
            CNN((12, 12), 1, **args)
        assert fragment in str(info.value)

    def test_bad_input_shape(self) -> None:
        with pytest.raises(ConfigError, match="input_dim must be"):
            CNN((12,), 1, [4], 3)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="input_channels must be"):
            CNN((12, 12), 0, [4], 3)


class TestTorchScript:
    """The scripted encoder equals the eager one (≤ 1e-6) for every norm."""

    @pytest.mark.parametrize("norm", NORMS)
    def test_script_equals_eager(self, norm: Any) -> None:
        torch.manual_seed(0)
        cnn = CNN((16, 16), 2, [4, 8], 3, stride=2, norm=norm, max_pool=[True, False], padding="zeros").eval()
        scripted = torch.jit.script(cnn)
        x = torch.randn(300, 2, 16, 16)
        assert (scripted(x) - cnn(x)).abs().max().item() <= 1e-6
