"""CNN model: one CNN encoder per image group, features joined with the 1-D groups, MLP head, optional distribution."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stride.config.schema import CNNCfg, parse_cnn_cfg
from stride.config.strict import to_dict
from stride.models.mlp_model import ExportBase, MLPModel, Observations
from stride.modules.cnn import CNN
from stride.modules.rnn import unpad
from stride.utils.errors import ConfigError

__all__ = ["CNNModel"]

_log = logging.getLogger(__name__)


def _split_groups(obs: Observations, groups: Sequence[str], obs_set: str) -> tuple[list[str], list[str]]:
    """Split an observation set into its 1-D groups ``(N, D)`` and its image groups ``(N, C, H, W)``.

    Raises:
        ConfigError: If a group is missing or has any other number of dimensions.
    """
    vectors: list[str] = []
    images: list[str] = []
    for group in groups:
        if group not in obs:
            raise ConfigError(f"{obs_set}: observation group '{group}' is missing; env groups: {list(obs.keys())}.")
        shape = tuple(obs[group].shape)
        if len(shape) == 2:
            vectors.append(group)
        elif len(shape) == 4:
            images.append(group)
        else:
            hint = " Add the channel dimension, e.g. obs.unsqueeze(1)." if len(shape) == 3 else ""
            raise ConfigError(
                f"{obs_set}: CNNModel reads 1-D groups of shape (num_envs, size) and images of shape (num_envs, "
                f"channels, height, width); group '{group}' has shape {shape}.{hint}"
            )
    return vectors, images


class CNNModel(MLPModel):
    """A model over image groups and 1-D groups (the rsl_rl ``CNNModel`` constructor and state-dict layout).

    Every image group ``(N, C, H, W)`` of the observation set gets its own CNN encoder (``cnns.<group>.*``). The
    MLP input is the 1-D groups, concatenated and optionally normalized, followed by the flattened encoder
    features in the set's group order: ``[normalize(obs_1d), cnn_1(image_1), cnn_2(image_2), ...]``. Images are not
    normalized, and :meth:`update_normalization` only updates the statistics of the 1-D part.

    Args:
        obs: Example observations, used for group shapes.
        obs_groups: Observation sets → env groups (resolved).
        obs_set: Which set this model reads (``"actor"``, ``"critic"``, ...).
        output_dim: Action size for an actor, 1 for a critic.
        hidden_dims: MLP hidden widths.
        activation: MLP activation name (the encoders take theirs from ``cnn_cfg``).
        obs_normalization: Normalize the 1-D groups with running statistics (needs at least one 1-D group).
        distribution_cfg: Output distribution config; None for a deterministic output.
        orthogonal_init_gains: Orthogonal-initialization gains of the MLP head's Linear layers (see ``MLPModel``).
        cnn_cfg: One encoder config (``CNNCfg`` keys) for every image group, or image group → its encoder config.
        cnns: Image group → encoder to use instead of building new ones (the same module objects, e.g. the actor's
            for the critic under ``share_cnn_encoders``); ``cnn_cfg`` is then ignored.

    Raises:
        ConfigError: If the set has no image group, a group is neither 1-D nor an image, ``cnn_cfg`` is missing,
            invalid or names other groups than the set's images, an encoder does not fit its image, or
            ``obs_normalization`` is set without any 1-D group.
    """

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
        cnn_cfg: Mapping[str, Any] | None = None,
        cnns: Mapping[str, nn.Module] | None = None,
        orthogonal_init_gains: Sequence[float] | None = None,
    ) -> None:
        if obs_set not in obs_groups:
            raise ConfigError(f"obs_groups has no '{obs_set}' set; sets given: {sorted(obs_groups)}.")
        vector_groups, image_groups = _split_groups(obs, obs_groups[obs_set], obs_set)
        if not image_groups:
            shapes = {g: tuple(obs[g].shape) for g in obs_groups[obs_set]}
            raise ConfigError(
                f"{obs_set}: CNNModel needs at least one image group of shape (num_envs, channels, height, width); "
                f"the '{obs_set}' set reads {shapes}. Use MLPModel for 1-D observations only."
            )
        if obs_normalization and not vector_groups:
            raise ConfigError(
                f"{obs_set}.obs_normalization is true but the '{obs_set}' set has no 1-D group to normalize (images "
                f"are never normalized; groups: {image_groups}). Set {obs_set}.obs_normalization to false."
            )
        # encoders are built before the MLP (rsl_rl's order, so equal seeds give equal initial weights); the plain
        # attributes below are read by _latent_dim while MLPModel.__init__ runs
        encoders = self._encoders(obs, image_groups, obs_set, cnn_cfg, cnns)
        self._encoder_dim = sum(int(e.output_dim) for e in encoders.values())  # type: ignore[arg-type]
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
        self.obs_groups = vector_groups
        self.image_groups = image_groups
        self.image_shapes = {g: tuple(int(d) for d in obs[g].shape[1:]) for g in image_groups}
        """Image group → its per-env shape (C, H, W)."""
        self.cnns = encoders

    # ------------------------------------------------------------------------------------------------ encoders
    @staticmethod
    def _encoders(
        obs: Observations,
        image_groups: list[str],
        obs_set: str,
        cnn_cfg: Mapping[str, Any] | None,
        cnns: Mapping[str, nn.Module] | None,
    ) -> nn.ModuleDict:
        """Check the given encoders, or build one per image group from ``cnn_cfg``."""
        if cnns is not None:
            if set(cnns) != set(image_groups):
                raise ConfigError(
                    f"{obs_set}: the shared CNN encoders are for the image groups {sorted(cnns)} but the '{obs_set}' "
                    f"set reads the images {image_groups}; models sharing encoders (share_cnn_encoders) must read "
                    "the same image groups."
                )
            for group in image_groups:
                _check_encoder(cnns[group], group, tuple(obs[group].shape[1:]), obs_set)
            if cnn_cfg is not None:
                _log.info("%s: using shared CNN encoders; %s.cnn_cfg is ignored.", obs_set, obs_set)
            return cnns if isinstance(cnns, nn.ModuleDict) else nn.ModuleDict(dict(cnns))
        parsed = parse_cnn_cfg(cnn_cfg, f"{obs_set}.cnn_cfg")
        if parsed is None:
            raise ConfigError(
                f"{obs_set}.cnn_cfg is required: the CNN encoder settings, e.g. {{'output_channels': [16, 32], "
                "'kernel_size': 3, 'stride': 2}} (or image group → settings)."
            )
        if isinstance(parsed, CNNCfg):
            per_group = dict.fromkeys(image_groups, parsed)
            paths = dict.fromkeys(image_groups, f"{obs_set}.cnn_cfg")
        else:
            if set(parsed) != set(image_groups):
                missing, extra = sorted(set(image_groups) - set(parsed)), sorted(set(parsed) - set(image_groups))
                raise ConfigError(
                    f"{obs_set}.cnn_cfg gives encoders per image group, but its groups {sorted(parsed)} differ from "
                    f"the '{obs_set}' set's images {image_groups} (missing: {missing}, not images of the set: "
                    f"{extra}). Give one config per image group, or one config for all."
                )
            per_group = parsed
            paths = {g: f"{obs_set}.cnn_cfg.{g}" for g in image_groups}
        encoders = nn.ModuleDict()
        for group in image_groups:
            cfg = per_group[group]
            if not cfg.flatten:
                raise ConfigError(f"'{paths[group]}.flatten' must be true in a CNNModel (the MLP takes a vector).")
            channels, height, width = obs[group].shape[1:]
            try:
                encoders[group] = CNN((height, width), channels, **to_dict(cfg))
            except ConfigError as err:
                raise ConfigError(
                    f"{paths[group]} (image group '{group}', {channels}×{height}×{width}): {err}"
                ) from err
        return encoders

    def _latent_dim(self) -> int:
        return self.obs_dim + self._encoder_dim

    def _input_dim(self, obs: Observations) -> int:
        """Size of the 1-D part of the input (the groups were checked by ``_split_groups``)."""
        return sum(int(obs[g].shape[1]) for g in self.obs_groups if obs[g].dim() == 2)

    # ------------------------------------------------------------------------------------------------ inputs
    def latent(self, obs: Observations, masks: torch.Tensor | None = None, hidden_state: Any = None) -> torch.Tensor:
        """MLP input ``[normalized 1-D groups, encoder features...]``. Shape: (batch, latent_dim).

        With ``masks`` (a recurrent mini-batch of padded trajectories, when the other model is recurrent) inputs
        are first brought back to the rollout layout (T, N, ...), as in :class:`MLPModel`.
        """
        features: list[torch.Tensor] = []
        if self.obs_groups:
            features.append(super().latent(obs, masks, hidden_state))
        for group in self.image_groups:
            image = obs[group]
            if masks is not None:
                image = unpad(image, masks)
            features.append(self._encode(group, image))
        return features[0] if len(features) == 1 else torch.cat(features, dim=-1)

    def _encode(self, group: str, image: torch.Tensor) -> torch.Tensor:
        """Encoder features of images with any leading batch shape. Shape: (..., C, H, W) → (..., features)."""
        if image.dim() == 4:
            return self.cnns[group](image)
        lead = image.shape[:-3]
        features = self.cnns[group](image.reshape(-1, *image.shape[-3:]))
        return features.reshape(*lead, features.shape[-1])

    # ------------------------------------------------------------------------------------------------ export
    def as_jit(self) -> nn.Module:
        """A self-contained deterministic copy that ``torch.jit.script`` accepts (rsl_rl's ``as_jit``).

        Its call is ``forward(obs, images) -> actions``:

        - ``obs``: the 1-D groups concatenated in ``self.obs_groups`` order, raw (the copy normalizes them).
          Shape: (B, obs_dim); a (B, 0) tensor when the model has no 1-D group.
        - ``images``: a list with one image batch per group of ``self.image_groups``, in that order.
          Shape of each: (B, C, H, W).
        - output: the deterministic action (actor) or the value (critic). Shape: (B, output_dim).
        """
        return _CNNJit(self).eval()

    def as_onnx(self, verbose: bool = False) -> nn.Module:
        """The same copy called as ``forward(obs, *images)``, with rsl_rl's ONNX surface.

        ``input_names`` is ``["obs", *image_groups]`` (each image group a named input), ``output_names``
        ``["actions"]``; ``get_dummy_inputs()`` gives batch-1 zeros of every input.

        Args:
            verbose: Stored for callers that pass it on to the exporter.
        """
        return _CNNOnnx(self, verbose).eval()


def _check_encoder(encoder: nn.Module, group: str, image_shape: tuple[int, ...], obs_set: str) -> None:
    """Check that a given encoder flattens its output and, when it records it, was built for this image shape."""
    output_dim = getattr(encoder, "output_dim", None)
    if getattr(encoder, "output_channels", None) is not None or not isinstance(output_dim, int):
        raise ConfigError(
            f"{obs_set}: the shared encoder of image group '{group}' must flatten its output and expose its size as "
            f"an int 'output_dim' (stride.modules.CNN with flatten=True), got {type(encoder).__name__} with "
            f"output_dim={output_dim!r}."
        )
    input_shape = getattr(encoder, "input_shape", None)
    if input_shape is not None and tuple(input_shape) != image_shape:
        raise ConfigError(
            f"{obs_set}: the shared encoder of image group '{group}' was built for images of shape {tuple(input_shape)}"
            f", but the group has shape {image_shape} per env."
        )


class _CNNJit(ExportBase):
    """Deterministic CNN policy: [normalizer(obs), encoders(images)...] → MLP → distribution mode."""

    def __init__(self, model: CNNModel, verbose: bool = False) -> None:
        super().__init__(model, verbose)
        # a ModuleList in image-group order: TorchScript iterates it, and the inputs come in that order
        self.cnns = nn.ModuleList([copy.deepcopy(model.cnns[g]) for g in model.image_groups])
        self.image_groups = list(model.image_groups)
        self.image_shapes = [model.image_shapes[g] for g in model.image_groups]
        self.has_vector = model.obs_dim > 0
        self.input_names = ["obs", *self.image_groups]

    def forward(self, obs: torch.Tensor, images: list[torch.Tensor]) -> torch.Tensor:
        """Deterministic output. Shapes: obs (B, obs_dim), images[i] (B, C_i, H_i, W_i) → (B, output_dim)."""
        features: list[torch.Tensor] = []
        if self.has_vector:
            features.append(self.obs_normalizer(obs))
        for index, cnn in enumerate(self.cnns):
            features.append(cnn(images[index]))
        return self.head(torch.cat(features, dim=-1))


class _CNNOnnx(_CNNJit):
    """``forward(obs, *images)``: one graph input per image group; traced, never scripted."""

    def forward(self, obs: torch.Tensor, *images: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Deterministic output; the images in ``image_groups`` order."""
        return super().forward(obs, list(images))

    def get_dummy_inputs(self) -> tuple[torch.Tensor, ...]:
        """Zero inputs for one env: the 1-D observation and one image per group."""
        return (self._zeros(1, self.obs_dim), *(self._zeros(1, *shape) for shape in self.image_shapes))
