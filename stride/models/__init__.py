"""Models: observation-group selection + normalizer + network + distribution."""

from __future__ import annotations

from stride.models.cnn_model import CNNModel
from stride.models.mlp_model import MLPModel, Observations
from stride.models.rnn_model import RNNModel

__all__ = ["CNNModel", "MLPModel", "Observations", "RNNModel"]
