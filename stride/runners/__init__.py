"""Runners: the training loops."""

from __future__ import annotations

from stride.runners.distillation_runner import DistillationRunner
from stride.runners.off_policy_runner import OffPolicyRunner
from stride.runners.on_policy_runner import OnPolicyRunner

__all__ = ["DistillationRunner", "OffPolicyRunner", "OnPolicyRunner"]
