"""An ensemble of Q-function MLPs evaluated in one batched matmul per layer (twin Q, optionally distributional).

Reference:
    Fujimoto et al. "Addressing Function Approximation Error in Actor-Critic Methods." ICML 2018 (clipped double Q).
    Bellemare et al. "A Distributional Perspective on Reinforcement Learning." ICML 2017 (C51 output).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stride.modules.activations import resolve_activation
from stride.utils.errors import ConfigError

__all__ = ["EnsembleLinear", "QEnsemble"]


class EnsembleLinear(nn.Module):
    """``num_members`` independent Linear layers applied together: y_e = x_e W_e + b_e.

    Initialized as ``nn.Linear`` (weights and biases uniform in ±1/√in_features), independently per member.

    Shape:
        Input ``(E, B, in_features)``, output ``(E, B, out_features)``.
    """

    def __init__(self, num_members: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(num_members, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_members, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply every member to its own input slice."""
        return torch.baddbmm(self.bias, x, self.weight)


class QEnsemble(nn.Module):
    """``num_critics`` Q-networks Q_e(x, a) → ``num_atoms`` outputs each (1: a scalar Q, > 1: C51 logits).

    Each member is an MLP over ``concat(x, a)`` with the given hidden widths, optional LayerNorm before every hidden
    activation (as FastTD3 recommends for large batches), and a linear output.

    Args:
        input_dim: Size of the (normalized) observation features x.
        num_actions: Action size.
        hidden_dims: Hidden widths, each >= 1.
        activation: Hidden activation name.
        num_critics: Ensemble members, >= 1 (2 for clipped double Q).
        num_atoms: Outputs per member, >= 1.
        layer_norm: LayerNorm (with affine parameters per member) before each hidden activation.

    Raises:
        ConfigError: If a size is invalid.

    Shape:
        ``forward(x (B, input_dim), a (B, num_actions))`` → ``(num_critics, B, num_atoms)``.
    """

    def __init__(
        self,
        input_dim: int,
        num_actions: int,
        hidden_dims: Sequence[int],
        activation: str = "relu",
        num_critics: int = 2,
        num_atoms: int = 1,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        if num_critics < 1 or num_atoms < 1 or not hidden_dims or any(h < 1 for h in hidden_dims):
            raise ConfigError(
                f"QEnsemble needs num_critics >= 1, num_atoms >= 1 and hidden widths >= 1; got {num_critics}, "
                f"{num_atoms}, {list(hidden_dims)}."
            )
        self.num_critics = num_critics
        self.num_atoms = num_atoms
        dims = [input_dim + num_actions, *hidden_dims]
        self.layers = nn.ModuleList(EnsembleLinear(num_critics, i, o) for i, o in itertools.pairwise(dims))
        self.norm_weights = nn.ParameterList(
            nn.Parameter(torch.ones(num_critics, 1, h)) for h in (hidden_dims if layer_norm else [])
        )
        self.norm_biases = nn.ParameterList(
            nn.Parameter(torch.zeros(num_critics, 1, h)) for h in (hidden_dims if layer_norm else [])
        )
        self.activation = resolve_activation(activation)
        self.output = EnsembleLinear(num_critics, dims[-1], num_atoms)

    def forward(self, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Every member's output for every sample. Shape: (num_critics, B, num_atoms)."""
        h = torch.cat([x, actions], dim=-1).unsqueeze(0).expand(self.num_critics, -1, -1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if len(self.norm_weights) > 0:
                # LayerNorm over the features of each member: (h − μ)/σ · w_e + b_e
                h = F.layer_norm(h, h.shape[-1:]) * self.norm_weights[i] + self.norm_biases[i]
            h = self.activation(h)
        return self.output(h)
