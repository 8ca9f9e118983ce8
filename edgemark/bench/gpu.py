"""What GPU support each runtime has here, and what would give it where it is missing.
A runtime without a GPU path is skipped with the reason: never a CPU run labelled GPU."""

from __future__ import annotations


def gpu_unavailable_reason(fmt: str) -> str | None:
    if fmt == "torch":
        import torch

        if not torch.cuda.is_available():
            return "torch has no CUDA device here (this torch is the CPU build; a CUDA build of torch and an NVIDIA driver give it)"
        return None
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            return "onnxruntime is not installed"
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return ("onnxruntime has no CUDAExecutionProvider here (available: " + ", ".join(ort.get_available_providers())
                    + "); install onnxruntime-gpu in place of onnxruntime, with a CUDA driver")
        return None
    if fmt == "openvino":
        try:
            import openvino as ov
        except ImportError:
            return "openvino is not installed"
        devices = ov.Core().available_devices
        if "GPU" not in devices:
            return f"OpenVINO sees no GPU plugin device (devices: {', '.join(devices)}); it needs an Intel GPU and its compute runtime"
        return None
    if fmt == "tflite":
        return "the LiteRT runner here uses the CPU (XNNPACK); a GPU delegate is not part of ai-edge-litert's Python package"
    if fmt == "ncnn":
        return "the NCNN runner here uses the CPU; ncnn's Vulkan GPU path is not used by edgemark"
    if fmt == "executorch":
        return "the ExecuTorch runner here uses the CPU (XNNPACK delegate); its GPU delegates (Vulkan, CUDA) are not built into the pip wheel's runtime here"
    return f"unknown format {fmt}"
