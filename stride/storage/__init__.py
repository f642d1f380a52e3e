"""Rollout storage."""

from __future__ import annotations

from stride.storage.rollout_storage import MiniBatch, RolloutStorage

__all__ = ["MiniBatch", "RolloutStorage"]
