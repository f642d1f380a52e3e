"""Recurrent model: observation-group selection, optional normalizer, GRU/LSTM, MLP head, optional distribution."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stride.models.mlp_model import MLPModel, Observations
from stride.modules.rnn import RNN, HiddenState

__all__ = ["RNNModel"]


class RNNModel(MLPModel):
    """A GRU or LSTM over the (normalized) 1-D groups of an observation set, then an MLP head.

    Same constructor, calls and state-dict layout as rsl_rl's ``RNNModel`` (``rnn.rnn.*``, ``mlp.*``). The hidden
    state lives in the model: in step mode (a batch of N observations, no ``masks``) every call advances it, and
    :meth:`reset` zeroes the envs that are done. In sequence mode (the PPO update) the caller passes padded
    trajectories, their masks and the stored initial states (see :mod:`stride.modules.rnn`).

    Args:
        obs: Example observations, used for group sizes.
        obs_groups: Observation sets → env groups (resolved).
        obs_set: Which set this model reads.
        output_dim: Action size for an actor, 1 for a critic.
        hidden_dims: MLP head hidden widths.
        activation: MLP activation name.
        obs_normalization: Normalize the concatenated input with running statistics.
        distribution_cfg: Output distribution config; None for a deterministic output.
        orthogonal_init_gains: Orthogonal-initialization gains of the MLP head's Linear layers (see ``MLPModel``).
        rnn_type: ``"lstm"`` or ``"gru"``.
        rnn_hidden_dim: Hidden size of the recurrent layers.
        rnn_num_layers: Number of stacked recurrent layers.
    """

    is_recurrent: bool = True

    def __init__(
        self,
        obs: Observations,
        obs_groups: Mapping[str, Sequence[str]],
        obs_set: str,
        output_dim: int,
        hidden_dims: Sequence[int] = (256, 256, 256),
        activation: str = "elu",
        obs_normalization: bool = False,
        distribution_cfg: dict[str, Any] | None = None,
        rnn_type: str = "lstm",
        rnn_hidden_dim: int = 256,
        rnn_num_layers: int = 1,
        orthogonal_init_gains: Sequence[float] | None = None,
    ) -> None:
        self.rnn_hidden_dim = rnn_hidden_dim
        super().__init__(
            obs,
            obs_groups,
            obs_set,
            output_dim,
            hidden_dims,
            activation,
            obs_normalization,
            distribution_cfg,
            orthogonal_init_gains,
        )
        self.rnn = RNN(self.obs_dim, rnn_hidden_dim, rnn_num_layers, rnn_type)

    def _latent_dim(self) -> int:
        return self.rnn_hidden_dim

    def latent(self, obs: Observations, masks: torch.Tensor | None = None, hidden_state: Any = None) -> torch.Tensor:
        """RNN output. Step mode: (N, H). Sequence mode: (T, N, H) in the rollout layout."""
        return self.rnn(self.obs_normalizer(self.select(obs)), masks, hidden_state)

    # ------------------------------------------------------------------------------------ recurrent interface
    def reset(self, dones: torch.Tensor | None = None, hidden_state: Any = None) -> None:
        """Zero the state of done envs (``dones`` (N,) bool/float/int), forget it (no args) or set it."""
        self.rnn.reset(dones, hidden_state)

    def get_hidden_state(self) -> HiddenState:
        """GRU: (L, N, H); LSTM: (h, c); None before the first step."""
        return self.rnn.hidden_state

    def detach_hidden_state(self, dones: torch.Tensor | None = None) -> None:
        """Cut the autograd graph through the state (truncated BPTT)."""
        self.rnn.detach_hidden_state(dones)

    # ------------------------------------------------------------------------------------------------ export
    def as_export_module(self) -> nn.Module:
        """A TorchScript/ONNX-friendly copy with the state passed explicitly.

        ``forward(x, h, c)`` takes the concatenated observation (B, obs_dim) and the state (L, B, H) (``c`` is
        ignored by a GRU) and returns ``(action, h_next, c_next)``; reset an env by passing zeros.
        """
        return _ExportLSTM(self) if self.rnn.rnn_type == "lstm" else _ExportGRU(self)


class _ExportRNN(nn.Module):
    """Deterministic recurrent policy with explicit state: normalizer → RNN → MLP → distribution mode."""

    def __init__(self, model: RNNModel) -> None:
        super().__init__()
        self.obs_normalizer = copy.deepcopy(model.obs_normalizer)
        self.rnn = copy.deepcopy(model.rnn.rnn)
        self.mlp = copy.deepcopy(model.mlp)
        self.head = copy.deepcopy(model.distribution) if model.distribution is not None else nn.Identity()
        self.input_dim = model.obs_dim
        self.num_layers = model.rnn.num_layers
        self.hidden_dim = model.rnn.hidden_dim


class _ExportGRU(_ExportRNN):
    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, h_next = self.rnn(self.obs_normalizer(x).unsqueeze(0), h)
        return self.head(self.mlp(out.squeeze(0))), h_next, c


class _ExportLSTM(_ExportRNN):
    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, (h_next, c_next) = self.rnn(self.obs_normalizer(x).unsqueeze(0), (h, c))
        return self.head(self.mlp(out.squeeze(0))), h_next, c_next
