"""NCNN export: the torch module traced and converted by ``pnnx`` to ``model.ncnn.param`` /
``model.ncnn.bin``. fp32 keeps fp32 weights and runs with ncnn's fp16/bf16 storage and
arithmetic switched off; fp16 = pnnx's fp16 weights, run with ncnn's fp16 storage and
arithmetic (arithmetic in fp16 only where the CPU has it, e.g. ARMv8.2; fp32 on x86).
int8 = what ncnn's own ``ncnn2table`` + ``ncnn2int8`` tools do (they are not in the pip
wheels), written here: per-output-channel weight scales 127/absmax, one input scale per
layer 127/absmax over the calibration crops run through the fp32 model, and every
Convolution, ConvolutionDepthWise and InnerProduct stored as int8 for ncnn's int8 kernels.
One image per call (ncnn has no batch axis): the input shape is [1, 3, H, W]."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..errors import EdgemarkError
from ..optional import require
from ..preprocess import CropSpec, normalise
from .manifest import library_versions

PARAM, BIN = "model.ncnn.param", "model.ncnn.bin"
FP32_OPTIONS = {"use_fp16_packed": False, "use_fp16_storage": False, "use_fp16_arithmetic": False, "use_bf16_storage": False}
RUNTIME_OPTIONS = {"fp32": FP32_OPTIONS, "int8": {**FP32_OPTIONS, "use_int8_inference": True},
                   "fp16": {"use_fp16_packed": True, "use_fp16_storage": True, "use_fp16_arithmetic": True, "use_bf16_storage": False}}
# ncnn .bin tags before a weight blob (ncnn's modelbin.cpp): raw float32, float16, int8
TAG_FP32, TAG_FP16, TAG_INT8 = 0, 0x01306B47, 0x000D4B38
QUANTISED = ("Convolution", "ConvolutionDepthWise", "InnerProduct")


def export_ncnn(model: torch.nn.Module, crop: CropSpec, out_dir: Path, precision: str, calib: np.ndarray | None) -> dict:
    pnnx = require("pnnx", "NCNN export")
    out_dir = Path(out_dir)
    example = torch.zeros(1, 3, crop.size, crop.size)
    converter = "pnnx.export (torch.jit.trace -> pnnx -> ncnn)"
    with tempfile.TemporaryDirectory(prefix="edgemark-pnnx-") as tmp:
        tmp = Path(tmp)
        final = precision != "int8"
        param = out_dir / PARAM if final else tmp / "fp32.ncnn.param"
        weights = out_dir / BIN if final else tmp / "fp32.ncnn.bin"
        pnnx.export(model.eval(), str(tmp / "model.pt"), (example,), fp16=precision == "fp16", ncnnparam=str(param),
                    ncnnbin=str(weights), pnnxparam=str(tmp / "model.pnnx.param"), pnnxbin=str(tmp / "model.pnnx.bin"),
                    pnnxpy=str(tmp / "model_pnnx.py"), pnnxonnx=str(tmp / "model.pnnx.onnx"), ncnnpy=str(tmp / "model_ncnn.py"))
        for path in (param, weights):
            if not path.is_file() or path.stat().st_size == 0:
                raise EdgemarkError(f"{path}: pnnx wrote no NCNN model (see export.log)")
        if precision == "fp16":
            converter += " (fp16 weights)"
        if precision == "int8":
            table = calibrate(param, weights, calib, crop)
            quantize_int8(param, weights, table, out_dir / PARAM, out_dir / BIN)
            converter += (" + int8 as ncnn2table/ncnn2int8 do (weights per output channel 127/absmax, "
                          f"layer inputs 127/absmax over {len(calib)} calibration crops), written by edgemark")
    layers = read_param(out_dir / PARAM)
    input_blob = next(layer.tops[0] for layer in layers if layer.type == "Input")
    output_blob = layers[-1].tops[0]
    return {"format": "ncnn", "model_file": PARAM, "weights_file": BIN, "converter": converter,
            "input": {"name": input_blob, "shape": [1, 3, crop.size, crop.size], "layout": "NCHW", "dtype": "float32"},
            "output": {"name": output_blob, "shape": [1, None, 2], "dtype": "float32"},
            "runtime_options": RUNTIME_OPTIONS[precision],
            "versions": library_versions("torch", "pnnx", "ncnn", "opencv-python", "opencv-python-headless")}


class Layer:
    """One line of an ncnn .param file: type, name, bottom and top blobs, and the key=value
    parameters kept as text (arrays too), in order."""

    def __init__(self, line: str, where: str):
        parts = line.split()
        try:
            self.type, self.name = parts[0], parts[1]
            n_bottom, n_top = int(parts[2]), int(parts[3])
        except (IndexError, ValueError):
            raise EdgemarkError(f"{where}: not an ncnn layer line: {line!r}") from None
        self.bottoms = parts[4 : 4 + n_bottom]
        self.tops = parts[4 + n_bottom : 4 + n_bottom + n_top]
        self.params = dict(p.split("=", 1) for p in parts[4 + n_bottom + n_top :])

    def int(self, key: int, default: int = 0) -> int:
        return int(self.params.get(str(key), default))

    def line(self) -> str:
        return " ".join([self.type, self.name, str(len(self.bottoms)), str(len(self.tops)), *self.bottoms, *self.tops,
                         *(f"{k}={v}" for k, v in self.params.items())])


def read_param(path: Path) -> list[Layer]:
    lines = Path(path).read_text().split("\n")
    if not lines or lines[0].strip() != "7767517":
        raise EdgemarkError(f"{path}: not an ncnn .param file (no 7767517 magic)")
    return [Layer(line, str(path)) for line in lines[2:] if line.strip()]


def _weight_shape(layer: Layer) -> tuple[int, int, bool]:
    """(weight count, output channels or groups the scales run over, bias present)."""
    if layer.type == "InnerProduct":
        return layer.int(2), layer.int(0), bool(layer.int(1))
    groups = layer.int(7, 1) if layer.type == "ConvolutionDepthWise" else layer.int(0)
    return layer.int(6), groups, bool(layer.int(5))


def _read_weights(data: bytes, offset: int, count: int, where: str) -> tuple[np.ndarray, int]:
    (tag,) = struct.unpack_from("<I", data, offset)
    offset += 4
    if tag == TAG_FP32:
        values = np.frombuffer(data, "<f4", count, offset).astype(np.float32)
        return values, offset + 4 * count
    if tag == TAG_FP16:
        values = np.frombuffer(data, "<f2", count, offset).astype(np.float32)
        return values, offset + (2 * count + 3) // 4 * 4
    raise EdgemarkError(f"{where}: weights with ncnn tag {tag:#x}; edgemark's int8 writer reads fp32 or fp16 weights only")


def calibrate(param: Path, weights: Path, calib: np.ndarray, crop: CropSpec) -> dict[str, float]:
    """Per quantised layer, its input's scale 127/absmax over the calibration crops (ncnn2table's table, minmax)."""
    ncnn = require("ncnn", "NCNN int8 calibration")
    layers = [layer for layer in read_param(param) if layer.type in QUANTISED]
    for layer in layers:
        if len(layer.bottoms) != 1:
            raise EdgemarkError(f"{param}: layer {layer.name} has {len(layer.bottoms)} inputs; ncnn int8 needs one")
    net = ncnn.Net()
    for key, value in RUNTIME_OPTIONS["fp32"].items():
        setattr(net.opt, key, value)
    net.opt.use_vulkan_compute = False
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise EdgemarkError(f"{param}: ncnn could not load the fp32 model for calibration")
    input_blob = next(layer.tops[0] for layer in read_param(param) if layer.type == "Input")
    absmax = {layer.name: 0.0 for layer in layers}
    for c in calib:
        for name, value in _input_absmax(ncnn, net, input_blob, normalise(c, crop.mean, crop.std)[0], layers, param).items():
            absmax[name] = max(absmax[name], value)
    net.clear()  # after every Mat of its allocators is gone (ncnn aborts otherwise)
    return {name: 127.0 / value if value > 0 else 1.0 for name, value in absmax.items()}


def _input_absmax(ncnn, net, input_blob: str, x: np.ndarray, layers: list[Layer], param: Path) -> dict[str, float]:
    """One crop: each layer's input absmax. The extractor and its Mats die with this call."""
    ex = net.create_extractor()
    ex.set_light_mode(False)
    image = ncnn.Mat(np.ascontiguousarray(x))
    ex.input(input_blob, image)
    found = {}
    for layer in layers:
        ret, blob = ex.extract(layer.bottoms[0])
        if ret != 0:
            raise EdgemarkError(f"{param}: ncnn could not compute blob {layer.bottoms[0]} (error {ret})")
        found[layer.name] = float(np.abs(np.array(blob)).max())
        del blob
    del ex, image
    return found


