"""A full-integer BlazeFace short range (issue 34, item 2): MediaPipe's float file
quantised to int8 by ai-edge-quantizer, calibrated on real photos, for the
``blazeface-int8`` detector.

    python -m edgemark.detect.blazeface_int8 [--data CUHK] [--out FILE]

Steps, each needed (found 2026-12-04):
1. The pinned file keeps its weights in float16 behind 74 DEQUANTIZE ops and states its
   operator codes in the old schema field only (``deprecated_builtin_code``): the
   quantizer would read every op as ADD. Rewrite it as plain float32 (weights
   dequantised once, bit-identical outputs), codes in both fields, a ``serving_default``
   signature (the quantizer calibrates through signatures).
2. Fuse each RELU into the CONV_2D or ADD before it: XNNPACK has no int8 RELU, and each
   one would split the delegate (18 partitions: the int8 model ran 3x slower than float).
3. Static int8 (weights per channel, activations per tensor, min/max over the
   calibration photos), except the 8x8 stage (the last five blocks: depthwise outputs
   there reach -474 for a few channels; int8 there cost 9 % of the IOD in keypoint
   placement) and the four output heads, which stay float32: the outputs are float and
   precise, the input is int8 (scale 2/255: lossless for uint8 pixels).

Calibration: ``faces`` photos of the CUHK training list (never the test list), seed 0,
letterboxed exactly as the detector does. Measured on the 2,027 test photos
(benchmarks/frame-speed-2026-12-04): every face found, the four keypoints against the
labels 10.029 % of the IOD (float: 10.028 %), pipeline NME 3.280 % (float: 3.280 %).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .model_files import model_path, models_dir

INT8_FILE = "face_detection_short_range_int8.tflite"
FLOAT_SOURCE = "face_detection_short_range.tflite"
# ops (by output tensor name) kept in float32: the 8x8 stage and the heads
FLOAT_SCOPES = (r"^(depthwise_conv2d_1[2-5]|conv2d_1[2-6]|activation_1[2-6]|max_pooling2d_2|channel_padding_10);",
                r"^(classificator|regressor|reshape)")


def int8_path() -> Path:
    """Where ``blazeface-int8`` looks for its file, or an error saying how to build it."""
    path = models_dir() / INT8_FILE
    if not path.is_file():
        raise EdgemarkError(f"{path}: the int8 BlazeFace is not built yet. Build it once (about 20 s, needs the CUHK training "
                            "photos and ai-edge-quantizer) with: python -m edgemark.detect.blazeface_int8")
    return path


def float32_model(source: Path):
    """The pinned float16-weight file as a plain float32 flatbuffer (object API), RELUs fused."""
    require("ai_edge_litert.tools.flatbuffer_utils", "building the int8 BlazeFace")
    from ai_edge_litert import schema_py_generated as s
    from ai_edge_litert.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model(str(source))
    g = m.subgraphs[0]
    for code in m.operatorCodes:  # the old-schema file: the real code is in the deprecated field
        code.builtinCode = max(code.builtinCode, code.deprecatedBuiltinCode)
    code_of = lambda op: m.operatorCodes[op.opcodeIndex].builtinCode  # noqa: E731
    kept = []
    for op in g.operators:
        if code_of(op) != s.BuiltinOperator.DEQUANTIZE:
            kept.append(op)
            continue
        src, dst = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
        if src.type != s.TensorType.FLOAT16 or m.buffers[src.buffer].data is None:
            raise EdgemarkError(f"{source}: a DEQUANTIZE of something other than float16 weights; not the pinned BlazeFace")
        buffer = s.BufferT()
        buffer.data = np.frombuffer(np.frombuffer(bytes(m.buffers[src.buffer].data), np.float16).astype(np.float32).tobytes(), np.uint8)
        m.buffers.append(buffer)
        dst.buffer = len(m.buffers) - 1
    g.operators = kept
    uses = {}
    for op in g.operators:
        for t in op.inputs:
            uses[t] = uses.get(t, 0) + 1
    producer = {t: op for op in g.operators for t in op.outputs}
    fused = set()
    for op in g.operators:
        p = producer.get(op.inputs[0])
        if (code_of(op) == s.BuiltinOperator.RELU and p is not None and uses.get(op.inputs[0]) == 1 and op.inputs[0] not in g.outputs
                and code_of(p) in (s.BuiltinOperator.CONV_2D, s.BuiltinOperator.DEPTHWISE_CONV_2D, s.BuiltinOperator.ADD)
                and p.builtinOptions.fusedActivationFunction == s.ActivationFunctionType.NONE):
            p.builtinOptions.fusedActivationFunction = s.ActivationFunctionType.RELU
            p.outputs[0] = op.outputs[0]
            fused.add(id(op))
    g.operators = [op for op in g.operators if id(op) not in fused]
    # drop the tensors no op uses any more (float16 weights, pre-RELU outputs): calibration reads every tensor
    used = sorted({t for op in g.operators for t in list(op.inputs) + list(op.outputs) if t >= 0} | set(g.inputs) | set(g.outputs))
    new = {old: i for i, old in enumerate(used)}
    live = {g.tensors[t].buffer for t in used}
    for t in g.tensors:
        if t.buffer > 0 and t.buffer not in live:
            m.buffers[t.buffer].data = None
    g.tensors = [g.tensors[t] for t in used]
    for op in g.operators:
        op.inputs = [new[t] if t >= 0 else t for t in op.inputs]
        op.outputs = [new[t] for t in op.outputs]
    g.inputs, g.outputs = [new[t] for t in g.inputs], [new[t] for t in g.outputs]
    signature = s.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0

    def tensor_map(index):
        t = s.TensorMapT()
        t.name, t.tensorIndex = g.tensors[index].name.decode(), index
        return t

    signature.inputs, signature.outputs = [tensor_map(i) for i in g.inputs], [tensor_map(i) for i in g.outputs]
    m.signatureDefs = [signature]
    return m


def calibration_inputs(data_dir: Path, faces: int, seed: int = 0) -> list[dict]:
    """``faces`` training photos, letterboxed and scaled as the detector feeds them."""
    from ..data.images import read_image
    from ..data.lists import read_list
    from .blazeface import letterbox

    records = read_list(Path(data_dir) / "trainImageList.txt").records
    chosen = np.random.default_rng(seed).choice(len(records), min(faces, len(records)), replace=False)
    out = []
    for i in chosen:
        view, _ = letterbox(read_image(records[i]), 128)
        out.append({"input": (cv2.cvtColor(view, cv2.COLOR_BGR2RGB).astype(np.float32) * (2.0 / 255.0) - 1.0)[None]})
    return out


def build(out: Path, data_dir: Path, faces: int = 300, seed: int = 0, source: Path | None = None) -> Path:
    """Write the int8 BlazeFace to ``out``; returns ``out``."""
    require("ai_edge_quantizer", "building the int8 BlazeFace")
    from ai_edge_litert.tools import flatbuffer_utils
    from ai_edge_quantizer import quantizer

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    float_file = out.with_name(out.stem + ".float32.tflite")
    flatbuffer_utils.write_model(float32_model(source or model_path(FLOAT_SOURCE)), str(float_file))
    try:
        recipe = json.loads((Path(quantizer.__file__).parent / "recipes" / "default_a8w8_recipe.json").read_text())
        recipe += [{"regex": r, "operation": "*", "algorithm_key": "no_quantize"} for r in FLOAT_SCOPES]
        q = quantizer.Quantizer(str(float_file))
        q.load_quantization_recipe(recipe)
        ranges = q.calibrate({"serving_default": calibration_inputs(data_dir, faces, seed)}, num_threads=1)
        # the input's whole range (-1 .. 1: black .. white), not the calibration photos' (none reaches pure white)
        ranges["input"] = {k: np.full_like(v, -1.0 if k == "min" else 1.0) for k, v in ranges["input"].items()}
        q.quantize(ranges).export_model(str(out), overwrite=True)
    finally:
        float_file.unlink(missing_ok=True)
    return out


def main(argv=None) -> int:
    from ..cli.common import resolve_data

    parser = argparse.ArgumentParser(prog="python -m edgemark.detect.blazeface_int8", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="CUHK data folder (default: $EDGEMARK_DATA)")
    parser.add_argument("--out", type=Path, default=None, help=f"default: {models_dir() / INT8_FILE}")
    parser.add_argument("--faces", type=int, default=300, help="calibration photos from the training list")
    args = parser.parse_args(argv)
    path = build(args.out or models_dir() / INT8_FILE, resolve_data(args.data), args.faces)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
