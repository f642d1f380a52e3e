"""Construction of models from their config sections (``class_name`` + keys)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from stride.config.schema import CNNModelCfg, MLPModelCfg, RNNModelCfg
from stride.config.strict import build, to_dict
from stride.models.cnn_model import CNNModel
from stride.models.mlp_model import MLPModel, Observations
from stride.models.rnn_model import RNNModel
from stride.utils.imports import check_signature_keys, resolve_callable

__all__ = ["MODEL_CLASSES", "build_model", "register_model"]

MODEL_CLASSES: dict[str, type[nn.Module]] = {"MLPModel": MLPModel, "RNNModel": RNNModel, "CNNModel": CNNModel}
"""Bare ``class_name`` values stride knows."""

_MODEL_CFGS: dict[type[nn.Module], type] = {MLPModel: MLPModelCfg, RNNModel: RNNModelCfg, CNNModel: CNNModelCfg}

_POSITIONAL = ("obs", "obs_groups", "obs_set", "output_dim")


def register_model(name: str, cls: type[nn.Module], cfg_cls: type | None = None) -> None:
    """Make ``class_name: name`` resolve to ``cls`` (validated through ``cfg_cls`` when given)."""
    MODEL_CLASSES[name] = cls
    if cfg_cls is not None:
        _MODEL_CFGS[cls] = cfg_cls


def build_model(
    cfg: Mapping[str, Any],
    obs: Observations,
    obs_groups: Mapping[str, Sequence[str]],
    obs_set: str,
    output_dim: int,
    path: str,
    **extra: Any,
) -> nn.Module:
    """Build the model a config section describes; the section is not modified.

    Args:
        cfg: ``{"class_name": ..., **model keys}``.
        obs: Example observations.
        obs_groups: Resolved observation sets.
        obs_set: The set the model reads.
        output_dim: Output size.
        path: Config path of the section (``"actor"``), for errors.
        **extra: Keyword arguments added by the algorithm (e.g. shared encoders).

    Returns:
        The model.

    Raises:
        ConfigError: On an unknown class or key, or an invalid value.
    """
    cls = resolve_callable(cfg.get("class_name", "MLPModel"), MODEL_CLASSES, f"{path}.class_name")
    cfg_cls = _MODEL_CFGS.get(cls)
    if cfg_cls is not None:
        kwargs = to_dict(build(cfg_cls, cfg, path))
    else:
        kwargs = {k: v for k, v in cfg.items()}
        check_signature_keys(cls.__init__, [k for k in kwargs if k != "class_name"], _POSITIONAL, path)
    kwargs.pop("class_name", None)
    kwargs.update(extra)
    return cls(obs, obs_groups, obs_set, output_dim, **kwargs)
