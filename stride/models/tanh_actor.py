"""Actor of the off-policy learners: an MLP model whose actions are squashed into [-1, 1] by tanh."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stride.models.mlp_model import MLPModel, Observations

__all__ = ["LOG_STD_MAX", "LOG_STD_MIN", "TanhActor", "squashed_sample"]

LOG_STD_MIN = -5.0
"""Lower bound of the SAC actor's log standard deviation."""
LOG_STD_MAX = 2.0
"""Upper bound of the SAC actor's log standard deviation."""


class TanhActor(MLPModel):
    """Observation groups → optional normalizer → MLP → tanh: actions in [-1, 1] (the env scales them).

    Deterministic (TD3): a = tanh(μ(s)). Stochastic (SAC): the MLP also outputs a log standard deviation,
    u ~ N(μ(s), σ(s)²) and a = tanh(u), with the log-density corrected for the squashing. ``forward(obs)`` gives
    the deterministic action tanh(μ(s)) in both cases (evaluation, export).

    Args:
        obs: Example observations.
        obs_groups: Observation sets → env groups (resolved).
        obs_set: The set this model reads (``"actor"``).
        num_actions: Action size.
        stochastic: Output a Gaussian before the tanh (SAC) instead of a point (TD3).
        hidden_dims: MLP hidden widths.
        activation: MLP activation name.
        obs_normalization: Normalize the input with running statistics.
        orthogonal_init_gains: As in :class:`MLPModel`.
    """

    def __init__(
        self,
        obs: Observations,
        obs_groups: Mapping[str, Sequence[str]],
        obs_set: str,
        num_actions: int,
        stochastic: bool,
        hidden_dims: Sequence[int] = (256, 256, 256),
        activation: str = "elu",
        obs_normalization: bool = False,
        orthogonal_init_gains: Sequence[float] | None = None,
    ) -> None:
        out = 2 * num_actions if stochastic else num_actions
        super().__init__(
            obs,
            obs_groups,
            obs_set,
            out,
            hidden_dims,
            activation,
            obs_normalization,
            None,
            orthogonal_init_gains,
        )
        self.num_actions = num_actions
        self.stochastic = stochastic

    def mean_and_log_std(self, obs: Observations) -> tuple[torch.Tensor, torch.Tensor | None]:
        """μ (pre-tanh) and, for a stochastic actor, log σ in [LOG_STD_MIN, LOG_STD_MAX]. Shapes: (B, A)."""
        out = self.raw(obs)
        if not self.stochastic:
            return out, None
        mean, raw_log_std = out.split(self.num_actions, dim=-1)
        # log σ = min + (max − min)·(tanh(raw) + 1)/2: smooth, bounded
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw_log_std) + 1.0)
        return mean, log_std

    def sample(self, obs: Observations, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterized action sample and its log-density (SAC).

        Args:
            obs: Observations.
            noise: ε ~ N(0, I) drawn by the caller (a compiled update draws it outside the graph, so compiled and
                eager runs use torch's generator alike); None draws it here. Shape: (B, A).

        Returns:
            ``(actions, log_prob)``: a = tanh(μ + σ·ε), ε ~ N(0, I), shape (B, A); log π(a|s), shape (B,).
        """
        mean, log_std = self.mean_and_log_std(obs)
        if log_std is None:
            raise TypeError("sample() needs a stochastic TanhActor (SAC); TD3 adds its own noise.")
        return squashed_sample(mean, log_std, noise)

    def sample_and_mean(
        self, obs: Observations, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`sample` plus the deterministic action tanh(μ(s)) of the same forward pass (SAC's mirror loss).

        Returns:
            ``(actions, log_prob, mean_actions)``, shapes (B, A), (B,), (B, A); the same random draw as ``sample``.
        """
        mean, log_std = self.mean_and_log_std(obs)
        if log_std is None:
            raise TypeError("sample_and_mean() needs a stochastic TanhActor (SAC).")
        actions, log_prob = squashed_sample(mean, log_std, noise)
        return actions, log_prob, torch.tanh(mean)

    def act_deterministic(self, obs: Observations) -> torch.Tensor:
        """tanh(μ(s)). Shape: (B, A)."""
        return torch.tanh(self.mean_and_log_std(obs)[0])

    def forward(
        self,
        obs: Observations,
        masks: torch.Tensor | None = None,
        hidden_state: object = None,
        stochastic_output: bool = False,
    ) -> torch.Tensor:
        """The deterministic action tanh(μ(s)), or a sampled one when ``stochastic_output`` (SAC only)."""
        if stochastic_output and self.stochastic:
            return self.sample(obs)[0]
        return self.act_deterministic(obs)

    def as_export_module(self) -> nn.Module:
        """A self-contained module mapping the concatenated observation to tanh(μ)."""
        return _ExportTanh(self)


def squashed_sample(
    mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparameterized a = tanh(μ + σ·ε), ε ~ N(0, I) (``noise``, or drawn here), and log π(a). Shapes: (B, A), (B,)."""
    eps = torch.randn_like(mean) if noise is None else noise
    u = mean + log_std.exp() * eps
    return torch.tanh(u), squashed_gaussian_log_prob(u, mean, log_std)


def squashed_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log-density of a = tanh(u), u ~ N(mean, exp(log_std)²), summed over action components. Shape: (B,).

    log π(a) = Σ_i [log N(u_i; μ_i, σ_i) − log(1 − tanh(u_i)²)], with the stable form
    log(1 − tanh(u)²) = 2·(log 2 − u − softplus(−2u)).
    """
    z = (u - mean) * torch.exp(-log_std)
    gaussian = -0.5 * z.square() - log_std - 0.5 * math.log(2.0 * math.pi)
    log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (gaussian - log_det).sum(dim=-1)


class _ExportTanh(nn.Module):
    """TorchScript/ONNX-friendly deterministic off-policy actor: normalizer → MLP → first A outputs → tanh."""

    def __init__(self, model: TanhActor) -> None:
        super().__init__()
        self.obs_normalizer = copy.deepcopy(model.obs_normalizer)
        self.mlp = copy.deepcopy(model.mlp)
        self.num_actions = model.num_actions
        self.input_dim = model.obs_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(self.obs_normalizer(x))[..., : self.num_actions])
