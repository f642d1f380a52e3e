"""MLP model: observation-group selection, optional normalizer, MLP, optional output distribution."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stride.modules import MLP, Distribution, EmpiricalNormalization, resolve_distribution
from stride.modules.rnn import unpad
from stride.utils.errors import ConfigError

__all__ = ["ExportBase", "MLPModel", "Observations"]

Observations = Mapping[str, torch.Tensor]
"""A TensorDict or a plain dict of observation groups, each of shape (batch, ...)."""


class MLPModel(nn.Module):
    """A model over 1-D observation groups (the rsl_rl ``MLPModel`` constructor and state-dict layout).

    Args:
        obs: Example observations, used for group sizes.
        obs_groups: Observation sets → env groups (resolved).
        obs_set: Which set this model reads (``"actor"``, ``"critic"``, ...).
        output_dim: Action size for an actor, 1 for a critic.
        hidden_dims: MLP hidden widths.
        activation: MLP activation name.
        obs_normalization: Normalize the concatenated input with running statistics.
        distribution_cfg: Output distribution config; None for a deterministic output.
        orthogonal_init_gains: One orthogonal-initialization gain per Linear layer of the MLP (biases zeroed); None
            keeps torch's default initialization.

    Raises:
        ConfigError: If a group is missing or not 1-D.
    """

    is_recurrent: bool = False
    """Whether the model keeps a hidden state across steps."""

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
        orthogonal_init_gains: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if obs_set not in obs_groups:
            raise ConfigError(f"obs_groups has no '{obs_set}' set; sets given: {sorted(obs_groups)}.")
        self.obs_set = obs_set
        self.obs_groups = list(obs_groups[obs_set])
        self.obs_dim = self._input_dim(obs)
        self.obs_normalization = obs_normalization
        self.obs_normalizer: nn.Module = EmpiricalNormalization(self.obs_dim) if obs_normalization else nn.Identity()
        self.distribution: Distribution | None = resolve_distribution(
            distribution_cfg, output_dim, f"{obs_set}.distribution_cfg"
        )
        mlp_out = self.distribution.input_dim if self.distribution is not None else output_dim
        self.mlp = MLP(self._latent_dim(), mlp_out, list(hidden_dims), activation)
        if orthogonal_init_gains is not None:
            self.mlp.init_orthogonal(orthogonal_init_gains)
        # after any re-initialization: the distribution sets its part of the output layer (e.g. a std head)
        if self.distribution is not None:
            self.distribution.init_mlp_weights(self.mlp)
        self.output_dim = output_dim

    # ------------------------------------------------------------------------------------------------ inputs
    def _input_dim(self, obs: Observations) -> int:
        total = 0
        for group in self.obs_groups:
            if group not in obs:
                raise ConfigError(
                    f"{self.obs_set}: observation group '{group}' is missing; env groups: {list(obs.keys())}."
                )
            shape = tuple(obs[group].shape)
            if len(shape) != 2:
                raise ConfigError(
                    f"{self.obs_set}: MLPModel needs 1-D groups (shape (num_envs, size)); group '{group}' has shape "
                    f"{shape}. Use CNNModel for images."
                )
            total += shape[1]
        return total

    def _latent_dim(self) -> int:
        return self.obs_dim

    def select(self, obs: Observations) -> torch.Tensor:
        """Concatenate this model's groups. Shape: (batch, obs_dim)."""
        if len(self.obs_groups) == 1:
            return obs[self.obs_groups[0]]
        return torch.cat([obs[g] for g in self.obs_groups], dim=-1)

    def latent(self, obs: Observations, masks: torch.Tensor | None = None, hidden_state: Any = None) -> torch.Tensor:
        """Selected and normalized input of the MLP. Shape: (batch, latent_dim).

        With ``masks`` (a recurrent mini-batch of padded trajectories) the input is first brought back to the
        rollout layout (T, N, ...), the layout a recurrent model's output has.
        """
        x = self.select(obs)
        if masks is not None:
            x = unpad(x, masks)
        return self.obs_normalizer(x)

    # ------------------------------------------------------------------------------------------------ outputs
    def raw(self, obs: Observations, masks: torch.Tensor | None = None, hidden_state: Any = None) -> torch.Tensor:
        """MLP output before the distribution. Shape: (batch, mlp_output_dim)."""
        return self.mlp(self.latent(obs, masks, hidden_state))

    def distribution_params(
        self, obs: Observations, masks: torch.Tensor | None = None, hidden_state: Any = None
    ) -> tuple[torch.Tensor, ...]:
        """Parameters of the output distribution (e.g. mean and std), each of shape (batch, output_dim).

        Raises:
            ConfigError: If the model has no distribution.
        """
        if self.distribution is None:
            raise ConfigError(f"{self.obs_set}: this model has no distribution_cfg, so it cannot act stochastically.")
        return self.distribution.params(self.raw(obs, masks, hidden_state))

    def value(self, obs: Observations, masks: torch.Tensor | None = None, hidden_state: Any = None) -> torch.Tensor:
        """Scalar output of a critic. Shape: (batch,)."""
        return self.raw(obs, masks, hidden_state).squeeze(-1)

    def forward(
        self,
        obs: Observations,
        masks: torch.Tensor | None = None,
        hidden_state: Any = None,
        stochastic_output: bool = False,
    ) -> torch.Tensor:
        """Deterministic output (mean action or value), or a sample when ``stochastic_output`` (rsl_rl's call)."""
        out = self.raw(obs, masks, hidden_state)
        if self.distribution is None:
            return out
        if stochastic_output:
            return self.distribution.sample(self.distribution.params(out))
        return self.distribution.deterministic_output(out)

    # ------------------------------------------------------------------------------------------ normalization
    @torch.no_grad()
    def update_normalization(self, obs: Observations) -> None:
        """Merge the statistics of ``obs`` (any batch shape ending in the group sizes) into the normalizer."""
        if isinstance(self.obs_normalizer, EmpiricalNormalization):
            x = self.select(obs)
            self.obs_normalizer.update(x.reshape(-1, x.shape[-1]))

    # ------------------------------------------------------------------------------------ recurrent interface
    def reset(self, dones: torch.Tensor | None = None, hidden_state: Any = None) -> None:
        """Reset the hidden state of done envs (no-op for an MLP)."""

    def get_hidden_state(self) -> Any:
        """The hidden state to store with a transition (None for an MLP)."""
        return None

    def detach_hidden_state(self, dones: torch.Tensor | None = None) -> None:
        """Cut the gradient through the hidden state (no-op for an MLP)."""

    # ------------------------------------------------------------------------------------------------ export
    def as_jit(self) -> nn.Module:
        """A self-contained deterministic copy that ``torch.jit.script`` accepts (rsl_rl's ``as_jit``).

        ``forward(obs)`` maps the raw concatenated observation (B, obs_dim) to the deterministic output (B,
        output_dim), normalizer included; ``reset()`` is a no-op kept for the recurrent models' interface.
        """
        return _MLPExport(self).eval()

    def as_onnx(self, verbose: bool = False) -> nn.Module:
        """The same deterministic copy with rsl_rl's ONNX surface, ready for ``torch.onnx.export``.

        ``get_dummy_inputs()`` gives one zero observation; ``input_names`` is ``["obs"]``, ``output_names``
        ``["actions"]``.

        Args:
            verbose: Kept on the module for callers that pass it on to the exporter.
        """
        return _MLPExport(self, verbose).eval()


