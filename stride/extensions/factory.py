"""Construction of the extensions an algorithm config asks for (``rnd_cfg``, ``symmetry_cfg``).

Each config key maps to one builder. A builder receives the key's dict (never modified) and an
:class:`ExtensionContext` with what extensions may need at construction: the env (symmetry functions take it),
one step of observations, the user's observation-set mapping, the models and the device.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stride.extensions.base import Extension

__all__ = ["REPLAY_BUILDERS", "ExtensionContext", "build_extensions", "register_extension_builder"]


@dataclass(kw_only=True)
class ExtensionContext:
    """What an extension builder may use."""

    env: Any
    """The VecEnv (None when an algorithm is built without one, e.g. in unit tests)."""

    obs: Mapping[str, torch.Tensor]
    """One step of observations (batch [num_envs]) on ``device``."""

    obs_groups: Mapping[str, Sequence[str]]
    """The runner's ``obs_groups`` (observation set → env groups), as the user gave it."""

    actor: nn.Module
    """The policy model."""

    critic: nn.Module | None
    """The value model (None for algorithms without one)."""

    num_envs: int
    """N."""

    num_steps_per_env: int
    """T."""

    device: torch.device
    """Where the algorithm lives."""

    gamma: float = 0.99
    """The algorithm's discount factor."""

    storage: Any = None
    """The algorithm's rollout storage (None when an algorithm is built without one)."""


Builder = Callable[[Mapping[str, Any], ExtensionContext, str], Extension]
"""``builder(section_dict, context, config_path) -> Extension``."""

# config key → "module:function"; imported lazily so an unused extension costs nothing at import time
_BUILDERS: dict[str, str | Builder] = {
    "rnd_cfg": "stride.extensions.rnd:build_rnd",
    "symmetry_cfg": "stride.extensions.symmetry:build_symmetry",
}


def register_extension_builder(key: str, builder: str | Builder) -> None:
    """Make an algorithm config key (e.g. ``"my_ext_cfg"``) build an extension with ``builder``."""
    _BUILDERS[key] = builder


def _resolve(builder: str | Builder) -> Builder:
    if callable(builder):
        return builder
    module, _, attr = builder.partition(":")
    return getattr(importlib.import_module(module), attr)


REPLAY_BUILDERS: dict[str, str | Builder] = {
    "symmetry_cfg": "stride.extensions.replay_symmetry:build_replay_symmetry",
}
"""The builders of the off-policy learners (SAC, TD3): their extensions work on replay batches."""


def build_extensions(
    sections: Mapping[str, Any],
    context: ExtensionContext,
    path: str,
    builders: Mapping[str, str | Builder] | None = None,
) -> list[Extension]:
    """Build one extension per non-None config key that has a builder, in a fixed order (RND, then symmetry).

    Args:
        sections: The algorithm config as a dict (only the extension keys are read).
        context: See :class:`ExtensionContext`.
        path: Config path of the algorithm section (``"algorithm"``), for errors.
        builders: Config key → builder; None: the on-policy builders (``rnd_cfg``, ``symmetry_cfg`` and the
            registered ones). The off-policy learners pass :data:`REPLAY_BUILDERS`.

    Returns:
        The extensions, in the builders' order.
    """
    extensions: list[Extension] = []
    for key, builder in (_BUILDERS if builders is None else builders).items():
        section = sections.get(key)
        if section is None:
            continue
        extensions.append(_resolve(builder)(section, context, f"{path}.{key}"))
    return extensions
