"""Operator names -> the model's layers. Every export keeps PyTorch's module paths in its
names (torch.onnx: ``/features/features.1/block/block.0/block.0.0/Conv``; OpenVINO's
converter: ``__module.features.1.block.0.1/aten::batch_norm/...``). A layer here is the unit
a runtime fuses: a convolution with its batch norm and activation is one layer, named by the
module that holds the three (``features.1.block.0``); an addition or a linear layer is its
own module (``features.2``, ``head.fc``)."""

from __future__ import annotations

import re

RUNTIME_LAYER = "(runtime)"  # operators a runtime adds (layout changes, input quantization): no layer of the model

# the members of a Conv-BN-activation unit: their module is the unit's child by index (block.0.0, block.0.1, block.0.2)
_UNIT_MEMBER = re.compile(r"(conv|clip|relu|batch_?norm|hardtanh|hardswish|hardsigmoid|sigmoid|silu|mul|clamp)", re.I)


def module_from_onnx_name(name: str) -> tuple[str | None, str]:
    """(dotted module path, operator token) of a torch.onnx node or tensor name;
    ``/features/features.1/block/block.0/block.0.0/Conv_token_4`` -> (``features.1.block.0.0``, ``Conv``)."""
    if not name.startswith("/"):
        return None, name
    parts = name.split("/")[1:]
    segments, op = parts[:-1], parts[-1]
    path, last = "", ""
    for seg in segments:
        if path and last and seg.startswith(last + "."):
            path = path[: len(path) - len(last)] + seg  # torch.onnx repeats the parent's name: block, block.0, block.0.0
        else:
            path = f"{path}.{seg}" if path else seg
        last = seg
    return path or None, op


def module_from_openvino_name(name: str) -> tuple[str | None, str]:
    """``__module.features.1.block.0.1/aten::batch_norm/BatchNormInference`` -> (``features.1.block.0.1``, ``aten::batch_norm``)."""
    if not name.startswith("__module."):
        return None, name
    head, _, rest = name.partition("/")
    return head[len("__module."):] or None, rest.split("/")[0]


def module_from_litert_name(name: str) -> tuple[str | None, str]:
    """The module path in a litert_torch tensor name: one ``Class_attribute`` segment per module
    below the root (``.../edgemark.models.mobilenetv2.InvertedResidual_1/torch.nn.modules.container.Sequential_block/
    torch.nn.modules.container.Sequential_0/torch.nn.modules.conv.Conv2d_0;2`` -> ``features.1.block.0.0``); the
    export's NHWC wrapper (``ChannelsLastInput``, holding the model as ``model``) is not a layer of the model."""
    segments = name.split(";")[0].split("/")
    if len(segments) < 2 or "_" in segments[0]:
        return None, name
    attributes = [seg.rpartition("_")[2] for seg in segments[1:]]
    if segments[0].endswith("ChannelsLastInput") and attributes[:1] == ["model"]:
        attributes = attributes[1:]
    return ".".join(attributes) or None, segments[-1].rpartition(".")[2].partition("_")[0]


def layer_of(module: str | None, op: str) -> str:
    """The layer a module's operator belongs to: a Conv-BN-activation member's parent unit."""
    if not module:
        return RUNTIME_LAYER
    parent, _, index = module.rpartition(".")
    if parent and index.isdigit() and _UNIT_MEMBER.search(op):
        return parent
    return module


def layer_sort_key(layer: str):
    """Model order: features.2 before features.10; the runtime's own operators last."""
    return (layer == RUNTIME_LAYER, [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in layer.split(".")])
