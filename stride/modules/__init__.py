"""Plain neural building blocks: MLP, normalizers and action distributions (no observation groups)."""

from __future__ import annotations

from stride.modules.activations import ACTIVATION_NAMES, resolve_activation
from stride.modules.cnn import CNN
from stride.modules.distributions import (
    BetaDistribution,
    Distribution,
    GaussianDistribution,
    HeteroscedasticGaussianDistribution,
    resolve_distribution,
)
from stride.modules.mlp import MLP
from stride.modules.normalization import EmpiricalNormalization, ValueNormalizer, combine_moments
from stride.modules.reward_scaling import RewardScaler
from stride.modules.rnn import RNN, HiddenState

__all__ = [
    "ACTIVATION_NAMES",
    "CNN",
    "MLP",
    "RNN",
    "BetaDistribution",
    "Distribution",
    "EmpiricalNormalization",
    "GaussianDistribution",
    "HeteroscedasticGaussianDistribution",
    "HiddenState",
    "RewardScaler",
    "ValueNormalizer",
    "combine_moments",
    "resolve_activation",
    "resolve_distribution",
]
