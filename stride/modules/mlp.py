"""Multi-layer perceptron with rsl_rl's parameter layout."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from stride.modules.activations import resolve_activation
from stride.modules.linear import Linear
from stride.utils.errors import ConfigError

__all__ = ["MLP", "resolve_activation"]


def _check_dim(value: object, field: str, allow_minus_one: bool = False) -> int:
    """Return ``value`` as a layer width, or raise a ConfigError naming ``field``."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and (value > 0 or (allow_minus_one and value == -1)):  # type: ignore[operator]
        return int(value)  # type: ignore[arg-type]
    expected = "a positive int or -1 (meaning input_dim)" if allow_minus_one else "a positive int"
    raise ConfigError(f"{field} must be {expected}, got {value!r}.")


class MLP(nn.Sequential):
    """Linear layers with an activation after every hidden layer.

    The children are named ``"0"``, ``"1"``, ... and alternate ``Linear`` and activation exactly like rsl_rl's
    ``MLP``, so the state-dict keys are ``0.weight``, ``0.bias``, ``2.weight``, ... and an rsl_rl checkpoint loads
    with a plain ``load_state_dict``. Weights keep torch's default initialization unless :meth:`init_orthogonal`
    is called.

    Shape:
        Input ``(..., input_dim)``, output ``(..., output_dim)``.
    """

    __jit_unused_properties__ = ["linear_layers"]  # noqa: RUF012 - TorchScript reads this exact class attribute

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_dims: Sequence[int],
        activation: str = "elu",
        last_activation: str | None = None,
    ) -> None:
        """Build the layers.

        Args:
            input_dim: Size of the input features.
            output_dim: Size of the output.
            hidden_dims: Width of each hidden layer, at least one; ``-1`` means ``input_dim``.
            activation: Activation after each hidden layer (see :func:`resolve_activation`).
            last_activation: Optional activation after the output layer; ``None`` keeps the output linear.

        Raises:
            ConfigError: If a dimension is not a positive int, ``hidden_dims`` is empty, or an activation is unknown.
        """
        super().__init__()
        input_dim = _check_dim(input_dim, "input_dim")
        output_dim = _check_dim(output_dim, "output_dim")
        if isinstance(hidden_dims, (str, bytes)) or not isinstance(hidden_dims, Sequence) or len(hidden_dims) == 0:
            raise ConfigError(
                f"hidden_dims must be a non-empty list of layer widths, got {hidden_dims!r}; e.g. [256, 256, 256]."
            )
        widths = [
            input_dim if _check_dim(d, f"hidden_dims[{i}]", allow_minus_one=True) == -1 else int(d)
            for i, d in enumerate(hidden_dims)
        ]
        resolve_activation(activation)  # validate once before building anything
        if last_activation is not None:
            resolve_activation(last_activation)

        layers: list[nn.Module] = []
        for in_dim, out_dim in zip([input_dim, *widths[:-1]], widths, strict=True):
            layers += [Linear(in_dim, out_dim), resolve_activation(activation)]
        layers.append(Linear(widths[-1], output_dim))
        if last_activation is not None:
            layers.append(resolve_activation(last_activation))
        for index, layer in enumerate(layers):
            self.add_module(str(index), layer)

        self.input_dim = input_dim
        self.output_dim = output_dim

    @property
    def linear_layers(self) -> list[nn.Linear]:
        """The ``Linear`` layers in order, the output layer last."""
        return [m for m in self if isinstance(m, nn.Linear)]

    def init_orthogonal(self, gains: float | Sequence[float] = math.sqrt(2)) -> None:
        """Re-initialize every Linear layer orthogonally with zero bias.

        Unlike rsl_rl's ``init_weights`` (indexed by child position), a sequence of gains is indexed by Linear
        layer: ``gains[k]`` is the gain of the k-th Linear layer.

        Args:
            gains: One gain for all layers, or one per Linear layer (``len(hidden_dims) + 1`` values).

        Raises:
            ConfigError: If the number of gains does not match the number of Linear layers.
        """
        linears = self.linear_layers
        if isinstance(gains, (int, float)):
            gain_list = [float(gains)] * len(linears)
        else:
            gain_list = [float(g) for g in gains]
            if len(gain_list) != len(linears):
                raise ConfigError(
                    f"init_orthogonal got {len(gain_list)} gains for {len(linears)} Linear layers; "
                    f"pass one float or exactly {len(linears)} gains."
                )
        with torch.no_grad():
            for layer, gain in zip(linears, gain_list, strict=True):
                nn.init.orthogonal_(layer.weight, gain=gain)
                nn.init.zeros_(layer.bias)