class ExportBase(nn.Module):
    """What every export module holds: copies of the normalizer, the MLP and the distribution's mode.

    Subclasses add the inputs (recurrent state, images) and rsl_rl's ONNX surface: ``get_dummy_inputs()`` (batch
    1, on the module's device), ``input_names``, ``output_names``. ``torch.jit.script`` compiles ``forward`` and
    ``reset`` only; the other members stay plain Python for the ONNX exporters.

    Args:
        model: The model to copy (it is not modified and shares no tensor with the copy).
        verbose: Stored for callers that pass it on to ``torch.onnx.export``.
    """

    def __init__(self, model: MLPModel, verbose: bool = False) -> None:
        super().__init__()
        self.obs_normalizer = copy.deepcopy(model.obs_normalizer)
        self.mlp = copy.deepcopy(model.mlp)
        # a Distribution's forward is its deterministic output (the mean, or the rescaled Beta mean)
        self.deterministic_output = (
            copy.deepcopy(model.distribution) if model.distribution is not None else nn.Identity()
        )
        self.obs_dim = model.obs_dim
        self.verbose = verbose
        self.is_recurrent = False
        self.output_names = ["actions"]

    def head(self, latent: torch.Tensor) -> torch.Tensor:
        """MLP, then the distribution's deterministic output. Shape: (B, latent_dim) → (B, output_dim)."""
        return self.deterministic_output(self.mlp(latent))

    @torch.jit.export
    def reset(self) -> None:
        """Forget the recurrent state (nothing to forget here)."""

    def _zeros(self, *shape: int) -> torch.Tensor:
        """A dummy input on the module's device."""
        device = next(iter(self.mlp.parameters())).device
        return torch.zeros(*shape, device=device)


class _MLPExport(ExportBase):
    """Deterministic MLP policy: ``forward(obs) -> actions``, normalizer → MLP → distribution mode."""

    def __init__(self, model: MLPModel, verbose: bool = False) -> None:
        super().__init__(model, verbose)
        self.input_names = ["obs"]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic output. Shape: (B, obs_dim) → (B, output_dim)."""
        return self.head(self.obs_normalizer(obs))

    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        """One zero observation, the example input for ``torch.onnx.export``."""
        return (self._zeros(1, self.obs_dim),)
