"""Checkpoint state of the replay learners: which models and optimizers are saved, and the checked partial load.

A mixin of :class:`~stride.algorithms.off_policy.OffPolicyAlgorithm`: SAC and TD3 add their own entries through
:meth:`OffPolicyCheckpoint._optimizers` (SAC's α optimizer), :meth:`OffPolicyCheckpoint._extra_models` (TD3's target
actor) and :meth:`OffPolicyCheckpoint._load_extra_optimizer_state` (SAC's log α).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from stride.config.off_policy import OffPolicyCfg
from stride.models.q_model import QModel
from stride.models.tanh_actor import TanhActor
from stride.storage.replay_buffer import ReplayBuffer
from stride.utils.optim import load_optimizer_state
from stride.utils.state_match import mismatch_error, optimizer_state_mismatches, state_dict_mismatches

__all__ = ["OffPolicyCheckpoint"]


class OffPolicyCheckpoint:
    """Mixin: ``state_dict`` / ``load_state_dict`` over the algorithm's models, target networks and optimizers.

    The algorithm sets the attributes declared here in its constructor.
    """

    cfg: OffPolicyCfg
    actor: TanhActor
    critic: QModel
    critic_target: nn.Module
    actor_optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer
    buffer: ReplayBuffer
    num_updates: int
    _learning_rates: dict[str, torch.Tensor]

    @property
    def learning_rate(self) -> float:
        """The critic's learning rate."""
        return self.cfg.critic_learning_rate

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {
            "actor_optimizer_state_dict": self.actor_optimizer,
            "critic_optimizer_state_dict": self.critic_optimizer,
        }

    def _extra_models(self) -> dict[str, tuple[str, nn.Module]]:
        """Further state-dict key → (load part, module) pairs (target networks)."""
        return {"critic_target_state_dict": ("critic", self.critic_target)}

    def state_dict(self) -> dict[str, Any]:
        """Models, target networks, optimizers, counters, and the replay buffer when ``save_replay_buffer``."""
        state: dict[str, Any] = {
            "actor_state_dict": self.actor.state_dict(),
            "critic_state_dict": self.critic.state_dict(),
            **{key: module.state_dict() for key, (_, module) in self._extra_models().items()},
            **{key: opt.state_dict() for key, opt in self._optimizers().items()},
            "learning_rate": self.learning_rate,
            "num_updates": self.num_updates,
        }
        if self.cfg.save_replay_buffer:
            state["replay_buffer"] = self.buffer.state_dict()
        return state

    def load_state_dict(
        self, state: Mapping[str, Any], load_cfg: Mapping[str, bool] | None = None, strict: bool = True
    ) -> None:
        """Restore the parts ``load_cfg`` selects (all by default): actor, critic, optimizer, replay_buffer.

        ``actor`` and ``critic`` include their target networks (and SAC's α goes with ``optimizer``). Every
        selected part is checked first; nothing changes unless all match.

        Raises:
            CheckpointError: Listing every missing key, unexpected key and shape mismatch of the selected parts.
        """
        parts = {"actor": True, "critic": True, "optimizer": True, "replay_buffer": True}
        if load_cfg is not None:
            parts.update({k: bool(v) for k, v in load_cfg.items()})
        models: dict[str, tuple[str, nn.Module]] = {
            "actor_state_dict": ("actor", self.actor),
            "critic_state_dict": ("critic", self.critic),
            **self._extra_models(),
        }
        problems: list[str] = []
        for key, (part, module) in models.items():
            if parts[part]:
                problems += state_dict_mismatches(
                    module.state_dict(), state.get(key), strict, key.removesuffix("_state_dict")
                )
        if parts["optimizer"]:
            for key, opt in self._optimizers().items():
                if key in state:
                    problems += optimizer_state_mismatches(opt, state[key], key.removesuffix("_state_dict"))
        if problems:
            raise mismatch_error(problems, strict)
        if parts["replay_buffer"] and "replay_buffer" in state:
            self.buffer.load_state_dict(state["replay_buffer"])
        for key, (part, module) in models.items():
            if parts[part]:
                module.load_state_dict(state[key], strict=strict)
        if parts["optimizer"]:
            for key, opt in self._optimizers().items():
                if key in state:
                    load_optimizer_state(opt, state[key], self._learning_rates[key])
            self._load_extra_optimizer_state(state)
            self.num_updates = int(state.get("num_updates", self.num_updates))

    def _load_extra_optimizer_state(self, state: Mapping[str, Any]) -> None:
        """Restore what goes with the optimizers beyond them (SAC's log α)."""
