"""Typed exceptions raised by stride.

Every message states what was received, what was expected, and how to fix it.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "ConfigError", "EnvContractError", "NonFiniteError", "StrideError"]


class StrideError(Exception):
    """Base class of every error stride raises on purpose."""


class ConfigError(StrideError, ValueError):
    """A configuration value, key or combination is invalid."""


class EnvContractError(StrideError, ValueError):
    """An environment does not follow the VecEnv contract."""


class NonFiniteError(StrideError, FloatingPointError):
    """A NaN or infinite value reached a place where it would corrupt training."""


class CheckpointError(StrideError, RuntimeError):
    """A checkpoint cannot be written, read or matched to the models."""
