"""Q model of the off-policy learners: observation-group selection, optional normalizer, a Q-network ensemble."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from stride.models.mlp_model import Observations
from stride.modules import EmpiricalNormalization
from stride.modules.q_ensemble import QEnsemble
from stride.utils.errors import ConfigError

__all__ = ["QModel"]


class QModel(nn.Module):
    """Q(s, a) for every member of an ensemble, over the observation groups of one set (``critic``).

    With ``num_atoms > 1`` each member outputs C51 logits over the fixed support z_j = v_min + j·Δz,
    Δz = (v_max − v_min)/(num_atoms − 1), and the Q value is the expectation Σ_j softmax(logits)_j z_j.

    Args:
        obs: Example observations, used for group sizes.
        obs_groups: Observation sets → env groups (resolved).
        obs_set: Which set this model reads (``"critic"``).
        num_actions: Action size.
        hidden_dims: Hidden widths of each member.
        activation: Hidden activation name.
        obs_normalization: Normalize the concatenated observation with running statistics.
        num_critics: Ensemble members (2: clipped double Q).
        num_atoms: 1 for a scalar Q, > 1 for a C51 distributional critic.
        v_min: Lowest atom of the C51 support.
        v_max: Highest atom of the C51 support.
        layer_norm: LayerNorm before each hidden activation.

    Raises:
        ConfigError: If a group is missing or not 1-D.
    """

    is_recurrent: bool = False
    support: torch.Tensor
    """The C51 atoms z_j (one zero when num_atoms = 1). Shape: (num_atoms,)."""

    def __init__(
        self,
        obs: Observations,
        obs_groups: Mapping[str, Sequence[str]],
        obs_set: str,
        num_actions: int,
        hidden_dims: Sequence[int] = (256, 256),
        activation: str = "relu",
        obs_normalization: bool = False,
        num_critics: int = 2,
        num_atoms: int = 1,
        v_min: float = -10.0,
        v_max: float = 10.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        if obs_set not in obs_groups:
            raise ConfigError(f"obs_groups has no '{obs_set}' set; sets given: {sorted(obs_groups)}.")
        self.obs_set = obs_set
        self.obs_groups = list(obs_groups[obs_set])
        self.obs_dim = 0
        for group in self.obs_groups:
            if group not in obs or obs[group].dim() != 2:
                shape = tuple(obs[group].shape) if group in obs else "missing"
                raise ConfigError(
                    f"{obs_set}: QModel needs 1-D observation groups (num_envs, size); group '{group}' is {shape}; "
                    f"env groups: {list(obs.keys())}."
                )
            self.obs_dim += int(obs[group].shape[1])
        self.obs_normalizer: nn.Module = EmpiricalNormalization(self.obs_dim) if obs_normalization else nn.Identity()
        self.head = QEnsemble(self.obs_dim, num_actions, hidden_dims, activation, num_critics, num_atoms, layer_norm)
        self.num_atoms = num_atoms
        self.v_min = float(v_min)
        self.v_max = float(v_max)
        self.register_buffer("support", torch.linspace(v_min, v_max, num_atoms) if num_atoms > 1 else torch.zeros(1))

    def select(self, obs: Observations) -> torch.Tensor:
        """The critic set's groups concatenated, before normalization. Shape: (B, obs_dim)."""
        if len(self.obs_groups) == 1:
            return obs[self.obs_groups[0]]
        return torch.cat([obs[g] for g in self.obs_groups], -1)

    def latent(self, obs: Observations) -> torch.Tensor:
        """Selected and normalized observation. Shape: (B, obs_dim)."""
        return self.obs_normalizer(self.select(obs))

    def expected(self, out: torch.Tensor) -> torch.Tensor:
        """Q values from head outputs (E, B, K): the scalar, or Σ_j p_j z_j for C51. Shape: (E, B)."""
        if self.num_atoms == 1:
            return out.squeeze(-1)
        return (torch.softmax(out.float(), dim=-1) * self.support).sum(-1)

    def forward(self, obs: Observations, actions: torch.Tensor) -> torch.Tensor:
        """Q values of every member. Shape: (num_critics, B)."""
        return self.expected(self.head(self.latent(obs), actions))

    @torch.no_grad()
    def update_normalization(self, obs: Observations) -> None:
        """Merge the statistics of ``obs`` into the normalizer (no-op without one)."""
        if isinstance(self.obs_normalizer, EmpiricalNormalization):
            flat = self.select(obs)
            self.obs_normalizer.update(flat.reshape(-1, flat.shape[-1]))
