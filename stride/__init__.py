"""stride: fast, strict reinforcement learning for robot learning (a drop-in for rsl_rl)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
