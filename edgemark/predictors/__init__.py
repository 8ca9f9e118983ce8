"""One predictor interface for every runtime: uint8 face crops in, landmarks out.

Nothing here imports torch: an edge device runs ONNX, OpenVINO or TFLite artifacts with
numpy and the runtime alone. ``TorchPredictor`` lives in ``predictors.torch_predictor``.
"""

from .base import Predictor
from .load import load_predictor

__all__ = ["Predictor", "load_predictor"]
