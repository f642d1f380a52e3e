"""Checkpoint state of PPO: what is saved (rsl_rl's key names), rsl_rl checkpoint conversion, the checked partial load.

A mixin of :class:`~stride.algorithms.ppo.PPO`, as :class:`~stride.algorithms.off_policy_checkpoint.OffPolicyCheckpoint`
is the replay learners'; on top of :class:`~stride.algorithms.rsl_rl_surface.RslRlSurface` (``alg.save()`` /
``alg.load(...)`` with rsl_rl's meaning).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from stride.algorithms.ppo_build import named_trainable_parameters
from stride.algorithms.rsl_rl_surface import RslRlSurface
from stride.extensions.base import Extension
from stride.extensions.rnd import rnd_state_from_rsl_rl, rnd_state_to_rsl_rl
from stride.models.mlp_model import MLPModel
from stride.modules import RewardScaler, ValueNormalizer
from stride.modules.rnn import clone_hidden, hidden_batch_size
from stride.storage import RolloutStorage
from stride.utils.optim import load_optimizer_state
from stride.utils.rsl_rl_checkpoint import CONVERSION_NOTES_KEY, convert_rsl_rl_checkpoint, is_rsl_rl_checkpoint
from stride.utils.state_match import (
    extension_state_mismatches,
    mismatch_error,
    optimizer_state_mismatches,
    optional_state_mismatches,
    state_dict_mismatches,
)

__all__ = ["PPOCheckpoint"]


class PPOCheckpoint(RslRlSurface):
    """Mixin: ``state_dict`` / ``load_state_dict`` / ``convert_checkpoint`` over PPO's parts.

    The parts: models, optimizer, normalizers, extensions and recurrent states. The algorithm sets the attributes
    declared here in its constructor.
    """

    rsl_rl_parts: ClassVar[dict[str, str]] = {
        "actor": "actor",
        "critic": "critic",
        "optimizer": "optimizer",
        "rnd": "extensions",
    }

    device: torch.device
    actor: MLPModel
    critic: MLPModel
    storage: RolloutStorage
    extensions: list[Extension]
    is_recurrent: bool
    optimizer: torch.optim.Optimizer
    value_normalizer: ValueNormalizer | None
    reward_scaler: RewardScaler | None
    _lr: torch.Tensor

    def convert_checkpoint(self, data: Mapping[str, Any], strict: bool) -> tuple[dict[str, Any], list[str] | None]:
        """An rsl_rl checkpoint (no ``schema_version``) in stride's layout; stride's own are returned as they are.

        Returns:
            ``(data, notes)``; ``notes`` lists the conversions (None when nothing was converted).
        """
        # stride's own dicts carry a schema_version (checkpoints) or its extension states (alg.save())
        if "schema_version" in data or "extensions" in data or not is_rsl_rl_checkpoint(data):
            return dict(data), None
        converted = convert_rsl_rl_checkpoint(dict(data), self.actor, self.critic, strict)
        notes = list(converted.pop(CONVERSION_NOTES_KEY, []))
        if isinstance(converted.get("rnd_state_dict"), Mapping):
            # rsl_rl keeps RND at the top level; stride's RND extension reads extensions['rnd']
            rnd = rnd_state_from_rsl_rl(
                converted.pop("rnd_state_dict"), converted.pop("rnd_optimizer_state_dict", None)
            )
            converted["extensions"] = {**converted.get("extensions", {}), "rnd": rnd}
            notes.append("rnd_state_dict and rnd_optimizer_state_dict → extensions['rnd']")
        return converted, notes

    def state_dict(self) -> dict[str, Any]:
        """Model, optimizer, normalizer and extension states (rsl_rl's key names where they exist)."""
        state: dict[str, Any] = {
            "actor_state_dict": self.actor.state_dict(),
            "critic_state_dict": self.critic.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
        }
        if self.value_normalizer is not None:
            state["value_normalizer_state_dict"] = self.value_normalizer.state_dict()
        if self.reward_scaler is not None:
            state["reward_scaler_state_dict"] = self.reward_scaler.state_dict()
        state["extensions"] = {ext.name: ext.state_dict() for ext in self.extensions}
        if "rnd" in state["extensions"]:
            # rsl_rl reads RND from these two keys: a copy in its layout, so rsl_rl can load stride's checkpoints
            networks, optimizer = rnd_state_to_rsl_rl(state["extensions"]["rnd"])
            state["rnd_state_dict"] = networks
            if optimizer is not None:
                state["rnd_optimizer_state_dict"] = optimizer
        if self.is_recurrent:
            # the states the next rollout continues from: needed for a bit-exact resume
            state["recurrent_state"] = {
                "actor": clone_hidden(self.actor.get_hidden_state()),
                "critic": clone_hidden(self.critic.get_hidden_state()),
            }
        return state

    def load_state_dict(
        self, state: Mapping[str, Any], load_cfg: Mapping[str, bool] | None = None, strict: bool = True
    ) -> None:
        """Restore the parts ``load_cfg`` selects (all by default): actor, critic, optimizer, extensions.

        Every selected part is checked against the live models first; nothing changes unless all of them match.

        Args:
            state: A dict from :meth:`state_dict` (or a converted rsl_rl checkpoint).
            load_cfg: Part name → whether to restore it; parts not named are restored. ``critic`` includes the
                value normalizer; ``recurrent_state`` (the models' carried states) is restored only when the
                checkpoint was made with the same number of envs.
            strict: Require the checkpoint's keys to equal the models' (and its extension states to equal the
                algorithm's extensions). Shape mismatches are errors either way.

        Raises:
            CheckpointError: Listing every missing key, unexpected key and shape mismatch of the selected parts.
        """
        parts = {"actor": True, "critic": True, "optimizer": True, "extensions": True, "recurrent_state": True}
        if load_cfg is not None:
            parts.update({k: bool(v) for k, v in load_cfg.items()})
        problems = self._mismatches(state, parts, strict)
        # check everything before touching anything
        if problems:
            raise mismatch_error(problems, strict)
        if parts["actor"]:
            self.actor.load_state_dict(state["actor_state_dict"], strict=strict)
        if parts["critic"]:
            self.critic.load_state_dict(state["critic_state_dict"], strict=strict)
            if self.value_normalizer is not None and "value_normalizer_state_dict" in state:
                self.value_normalizer.load_state_dict(state["value_normalizer_state_dict"])
            if self.reward_scaler is not None and "reward_scaler_state_dict" in state:
                self.reward_scaler.load_state_dict(state["reward_scaler_state_dict"])
        if parts["optimizer"] and "optimizer_state_dict" in state:
            load_optimizer_state(self.optimizer, state["optimizer_state_dict"], self._lr)
        recurrent_state = state.get("recurrent_state")
        if parts.get("recurrent_state", True) and isinstance(recurrent_state, Mapping):
            # restored only for the same number of envs (a policy played on another batch starts from zeros)
            for name, model in (("actor", self.actor), ("critic", self.critic)):
                hidden = recurrent_state.get(name)
                if model.is_recurrent and hidden_batch_size(hidden) == self.storage.num_envs:
                    model.reset(hidden_state=clone_hidden(hidden, self.device))
        if parts["extensions"]:
            saved = state.get("extensions", {})
            for ext in self.extensions:
                if ext.name in saved:
                    ext.load_state_dict(saved[ext.name])

    def _mismatches(self, state: Mapping[str, Any], parts: Mapping[str, bool], strict: bool) -> list[str]:
        """Every missing, unexpected or mis-shaped entry of the selected ``parts`` of ``state`` (nothing changes)."""
        problems: list[str] = []
        if parts["actor"]:
            problems += state_dict_mismatches(self.actor.state_dict(), state.get("actor_state_dict"), strict, "actor")
        if parts["critic"]:
            problems += state_dict_mismatches(
                self.critic.state_dict(), state.get("critic_state_dict"), strict, "critic"
            )
            problems += optional_state_mismatches(
                self.value_normalizer,
                state.get("value_normalizer_state_dict"),
                strict,
                "value_normalizer",
                "algorithm.value_normalization",
            )
            problems += optional_state_mismatches(
                self.reward_scaler,
                state.get("reward_scaler_state_dict"),
                strict,
                "reward_scaler",
                "algorithm.reward_scaling",
            )
        if parts["optimizer"] and "optimizer_state_dict" in state:
            names = [name for name, _ in named_trainable_parameters(self.actor, self.critic)]
            problems += optimizer_state_mismatches(self.optimizer, state["optimizer_state_dict"], "optimizer", names)
        if parts["extensions"] and strict:
            problems += extension_state_mismatches(state, {ext.name: ext.state_dict() for ext in self.extensions})
        if parts["extensions"]:
            saved = state.get("extensions", {})
            for ext in self.extensions:
                if isinstance(saved, Mapping) and ext.name in saved:
                    problems += ext.state_mismatches(saved[ext.name], strict)
        return problems
