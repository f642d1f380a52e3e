"""Convolutional image encoder with rsl_rl's configuration keys and parameter layout."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, TypeVar

from torch import nn

from stride.modules.activations import resolve_activation
from stride.utils.errors import ConfigError

__all__ = ["CNN", "CNNGlobalPool", "CNNNorm", "CNNPadding"]

CNNPadding = Literal["none", "zeros", "reflect", "replicate", "circular"]
"""``"none"``: no padding (valid convolution); otherwise torch's ``padding_mode`` with rsl_rl's "same"-style amount."""

CNNNorm = Literal["none", "batch", "layer"]
"""Normalization after a convolution: none, ``BatchNorm2d`` or ``LayerNorm`` over (C, H, W)."""

CNNGlobalPool = Literal["none", "max", "avg"]
"""Global pooling to 1×1 after the last layer."""

_PADDINGS: tuple[str, ...] = ("none", "zeros", "reflect", "replicate", "circular")
_NORMS: tuple[str, ...] = ("none", "batch", "layer")
_GLOBAL_POOLS: tuple[str, ...] = ("none", "max", "avg")

T = TypeVar("T")


def _per_layer(value: T | Sequence[T], index: int) -> T:
    """The value of layer ``index``: one value shared by all layers, or the index-th entry of a list."""
    if isinstance(value, (list, tuple)):
        return value[index]  # type: ignore[no-any-return]
    return value  # type: ignore[return-value]


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> int:
    """rsl_rl's padding for one axis: p = ⌈(d·(k − 1) + 1 − s − (size mod s)) / 2⌉, floored at 0.

    For stride 1 and odd kernels this keeps the size ("same" padding). The floor at 0 only matters where rsl_rl
    would build a convolution with negative padding (and fail).
    """
    return max(0, math.ceil((dilation * (kernel - 1) + 1 - stride - size % stride) / 2))


def _conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: int) -> int:
    """Output size of a convolution along one axis: ⌊(size + 2p − d·(k − 1) − 1) / s⌋ + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _check_args(
    input_dim: object, input_channels: object, output_channels: object, args: dict[str, object]
) -> tuple[int, int]:
    """Validate the arguments of :class:`CNN`; returns the input height and width."""

    def positive_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if not isinstance(input_dim, (list, tuple)) or len(input_dim) != 2 or not all(map(positive_int, input_dim)):
        raise ConfigError(f"CNN input_dim must be (height, width) with both >= 1, got {input_dim!r}.")
    if not positive_int(input_channels):
        raise ConfigError(f"CNN input_channels must be an int >= 1, got {input_channels!r}.")
    if not isinstance(output_channels, (list, tuple)) or not output_channels:
        raise ConfigError(
            f"CNN output_channels must be a non-empty list (one entry per layer), got {output_channels!r}; "
            "e.g. [32, 64]."
        )
    num_layers = len(output_channels)
    for key, check, expected in (
        ("output_channels", positive_int, "ints >= 1"),
        ("kernel_size", positive_int, "ints >= 1"),
        ("stride", positive_int, "ints >= 1"),
        ("dilation", positive_int, "ints >= 1"),
        ("norm", lambda v: v in _NORMS, f"one of {list(_NORMS)}"),
        ("max_pool", lambda v: isinstance(v, bool), "true or false"),
    ):
        value = output_channels if key == "output_channels" else args[key]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if isinstance(value, (list, tuple)) and len(values) != num_layers:
            raise ConfigError(
                f"CNN {key} has {len(values)} entries for {num_layers} layers (len(output_channels)); give one "
                "value for all layers or exactly one per layer."
            )
        bad = [v for v in values if not check(v)]
        if bad:
            raise ConfigError(f"CNN {key} must be {expected} (one value or one per layer), got {value!r}.")
    for key, options in (("padding", _PADDINGS), ("global_pool", _GLOBAL_POOLS)):
        if args[key] not in options:
            raise ConfigError(f"CNN {key} must be one of {list(options)}, got {args[key]!r}.")
    if not isinstance(args["flatten"], bool):
        raise ConfigError(f"CNN flatten must be true or false, got {args['flatten']!r}.")
    return int(input_dim[0]), int(input_dim[1])


