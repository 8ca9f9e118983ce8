"""One predictor interface for every runtime: uint8 face crops in, landmarks out."""

from .base import Predictor
from .load import load_predictor
from .torch_predictor import TorchPredictor

__all__ = ["Predictor", "TorchPredictor", "load_predictor"]
