"""Learning algorithms and their pure maths."""

from __future__ import annotations

from stride.algorithms.distillation import Distillation
from stride.algorithms.ppo import PPO

__all__ = ["PPO", "Distillation"]
