"""The extension hook protocol: how symmetry, RND and user extensions plug into an algorithm.

An algorithm holds a list of extensions and calls every hook at a fixed point of its loop, so extension logic
never appears as ``if self.rnd:`` branches inside the algorithm. Every hook has a no-op default; an extension
overrides only what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch

if TYPE_CHECKING:
    from stride.storage import MiniBatch, RolloutStorage
    from stride.storage.replay_buffer import ReplayBatch, ReplayBuffer

__all__ = ["Extension", "check_compatibility"]


class Extension:
    """Base class of algorithm extensions.

    Hook order within one iteration: ``on_transition`` after every env step (may change the rewards that are
    stored), then per mini-batch ``augment_batch`` before the forward passes and ``extra_loss`` after them, then
    ``after_update`` once, then ``stats`` for logging. ``sync`` is called after gradients are all-reduced in
    multi-process training.

    Off-policy learners (SAC, TD3) call ``augment_replay_batch`` on every sampled batch, ``extra_actor_loss``
    and ``after_optimizer_step`` at every actor step, then ``after_update`` once per iteration with their replay
    buffer.
    """

    name: ClassVar[str] = "extension"
    """Short name, used in logs and checkpoints."""

    incompatible_with: ClassVar[tuple[str, ...]] = ()
    """Names of extensions (or model features, e.g. ``"recurrent"``) this one cannot be combined with."""

    capturable: ClassVar[bool] = False
    """Whether ``augment_batch``, ``extra_loss`` and ``after_optimizer_step`` may run inside a captured CUDA graph
    (``algorithm.cuda_graphs``): state kept in tensors changed in place, no host reads, no Python branch on a tensor
    value, a ``capturable`` optimizer. ``on_transition`` and ``after_update`` always run eagerly."""

    def on_transition(
        self, obs: Mapping[str, torch.Tensor], rewards: torch.Tensor, dones: torch.Tensor, extras: Mapping[str, Any]
    ) -> torch.Tensor:
        """Called after each env step with the next observations; returns the rewards to store. Shape: (N,)."""
        return rewards

    def augment_batch(self, batch: MiniBatch) -> MiniBatch:
        """Return the mini-batch to train on (e.g. with mirrored copies appended)."""
        return batch

    def extra_loss(self, batch: MiniBatch, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Losses to add to the algorithm's loss (already weighted), keyed by log name.

        ``outputs`` holds the algorithm's forward results, e.g. ``dist_params``, ``values``,
        ``original_batch_size``.
        """
        return {}

    def augment_replay_batch(self, batch: ReplayBatch) -> ReplayBatch:
        """Off-policy learners: return the sampled replay batch to train on (e.g. with mirrored copies appended)."""
        return batch

    def extra_actor_loss(self, batch: ReplayBatch, outputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Off-policy learners: losses to add to the actor's loss (already weighted), keyed by log name.

        ``outputs`` holds ``mean_actions`` (the actor's deterministic actions tanh(μ(s)) for every row of
        ``batch``, with gradient) and ``original_batch_size`` (rows before augmentation).
        """
        return {}

    def after_optimizer_step(self, skipped: torch.Tensor) -> None:
        """Called after each mini-batch's optimizer step (e.g. to step the extension's own optimizer).

        Args:
            skipped: 0-d bool tensor on the device; True when the algorithm skipped this step because a loss or
                gradient was not finite.
        """

    def after_update(self, storage: RolloutStorage | ReplayBuffer) -> None:
        """Called once per iteration after the optimizer steps (e.g. to update normalizers).

        Args:
            storage: The algorithm's rollout storage (PPO) or replay buffer (SAC, TD3).
        """

    def stats(self) -> dict[str, torch.Tensor | float]:
        """Scalars to log for this iteration."""
        return {}

    def parameters_to_sync(self) -> list[torch.nn.Parameter]:
        """Trainable parameters whose gradients must be all-reduced in multi-process training."""
        return []

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume this extension exactly."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def state_mismatches(self, state: Mapping[str, Any], strict: bool = True) -> list[str]:
        """Problems that would make :meth:`load_state_dict` fail, one line each (checked before anything loads).

        The algorithm calls this for every extension before it changes any model, so a checkpoint that does not
        fit leaves everything untouched. The default finds nothing.
        """
        return []


def check_compatibility(extensions: list[Extension], features: set[str]) -> None:
    """Raise if two extensions, or an extension and a model feature, declare each other incompatible.

    Args:
        extensions: The extensions to be combined.
        features: Model features present (e.g. ``{"recurrent"}``).

    Raises:
        ConfigError: Naming both sides of the conflict.
    """
    from stride.utils.errors import ConfigError

    names = {ext.name for ext in extensions} | features
    for ext in extensions:
        for other in ext.incompatible_with:
            if other in names and other != ext.name:
                raise ConfigError(f"extension '{ext.name}' cannot be combined with '{other}'.")
