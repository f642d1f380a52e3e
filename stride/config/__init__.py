"""Configuration: strict dataclasses in rsl_rl's dict format."""

from __future__ import annotations

from stride.config.schema import MLPModelCfg, PPOCfg, RunnerCfg
from stride.config.strict import build, to_dict

__all__ = ["MLPModelCfg", "PPOCfg", "RunnerCfg", "build", "to_dict"]
