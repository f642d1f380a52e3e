"""Recurrent building block (GRU or LSTM) that keeps its own hidden state, plus trajectory padding helpers.

Two calling modes:

- **step** (rollout, inference, distillation): ``rnn(x)`` with ``x`` of shape (N, D) runs one time step for N envs
  from the state it holds and keeps the new state.
- **sequence** (PPO update): ``rnn(x, masks, hidden_state)`` with padded trajectories ``x`` (T, B, D), valid-step
  ``masks`` (T, B) and each trajectory's initial state; returns the outputs in the rollout's (T, N, H) layout.
- **env columns** (PPO update under ``cuda_graphs``): ``rnn(x, None, SequenceStart(state, resets))`` with ``x`` in
  the rollout layout (T, N, D); steps through time, zeroing the state where ``resets``; returns (T, N, H).

Layout of padded trajectories: trajectories are ordered env by env, each env's in time order, each padded at its end
to the rollout length T; every env contributes exactly T valid steps in total (see
:func:`stride.storage.recurrent.split_trajectories`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Union

import torch
from torch import nn

from stride.storage.trajectories import SequenceStart
from stride.utils.errors import ConfigError

__all__ = [
    "RNN",
    "HiddenState",
    "RNNType",
    "cat_hidden",
    "clone_hidden",
    "hidden_batch_size",
    "map_hidden",
    "unpad",
]

HiddenState = Union[torch.Tensor, tuple[torch.Tensor, ...], None]  # noqa: UP007 (a runtime alias)
"""GRU: tensor (num_layers, N, H); LSTM: tuple (h, c) of such tensors; None before the first step."""

RNNType = Literal["lstm", "gru"]


def map_hidden(hidden: HiddenState, fn: Callable[[torch.Tensor], torch.Tensor]) -> HiddenState:
    """Apply ``fn`` to every tensor of a hidden state (a tuple stays a tuple, None stays None)."""
    if hidden is None:
        return None
    if isinstance(hidden, (tuple, list)):
        return tuple(fn(h) for h in hidden)
    return fn(hidden)


def clone_hidden(hidden: HiddenState, device: torch.device | str | None = None) -> HiddenState:
    """A detached copy of a hidden state, optionally on another device (for checkpoints and replays)."""
    return map_hidden(hidden, lambda h: h.detach().to(device or h.device, copy=True))


def cat_hidden(states: Sequence[HiddenState]) -> HiddenState:
    """Concatenate hidden states along the env dimension (dim 1); all of one kind, none of them None."""
    parts = [s if isinstance(s, tuple) else (s,) for s in states if s is not None]
    if len(parts) != len(states):
        raise ConfigError("cat_hidden: a hidden state is None; reset() the model or pass zeros instead.")
    joined = tuple(torch.cat([p[i] for p in parts], dim=1) for i in range(len(parts[0])))
    return joined if isinstance(states[0], tuple) else joined[0]


def hidden_batch_size(hidden: object) -> int | None:
    """Number of envs a (possibly loaded) hidden state holds; None when it is not a (L, N, H) state."""
    first = hidden[0] if isinstance(hidden, (tuple, list)) and hidden else hidden
    return int(first.shape[1]) if isinstance(first, torch.Tensor) and first.dim() == 3 else None


def unpad(padded: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Padded trajectories back to the rollout layout.

    Args:
        padded: Shape (T, B, ...), B trajectories ordered env by env, padded to the rollout length T.
        masks: Valid steps, bool. Shape: (T, B); every env holds exactly T valid steps.

    Returns:
        Shape (T, N, ...), where N·T is the number of valid steps.
    """
    valid = padded.transpose(0, 1)[masks.transpose(0, 1)]  # (N·T, ...) env-major, time-ordered
    return valid.unflatten(0, (-1, masks.shape[0])).transpose(0, 1)


