"""From an rsl_rl-style train_cfg to the parts of PPO: config, actor, critic, rollout storage, extensions.

:meth:`~stride.algorithms.ppo.PPO.construct` calls :func:`build_ppo_parts` and hands the parts to PPO's constructor;
:func:`named_trainable_parameters` is the one parameter order the optimizer, the gradient all-reduce and the
checkpoint's optimizer check share.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stride.config.schema import PPOCfg
from stride.config.strict import build
from stride.extensions.base import Extension
from stride.extensions.factory import ExtensionContext, build_extensions
from stride.models.mlp_model import MLPModel, Observations
from stride.models.registry import MODEL_CLASSES, build_model
from stride.storage import RolloutStorage
from stride.utils.errors import ConfigError
from stride.utils.imports import resolve_callable
from stride.utils.obs_groups import resolve_obs_groups

__all__ = ["PPOParts", "build_ppo_parts", "named_trainable_parameters"]

_PPO_NAMES = ("PPO", "rsl_rl.algorithms.PPO", "rsl_rl.algorithms:PPO")


@dataclass(frozen=True)
class PPOParts:
    """What PPO is built from."""

    cfg: PPOCfg
    """The algorithm section, every default filled in."""
    actor: MLPModel
    """The actor (reads the ``actor`` observation set); it may lack a distribution (a policy to play, not train)."""
    critic: MLPModel
    """The critic, one output (reads the ``critic`` observation set)."""
    storage: RolloutStorage
    """The rollout storage, ``num_steps_per_env`` × ``num_envs``."""
    extensions: list[Extension]
    """The algorithm section's extensions (``rnd_cfg``, ``symmetry_cfg``)."""


def build_ppo_parts(
    obs: Observations,
    num_envs: int,
    num_actions: int,
    num_steps_per_env: int,
    train_cfg: Mapping[str, Any],
    obs_groups: Mapping[str, Sequence[str]],
    device: str | torch.device,
    env: Any = None,
) -> PPOParts:
    """Build (in this order, which fixes the random initialization) the actor, the critic, the storage, the extensions.

    ``train_cfg`` is not modified.

    Args:
        obs: The env's first observations (groups and shapes).
        num_envs: Envs stepped together.
        num_actions: Action dimension.
        num_steps_per_env: Env steps per iteration.
        train_cfg: The rsl_rl-style config (``algorithm``, ``actor``, ``critic`` sections).
        obs_groups: Observation set → env groups.
        device: Where the storage and the extensions live.
        env: The env, for extensions that read it.

    Raises:
        ConfigError: On another algorithm class, an unknown key or an invalid value, models that are not
            :class:`~stride.models.MLPModel`, or a critic with a distribution.
    """
    _check_algorithm_class(train_cfg.get("algorithm", {}))
    cfg = build(PPOCfg, train_cfg.get("algorithm", {}), "algorithm")
    groups = resolve_obs_groups(obs, obs_groups, ["actor", "critic"])
    actor = build_model(train_cfg.get("actor", {}), obs, groups, "actor", num_actions, "actor")
    # share_cnn_encoders: the critic is built around the actor's encoder modules (the same objects)
    shared = _shared_encoders(actor, train_cfg.get("critic", {})) if cfg.share_cnn_encoders else {}
    critic = build_model(train_cfg.get("critic", {}), obs, groups, "critic", 1, "critic", **shared)
    if not isinstance(actor, MLPModel) or not isinstance(critic, MLPModel):
        raise ConfigError("actor and critic must derive from stride.models.MLPModel.")
    if critic.distribution is not None:
        raise ConfigError("critic.distribution_cfg must be None: the critic outputs one value.")
    # a deterministic actor can be built (to load and run a policy) but not trained: see PPO.check_trainable()
    probe = actor.distribution.params(torch.zeros(1, actor.distribution.input_dim)) if actor.distribution else ()
    storage = RolloutStorage(num_envs, num_steps_per_env, obs, num_actions, [tuple(p.shape[1:]) for p in probe], device)
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
        storage=storage,
    )
    extensions = build_extensions(train_cfg.get("algorithm", {}), context, "algorithm")
    return PPOParts(cfg, actor, critic, storage, list(extensions))


def named_trainable_parameters(actor: nn.Module, critic: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Actor then critic parameters that require a gradient, each once: encoders shared by both belong to the actor.

    Returns:
        ``(name, parameter)`` pairs, names prefixed ``actor.`` / ``critic.``.
    """
    seen: set[int] = set()
    named: list[tuple[str, nn.Parameter]] = []
    for prefix, model in (("actor", actor), ("critic", critic)):
        for key, param in model.named_parameters():
            if param.requires_grad and id(param) not in seen:
                seen.add(id(param))
                named.append((f"{prefix}.{key}", param))
    return named


def _check_algorithm_class(section: Any) -> None:
    """Refuse another algorithm class before its keys are checked (their errors would point elsewhere).

    Raises:
        ConfigError: Naming the class and what to do instead.
    """
    name = section.get("class_name", "PPO") if isinstance(section, Mapping) else "PPO"
    if name in _PPO_NAMES or not isinstance(name, str):
        return
    if ":" in name or "." in name:
        raise ConfigError(
            f"algorithm.class_name is {name!r}: the OnPolicyRunner trains stride's PPO ('PPO'). An algorithm class "
            "written for rsl_rl (a subclass of rsl_rl.algorithms.PPO) cannot run inside stride; express the change "
            "as a stride extension (stride.extensions.Extension: extra losses, augmented batches, intrinsic rewards) "
            "or keep rsl_rl for this task."
        )


def _shared_encoders(actor: nn.Module, critic_section: Mapping[str, Any]) -> dict[str, Any]:
    """The critic's constructor argument for ``share_cnn_encoders``: the actor's encoders (rsl_rl's ``cnns``).

    Raises:
        ConfigError: If the actor has no CNN encoders or the critic's class cannot receive them.
    """
    cnns = getattr(actor, "cnns", None)
    if not isinstance(cnns, nn.ModuleDict):
        raise ConfigError(
            f"'algorithm.share_cnn_encoders' is true but the actor ({type(actor).__name__}) has no CNN encoders; use "
            "class_name 'CNNModel' for actor and critic, or set share_cnn_encoders to false."
        )
    critic_class = resolve_callable(critic_section.get("class_name", "MLPModel"), MODEL_CLASSES, "critic.class_name")
    if "cnns" not in inspect.signature(critic_class).parameters:
        raise ConfigError(
            f"'algorithm.share_cnn_encoders' is true but the critic class {critic_class.__name__} takes no encoders "
            "(no 'cnns' argument); use class_name 'CNNModel' for the critic, or set share_cnn_encoders to false."
        )
    return {"cnns": cnns}
