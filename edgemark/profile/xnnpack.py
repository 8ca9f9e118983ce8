"""The kind of layer an XNNPACK operator is, from its kernel name (``Convolution (NHWC, QC8) DWConv``):
XNNPACK names operators the same way under ExecuTorch and LiteRT."""

from __future__ import annotations


def xnnpack_kind(name: str) -> str:
    if "DWConv" in name:
        return "depthwise"
    if name.startswith("Convolution"):
        return "conv"
    if name.startswith("Fully Connected"):
        return "pointwise/fc"  # XNNPACK runs the 1x1 convolutions as GEMMs, like the linear head
    if name.startswith("Add"):
        return "add"
    if name.startswith(("Transpose", "Copy", "Reshape", "Static Reshape", "Constant Pad")):
        return "layout"
    if name.startswith("Convert"):
        return "quantize"  # int8 <-> float at the edge of a quantised stretch
    if name.startswith(("Max Pooling", "Average Pooling", "Global Average Pooling")):
        return "pooling"
    if name.startswith(("Clamp", "HardSwish", "Sigmoid", "ReLU", "Leaky ReLU")):
        return "activation"  # one not fused into the operator before it
    return name.split(" (")[0].split(" #")[0]
