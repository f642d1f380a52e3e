"""Adapters that present other simulators' environments as stride VecEnvs (each imports its backend lazily)."""

from __future__ import annotations

from stride.env.adapters.envpool import EnvpoolVecEnv, make_envpool_env
from stride.env.adapters.gymnasium import GymnasiumVecEnv, make_gymnasium_env

__all__ = ["EnvpoolVecEnv", "GymnasiumVecEnv", "make_envpool_env", "make_gymnasium_env"]
