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
    "pynvml": "pip install nvidia-ml-py (or 'edgemark[gpu]')",
}
# for a GPU: onnxruntime's CUDA build replaces the CPU one (the same module name, so not both)
GPU_PROVIDERS = {
    "onnxruntime": "pip uninstall -y onnxruntime && pip install 'edgemark[gpu]' (onnxruntime-gpu)",
}


def require(module: str, purpose: str, gpu: bool = False):
    """Import ``module`` or raise a clear error saying what installs it (``gpu``: its GPU build)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        fix = (GPU_PROVIDERS.get(top) if gpu else None) or PROVIDERS.get(top, f"pip install {top}")
        raise EdgemarkError(f"{purpose} needs {module.split('.')[0]}, which is not installed ({e}). Install it with: {fix}") from None
