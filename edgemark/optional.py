"""Importing optional runtimes and converters with an error that names the extra to install."""

from __future__ import annotations

import importlib

from .errors import EdgemarkError

# module -> the pip extra (or package) that provides it
PROVIDERS = {
    "onnx": "pip install onnx",
    "onnxruntime": "pip install onnxruntime",
    "openvino": "pip install openvino",
    "nncf": "pip install nncf",
    "ai_edge_litert": "pip install ai-edge-litert",
    "litert_torch": "pip install 'edgemark[tflite]'",
    "ai_edge_quantizer": "pip install 'edgemark[tflite]'",
    "torchao": "pip install 'edgemark[tflite]'",
    "ray": "pip install 'edgemark[sweep]'",
    "pnnx": "pip install 'edgemark[ncnn]'",
    "ncnn": "pip install 'edgemark[ncnn]'",
    "executorch": "pip install 'edgemark[executorch]'",
}


def require(module: str, purpose: str):
    """Import ``module`` or raise a clear error saying what installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        fix = PROVIDERS.get(module.split(".")[0], f"pip install {module.split('.')[0]}")
        raise EdgemarkError(f"{purpose} needs {module.split('.')[0]}, which is not installed ({e}). Install it with: {fix}") from None