def quantize_int8(param: Path, weights: Path, table: dict[str, float], out_param: Path, out_bin: Path) -> None:
    """Write the int8 model: quantised layers get int8_scale_term (param 8; 2 for
    Convolution and InnerProduct, per output channel; 1 for depthwise, per group), int8
    weights (tag, data, 4-byte padding), the float bias, the weight scales and the input scale."""
    lines = Path(param).read_text().split("\n")
    layers = read_param(param)
    data = Path(weights).read_bytes()
    offset, out = 0, bytearray()
    for layer in layers:
        if layer.type not in QUANTISED:
            if layer.type not in ("Input", "Split", "BinaryOp", "Flatten", "Reshape", "ReLU", "Clip", "Pooling", "Concat",
                                  "Sigmoid", "Permute", "Eltwise", "Noop", "Dropout", "HardSwish", "HardSigmoid", "Softmax"):
                raise EdgemarkError(f"{param}: layer type {layer.type} ({layer.name}) may hold weights edgemark's ncnn int8 "
                                    "writer does not know; int8 is not supported for this model")
            continue
        count, channels, bias = _weight_shape(layer)
        w, offset = _read_weights(data, offset, count, str(weights))
        b = None
        if bias:
            b = np.frombuffer(data, "<f4", layer.int(0), offset)
            offset += 4 * len(b)
        per = w.reshape(channels, -1)
        absmax = np.abs(per).max(axis=1)
        scales = np.where(absmax > 0, 127.0 / np.where(absmax > 0, absmax, 1), 1.0).astype(np.float32)
        q = np.clip(np.round(per * scales[:, None]), -127, 127).astype(np.int8).reshape(-1)
        out += struct.pack("<I", TAG_INT8) + q.tobytes() + b"\0" * (-len(q) % 4)
        if b is not None:
            out += b.astype("<f4").tobytes()
        out += scales.astype("<f4").tobytes() + np.float32(table[layer.name]).astype("<f4").tobytes()
        layer.params["8"] = "1" if layer.type == "ConvolutionDepthWise" else "2"
    if offset != len(data):
        raise EdgemarkError(f"{weights}: {len(data) - offset} bytes left after the last layer's weights; not the layout "
                            "edgemark's ncnn int8 writer expects")
    out_param.write_text("\n".join(lines[:2] + [layer.line() for layer in layers]) + "\n")
    out_bin.write_bytes(bytes(out))
