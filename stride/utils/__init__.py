"""Leaf utilities usable from every layer."""

from __future__ import annotations

from stride.utils.errors import CheckpointError, ConfigError, EnvContractError, NonFiniteError, StrideError

__all__ = ["CheckpointError", "ConfigError", "EnvContractError", "NonFiniteError", "StrideError"]