class RNN(nn.Module):
    """A GRU or LSTM over feature vectors that holds the hidden state between steps.

    The wrapped torch module is ``self.rnn`` (state-dict keys ``rnn.weight_ih_l0`` ..., as in rsl_rl).

    Args:
        input_dim: Feature size D.
        hidden_dim: Hidden size H.
        num_layers: Stacked layers L.
        rnn_type: ``"lstm"`` or ``"gru"``.

    Raises:
        ConfigError: For an unknown type or non-positive sizes.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 256, num_layers: int = 1, rnn_type: str = "lstm") -> None:
        super().__init__()
        kind = rnn_type.lower() if isinstance(rnn_type, str) else rnn_type
        if kind not in ("lstm", "gru"):
            raise ConfigError(f"rnn_type must be 'lstm' or 'gru', got {rnn_type!r}.")
        if hidden_dim < 1 or num_layers < 1:
            raise ConfigError(f"rnn_hidden_dim and rnn_num_layers must be >= 1, got {hidden_dim} and {num_layers}.")
        cls = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn: nn.LSTM | nn.GRU = cls(input_size=input_dim, hidden_size=hidden_dim, num_layers=num_layers)
        self.rnn_type: RNNType = kind
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.hidden_state: HiddenState = None

    def forward(
        self, x: torch.Tensor, masks: torch.Tensor | None = None, hidden_state: HiddenState = None
    ) -> torch.Tensor:
        """Step mode (``masks`` None) or sequence mode; see the module docstring.

        Args:
            x: Step: (N, D). Sequence: padded (T, B, D).
            masks: Sequence mode only: valid steps (T, B), bool.
            hidden_state: Sequence mode only: each trajectory's initial state, (L, B, H) per tensor.

        Returns:
            Step: (N, H). Sequence: (T, N, H) in the rollout layout.

        Raises:
            ConfigError: In sequence mode without initial states.
        """
        if isinstance(hidden_state, SequenceStart):
            return self._env_columns(x, hidden_state)
        if masks is None:
            state = self.hidden_state
            held = hidden_batch_size(state)
            if held is not None and held != x.shape[0]:
                raise ConfigError(
                    f"the recurrent state holds {held} envs but the input has {x.shape[0]}; call "
                    "reset() (no arguments) before running the policy on a batch of another size."
                )
            out, self.hidden_state = self.rnn(x.unsqueeze(0), state)
            return out.squeeze(0)
        if hidden_state is None:
            raise ConfigError("RNN sequence mode needs the stored initial hidden states of the trajectories.")
        # padding holds arbitrary values (even NaN): zero it so neither the outputs nor the weight gradients see it;
        # torch.where also gives an exactly-zero gradient to the padded inputs
        x = torch.where(masks.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))
        out, _ = self.rnn(x, hidden_state)
        return unpad(out, masks)

    def _env_columns(self, x: torch.Tensor, start: SequenceStart) -> torch.Tensor:
        """Env-column mode: (T, N, D) → (T, N, H), one time step per call, the state zeroed where ``resets``."""
        state: HiddenState = start.state
        outputs = []
        for t in range(x.shape[0]):
            if t > 0:
                # h ← 0 where the previous step ended an episode (out of place: the gradient stops there too)
                keep = ~start.resets[t].view(1, -1, 1)
                state = map_hidden(state, lambda h, keep=keep: torch.where(keep, h, 0.0))
            out, state = self.rnn(x[t : t + 1], state)
            outputs.append(out)
        return torch.cat(outputs)

    def zero_state(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> HiddenState:
        """An all-zero state for ``batch`` envs."""
        h = torch.zeros(self.num_layers, batch, self.hidden_dim, device=device, dtype=dtype)
        return (h, h.clone()) if self.rnn_type == "lstm" else h

    def reset(self, dones: torch.Tensor | None = None, hidden_state: HiddenState = None) -> None:
        """Zero the state of done envs, forget it (``dones`` None), or set it (``hidden_state`` given).

        Args:
            dones: Shape (N,), bool, float or int; nonzero entries are reset.
            hidden_state: A state to install instead.
        """
        if hidden_state is not None:
            if dones is not None:
                raise ConfigError("reset takes either dones or hidden_state, not both.")
            self.hidden_state = hidden_state
            return
        if dones is None:
            self.hidden_state = None
            return
        if self.hidden_state is None:
            return
        # h ← 0 where done: out of place, so a state saved by the caller (get_hidden_state) stays intact
        done = (dones != 0).view(1, -1, 1)
        self.hidden_state = map_hidden(self.hidden_state, lambda h: torch.where(done.to(h.device), 0.0, h))

    def detach_hidden_state(self, dones: torch.Tensor | None = None) -> None:
        """Cut the autograd graph through the state (all envs, or only the done ones)."""
        if self.hidden_state is None:
            return
        if dones is None:
            self.hidden_state = map_hidden(self.hidden_state, torch.Tensor.detach)
            return
        done = (dones != 0).view(1, -1, 1)
        self.hidden_state = map_hidden(self.hidden_state, lambda h: torch.where(done, h.detach(), h))
