"""Rollout storage."""

from __future__ import annotations

from stride.storage.distillation_storage import DistillationStorage
from stride.storage.replay_buffer import ReplayBatch, ReplayBuffer
from stride.storage.rollout_storage import MiniBatch, RolloutStorage

__all__ = ["DistillationStorage", "MiniBatch", "ReplayBatch", "ReplayBuffer", "RolloutStorage"]