class CNN(nn.Sequential):
    """Convolution blocks (conv → optional norm → activation → optional 3×3/2 max pool), global pool, flatten.

    The children are numbered ``"0"``, ``"1"``, ... in exactly the order rsl_rl's ``CNN`` creates them, so state
    dicts (``0.weight``, ``0.bias``, ``1.running_mean`` ...) load in both directions. Weights keep torch's default
    initialization, as in rsl_rl's ``CNNModel``.

    Shape:
        Input ``(B, input_channels, H, W)``; output ``(B, output_dim)`` when ``flatten``, else
        ``(B, output_channels, *output_dim)``.
    """

    __jit_unused_properties__ = ["output_channels", "output_dim"]  # noqa: RUF012 - TorchScript reads this attribute

    def __init__(
        self,
        input_dim: tuple[int, int] | Sequence[int],
        input_channels: int,
        output_channels: Sequence[int],
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        padding: CNNPadding = "none",
        norm: CNNNorm | Sequence[CNNNorm] = "none",
        activation: str = "elu",
        max_pool: bool | Sequence[bool] = False,
        global_pool: CNNGlobalPool = "none",
        flatten: bool = True,
    ) -> None:
        """Build the layers.

        Args:
            input_dim: Image height and width.
            input_channels: Image channels C.
            output_channels: Channels of each convolution (one entry per layer).
            kernel_size: Kernel size, shared or one per layer.
            stride: Convolution stride, shared or one per layer.
            dilation: Convolution dilation, shared or one per layer.
            padding: ``"none"``, or the padding mode of every convolution (see :data:`CNNPadding`).
            norm: Normalization, shared or one per layer (see :data:`CNNNorm`).
            activation: Activation after each convolution (see :func:`resolve_activation`).
            max_pool: Whether a 3×3, stride-2, padding-1 max pool follows each convolution; shared or per layer.
            global_pool: Global pooling after the last block (see :data:`CNNGlobalPool`).
            flatten: Flatten the output to ``(B, features)``.

        Raises:
            ConfigError: If a value is out of range, a per-layer list has the wrong length, a name is unknown, or
                the image becomes empty (a layer's output would have a size below 1).
        """
        super().__init__()
        per_layer = {"kernel_size": kernel_size, "stride": stride, "dilation": dilation, "norm": norm}
        height, width = _check_args(
            input_dim,
            input_channels,
            output_channels,
            {**per_layer, "max_pool": max_pool, "padding": padding, "global_pool": global_pool, "flatten": flatten},
        )
        resolve_activation(activation)  # fail before building anything

        layers: list[nn.Module] = []
        channels = int(input_channels)
        for i, out_channels in enumerate(output_channels):
            k, s, d = _per_layer(kernel_size, i), _per_layer(stride, i), _per_layer(dilation, i)
            pad = (0, 0) if padding == "none" else (_same_padding(height, k, s, d), _same_padding(width, k, s, d))
            layers.append(
                nn.Conv2d(
                    channels,
                    out_channels,
                    kernel_size=k,
                    stride=s,
                    padding=pad,
                    dilation=d,
                    padding_mode="zeros" if padding == "none" else padding,
                )
            )
            new_height, new_width = (
                _conv_output_size(height, k, s, d, pad[0]),
                _conv_output_size(width, k, s, d, pad[1]),
            )
            if new_height < 1 or new_width < 1:
                raise ConfigError(
                    f"CNN layer {i} gets a {height}×{width} input (padding {pad[0]}×{pad[1]}), smaller than the "
                    f"extent d·(k − 1) + 1 = {d * (k - 1) + 1} of its kernel (kernel_size {k}, dilation {d}); expected "
                    "an output of at least 1×1. Use smaller kernels or strides, fewer layers or max pools, padding, "
                    "or a larger image."
                )
            height, width = new_height, new_width
            layer_norm = _per_layer(norm, i)
            if layer_norm == "batch":
                layers.append(nn.BatchNorm2d(out_channels))
            elif layer_norm == "layer":
                layers.append(nn.LayerNorm([out_channels, height, width]))
            layers.append(resolve_activation(activation))
            if _per_layer(max_pool, i):
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
                # ⌊(h + 2 − 3) / 2⌋ + 1 = ⌈h / 2⌉
                height, width = (height + 1) // 2, (width + 1) // 2
            channels = out_channels
        if global_pool == "max":
            layers.append(nn.AdaptiveMaxPool2d((1, 1)))
            height = width = 1
        elif global_pool == "avg":
            layers.append(nn.AdaptiveAvgPool2d((1, 1)))
            height = width = 1
        if flatten:
            layers.append(nn.Flatten(start_dim=1))
        for index, layer in enumerate(layers):
            self.add_module(str(index), layer)

        self.input_shape = (int(input_channels), int(input_dim[0]), int(input_dim[1]))
        self.output_shape = (channels, height, width)
        self.flatten = bool(flatten)

    @property
    def output_channels(self) -> int | None:
        """Channels of the output image, or None when the output is flattened (rsl_rl's property)."""
        return None if self.flatten else self.output_shape[0]

    @property
    def output_dim(self) -> int | tuple[int, int]:
        """Feature count C·H·W when flattened, else the output (height, width) (rsl_rl's property)."""
        channels, height, width = self.output_shape
        return channels * height * width if self.flatten else (height, width)
