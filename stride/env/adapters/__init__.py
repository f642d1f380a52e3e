"""Adapters that present other simulators' environments as stride VecEnvs (each imports its backend lazily)."""

from __future__ import annotations

from stride.env.adapters.gymnasium import GymnasiumVecEnv, make_gymnasium_env
from stride.env.adapters.playground import PlaygroundVecEnv, make_playground_env

__all__ = ["GymnasiumVecEnv", "PlaygroundVecEnv", "make_gymnasium_env", "make_playground_env"]
