"""From an rsl_rl-style train_cfg to the parts of a replay learner: configs, actor, critic, replay buffer, extensions.

:meth:`~stride.algorithms.off_policy.OffPolicyAlgorithm.construct` calls :func:`build_off_policy_parts` and hands the
parts to the algorithm's constructor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stride.config.off_policy import OffPolicyCfg, QModelCfg, check_actor_section
from stride.config.schema import MLPModelCfg
from stride.config.strict import build, to_dict
from stride.extensions.base import Extension
from stride.extensions.factory import REPLAY_BUILDERS, ExtensionContext, build_extensions
from stride.models.mlp_model import Observations
from stride.models.q_model import QModel
from stride.models.tanh_actor import TanhActor
from stride.storage.replay_buffer import ReplayBuffer
from stride.utils.errors import ConfigError
from stride.utils.obs_groups import resolve_obs_groups

__all__ = ["OffPolicyParts", "build_off_policy_parts"]


@dataclass(frozen=True)
class OffPolicyParts:
    """What a replay learner is built from."""

    cfg: OffPolicyCfg
    """The algorithm section, every default filled in."""
    actor: TanhActor
    """The tanh actor (reads the ``actor`` observation set)."""
    critic: QModel
    """The Q model (reads the ``critic`` observation set)."""
    buffer: ReplayBuffer
    """The replay buffer, ``buffer_size // num_envs`` slots per env."""
    extensions: list[Extension]
    """The algorithm section's extensions (symmetry)."""
    sections: dict[str, Any]
    """The ``algorithm``, ``actor`` and ``critic`` sections as dicts with every default filled in."""


def build_off_policy_parts(
    cfg_class: type[OffPolicyCfg],
    stochastic_actor: bool,
    obs: Observations,
    num_envs: int,
    num_actions: int,
    num_steps_per_env: int,
    train_cfg: Mapping[str, Any],
    obs_groups: Mapping[str, Sequence[str]],
    device: str | torch.device,
    env: Any = None,
) -> OffPolicyParts:
    """Build (in this order, which fixes the random initialization) the actor, the critic, the buffer, the extensions.

    The ``symmetry_cfg`` of the algorithm section builds a
    :class:`~stride.extensions.replay_symmetry.ReplaySymmetry`; ``train_cfg`` is not modified.

    Args:
        cfg_class: The algorithm's config dataclass (``SACCfg``, ``TD3Cfg``).
        stochastic_actor: Whether the actor outputs a Gaussian before the tanh (SAC) or a point (TD3).
        obs: The env's first observations (groups and shapes).
        num_envs: Envs stepped together.
        num_actions: Action dimension.
        num_steps_per_env: Env steps per iteration.
        train_cfg: The rsl_rl-style config (``algorithm``, ``actor``, ``critic`` sections).
        obs_groups: Observation set → env groups.
        device: Where models live (and the buffer, unless ``replay_device`` is set).
        env: The env, for extensions that read it.

    Raises:
        ConfigError: On an unknown key, an invalid value, or a buffer too small for ``n_step``.
    """
    cfg = build(cfg_class, train_cfg.get("algorithm", {}), "algorithm")
    actor_cfg = build(MLPModelCfg, train_cfg.get("actor", {}), "actor")
    check_actor_section(actor_cfg, "actor")
    critic_cfg = build(QModelCfg, train_cfg.get("critic", {}), "critic")
    groups = resolve_obs_groups(obs, obs_groups, ["actor", "critic"])
    actor_kwargs = {k: v for k, v in to_dict(actor_cfg).items() if k not in ("class_name", "distribution_cfg")}
    actor = TanhActor(obs, groups, "actor", num_actions, stochastic_actor, **actor_kwargs)
    critic_kwargs = {k: v for k, v in to_dict(critic_cfg).items() if k != "class_name"}
    critic = QModel(obs, groups, "critic", num_actions, **critic_kwargs)
    capacity = cfg.buffer_size // num_envs
    if capacity < max(cfg.n_step, 1):
        raise ConfigError(
            f"algorithm.buffer_size={cfg.buffer_size} gives {capacity} steps per env for num_envs={num_envs}, "
            f"fewer than n_step={cfg.n_step}; raise buffer_size to at least {cfg.n_step * num_envs}."
        )
    buffer_device = cfg.replay_device if cfg.replay_device is not None else device
    buffer = ReplayBuffer(num_envs, capacity, obs, [*groups["actor"], *groups["critic"]], num_actions, buffer_device)
    context = ExtensionContext(
        env=env,
        obs=obs,
        obs_groups=obs_groups,
        actor=actor,
        critic=critic,
        num_envs=num_envs,
        num_steps_per_env=num_steps_per_env,
        device=torch.device(device),
        gamma=cfg.gamma,
    )
    extensions = build_extensions(train_cfg.get("algorithm", {}), context, "algorithm", REPLAY_BUILDERS)
    sections = {"algorithm": to_dict(cfg), "actor": to_dict(actor_cfg), "critic": to_dict(critic_cfg)}
    return OffPolicyParts(cfg, actor, critic, buffer, list(extensions), sections)
