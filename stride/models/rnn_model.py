"""Recurrent model: observation-group selection, optional normalizer, GRU/LSTM, MLP head, optional distribution."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stride.models.mlp_model import ExportBase, MLPModel, Observations
from stride.modules.rnn import RNN, HiddenState
from stride.utils.errors import ConfigError

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
    def as_jit(self) -> nn.Module:
        """A self-contained deterministic copy for ``torch.jit.script`` that keeps its state inside (rsl_rl's).

        ``forward(obs)`` takes one step for one env (obs (1, obs_dim)) from the state held in the buffers
        ``hidden_state`` (and ``cell_state`` for an LSTM), each (num_layers, 1, hidden_dim), and stores the new
        state there; ``reset()`` zeroes it (call it when the episode ends).
        """
        return (_LSTMJit(self) if self.rnn.rnn_type == "lstm" else _GRUJit(self)).eval()

    def as_onnx(self, verbose: bool = False) -> nn.Module:
        """A deterministic copy with the state passed explicitly, with rsl_rl's ONNX surface.

        LSTM: ``forward(obs, h_in, c_in) -> (actions, h_out, c_out)``; GRU: ``forward(obs, h_in) -> (actions,
        h_out)``. States are (num_layers, B, hidden_dim); start from zeros and zero an env's state when its episode
        ends. ``input_names``/``output_names`` are those names; ``get_dummy_inputs()`` gives batch-1 zeros.

        Args:
            verbose: Stored for callers that pass it on to the exporter.
        """
        return _RNNOnnx(self, verbose).eval()


class _RNNExport(ExportBase):
    """Normalizer → GRU/LSTM (the torch module) → MLP → distribution mode."""

    def __init__(self, model: RNNModel, verbose: bool = False) -> None:
        super().__init__(model, verbose)
        self.rnn = copy.deepcopy(model.rnn.rnn)
        self.rnn_type = model.rnn.rnn_type
        self.num_layers = model.rnn.num_layers
        self.hidden_dim = model.rnn.hidden_dim
        self.is_recurrent = True


class _GRUJit(_RNNExport):
    """One env, state in the ``hidden_state`` buffer."""

    def __init__(self, model: RNNModel) -> None:
        super().__init__(model)
        self.hidden_state: torch.Tensor
        self.register_buffer("hidden_state", self._zeros(self.num_layers, 1, self.hidden_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """One step. Shape: (1, obs_dim) → (1, output_dim)."""
        out, h = self.rnn(self.obs_normalizer(obs).unsqueeze(0), self.hidden_state)
        self.hidden_state.copy_(h)
        return self.head(out.squeeze(0))

    @torch.jit.export
    def reset(self) -> None:
        """Zero the state (a new episode)."""
        self.hidden_state.zero_()


class _LSTMJit(_RNNExport):
    """One env, state in the ``hidden_state`` and ``cell_state`` buffers."""

    def __init__(self, model: RNNModel) -> None:
        super().__init__(model)
        self.hidden_state: torch.Tensor
        self.cell_state: torch.Tensor
        self.register_buffer("hidden_state", self._zeros(self.num_layers, 1, self.hidden_dim))
        self.register_buffer("cell_state", self._zeros(self.num_layers, 1, self.hidden_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """One step. Shape: (1, obs_dim) → (1, output_dim)."""
        out, (h, c) = self.rnn(self.obs_normalizer(obs).unsqueeze(0), (self.hidden_state, self.cell_state))
        self.hidden_state.copy_(h)
        self.cell_state.copy_(c)
        return self.head(out.squeeze(0))

    @torch.jit.export
    def reset(self) -> None:
        """Zero the state (a new episode)."""
        self.hidden_state.zero_()
        self.cell_state.zero_()


class _RNNOnnx(_RNNExport):
    """Explicit state: ``(obs, h_in[, c_in]) -> (actions, h_out[, c_out])``; traced, never scripted."""

    def __init__(self, model: RNNModel, verbose: bool = False) -> None:
        super().__init__(model, verbose)
        lstm = self.rnn_type == "lstm"
        self.input_names = ["obs", "h_in", "c_in"] if lstm else ["obs", "h_in"]
        self.output_names = ["actions", "h_out", "c_out"] if lstm else ["actions", "h_out"]

    def forward(
        self, obs: torch.Tensor, h_in: torch.Tensor, c_in: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """One step for B envs. Shapes: obs (B, obs_dim), states (num_layers, B, hidden_dim)."""
        x = self.obs_normalizer(obs).unsqueeze(0)
        if self.rnn_type == "gru":
            out, h_out = self.rnn(x, h_in)
            return self.head(out.squeeze(0)), h_out
        if c_in is None:
            raise ConfigError("an LSTM policy needs its cell state: call it as (obs, h_in, c_in).")
        out, (h_out, c_out) = self.rnn(x, (h_in, c_in))
        return self.head(out.squeeze(0)), h_out, c_out

    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        """Zero observation and state(s) for one env, the example inputs for ``torch.onnx.export``."""
        state = self._zeros(self.num_layers, 1, self.hidden_dim)
        if self.rnn_type == "lstm":
            return self._zeros(1, self.obs_dim), state, state.clone()
        return self._zeros(1, self.obs_dim), state
