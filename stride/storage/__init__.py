"""Rollout storage."""

from __future__ import annotations

from stride.storage.distillation_storage import DistillationStorage
from stride.storage.rollout_storage import MiniBatch, RolloutStorage

__all__ = ["DistillationStorage", "MiniBatch", "RolloutStorage"]
