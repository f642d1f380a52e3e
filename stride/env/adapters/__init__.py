"""Adapters that present other simulators' environments as stride VecEnvs (each imports its backend lazily)."""

from __future__ import annotations

from stride.env.adapters.gymnasium import GymnasiumVecEnv, make_gymnasium_env

__all__ = ["GymnasiumVecEnv", "make_gymnasium_env"]
