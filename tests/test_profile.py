"""edgemark profile: the shipped artifacts through each runtime's own profiler (ONNX Runtime
session profiling, OpenVINO performance counters, LiteRT's CompiledModel profiler, ExecuTorch's
ETDump); operators mapped to the model's layers so fp32 and int8, ONNX Runtime and OpenVINO, line
up row by row; XNNPACK's operators (LiteRT, ExecuTorch) by kind."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.errors import EdgemarkError
from edgemark.profile.layers import (RUNTIME_LAYER, layer_of, module_from_litert_name, module_from_onnx_name,
                                     module_from_openvino_name)
from edgemark.profile.litert import parse_summary
from edgemark.profile.run import profile_artifact, profile_detector

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "exported" / "mobilenetv2_96"
CONV_KINDS = {"conv", "depthwise", "pointwise"}


def edgemark(*args, cwd=ROOT):
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def test_names_map_to_the_models_layers():
    # torch.onnx repeats the parent's name in each scope; a conv, its batch norm and its activation are one layer
    assert module_from_onnx_name("/features/features.1/block/block.0/block.0.0/Conv_token_4")[0] == "features.1.block.0.0"
    assert layer_of(*module_from_onnx_name("/features/features.1/block/block.0/block.0.2/Clip")) == "features.1.block.0"
    assert layer_of(*module_from_onnx_name("/features/features.2/Add")) == "features.2"  # a residual addition is its block's
    assert layer_of(*module_from_onnx_name("/head/fc/Gemm")) == "head.fc"
    assert layer_of(*module_from_openvino_name("__module.features.1.block.0.1/aten::batch_norm/BatchNormInference")) == \
        "features.1.block.0"
    assert layer_of(*module_from_onnx_name("ReorderOutput")) == RUNTIME_LAYER
    # litert_torch: a Class_attribute segment per module, under the export's NHWC wrapper
    root = "edgemark.export.tflite.ChannelsLastInput/edgemark.models.mobilenetv2.MobileNetV2_model/"
    conv = root + ("torch.nn.modules.container.Sequential_features/edgemark.models.mobilenetv2.InvertedResidual_1/"
                   "torch.nn.modules.container.Sequential_block/torch.nn.modules.container.Sequential_0/torch.nn.modules.conv.Conv2d_0;2")
    assert module_from_litert_name(conv)[0] == "features.1.block.0.0" and layer_of(module_from_litert_name(conv)[0], "CONV_2D") == \
        "features.1.block.0"
    assert module_from_litert_name(root + "edgemark.models.head.LandmarkHead_head/torch.nn.modules.linear.Linear_fc;1")[0] == "head.fc"
    assert module_from_litert_name("serving_default_output_0_output")[0] is None


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile")
    names = ["onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-int8", "tflite-int8", "ncnn-int8"]
    done = edgemark("profile", *(SHIPPED / n for n in names), "--runs", "10", "--warmup", "2", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads((out / "profile.json").read_text()), (out / "profile.md").read_text()


def test_onnxruntime_and_openvino_fp32_and_int8_line_up_layer_by_layer(profiled):
    stdout, data, md = profiled
    profiles = {p["artifact"]: p for p in data["profiles"]}
    measured = ["onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-int8"]
    conv_layers = {}
    for name in measured:
        p = profiles[name]
        assert p["ops"] and p["total_ms"] > 0 and p["run_ms"] > 0, name
        assert sum(op["share"] for op in p["ops"]) == pytest.approx(1.0)
        assert sum(k["share"] for k in p["kinds"]) == pytest.approx(1.0)
        # every convolution found its layer: none is left to the runtime's own operators
        assert not [op for op in p["ops"] if op["kind"] in CONV_KINDS and op["layer"] == RUNTIME_LAYER], name
        conv_layers[name] = {r["layer"]: r["kind"] for r in p["layers"] if r["kind"] in CONV_KINDS}
    # MobileNetV2: the stem, 17 depthwise, 17 projections, 16 expansions and the head's 1x1 reduction: 52 conv layers, the
    # same layers with the same kind in both runtimes and both precisions
    first = conv_layers["onnx-fp32"]
    assert len(first) == 52 and sum(k == "depthwise" for k in first.values()) == 17
    assert all(conv_layers[name] == first for name in measured)
    assert first["features.1.block.0"] == "depthwise" and first["features.2.block.0"] == "pointwise" and first["features.0"] == "conv"
    # the tables: per kind and per layer, fp32 beside int8
    assert "per kind of layer" in stdout and "per layer" in stdout and "features.17.block.1" in stdout
    assert "| depthwise |" in md and "| features.1.block.0 | depthwise |" in md
    assert "not profiled" in stdout and "ncnn-int8" in stdout
    assert profiles["ncnn-int8"]["unsupported"].startswith("ncnn's Python wheel has no per-layer timer")
    assert "## Not profiled" in md and data["machine"]["cpu"]


def test_litert_profiler_gives_the_tflite_files_xnnpack_operators(profiled):
    _, data, _ = profiled
    profiles = {p["artifact"]: p for p in data["profiles"]}
    p = profiles["tflite-int8"]
    assert p["runtime"].startswith("LiteRT ") and p["run_ms"] > 0 and p["profiled_run_ms"] > 0
    kinds = [op["kind"] for op in p["ops"]]
    # MobileNetV2 x0.5 under XNNPACK: the stem, 17 depthwise and 34 1x1 convolutions (run as GEMMs), the head's linear
    # layer, 10 residual additions; every operator in the delegate, with int8 kernels (QC8) for the convolutions
    assert kinds.count("conv") == 1 and kinds.count("depthwise") == 17 and kinds.count("pointwise") == 34
    assert kinds.count("fc") == 1 and kinds.count("add") == 10
    assert all(op["where"] == "XNNPACK" for op in p["ops"])
    assert all("QC8" in op["op"] for op in p["ops"] if op["kind"] in ("conv", "depthwise"))
    # each XNNPACK operator found its layer through the TFLite operator it runs: the same 52 convolution layers, with the
    # same kinds, as ONNX Runtime's profile
    conv_layers = {r["layer"]: r["kind"] for r in p["layers"] if r["kind"] in CONV_KINDS}
    assert conv_layers == {r["layer"]: r["kind"] for r in profiles["onnx-int8"]["layers"] if r["kind"] in CONV_KINDS}
    assert p["total_ms"] > 0 and sum(op["share"] for op in p["ops"]) == pytest.approx(1.0)
    conv_time = sum(k["ms"] for k in p["kinds"] if k["kind"] in ("conv", "depthwise", "pointwise/fc"))
    assert conv_time > 0.5 * p["total_ms"]  # the time is in the convolutions, not in layout changes


def test_a_detector_network_is_profiled_at_the_side_it_runs(tmp_path):
    done = edgemark("profile", "--detector", "blazeface-96", "--detector", "blazeface", "--runs", "5", "--warmup", "1",
                    "--out", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    profiles = json.loads((tmp_path / "profile.json").read_text())["profiles"]
    assert [p["artifact"] for p in profiles] == ["detector blazeface-96", "detector blazeface"]
    small, full = profiles
    assert small["input_side"] == 96 and full["input_side"] == 128  # the 128 px file resized to 96; the other as it is
    assert len(small["ops"]) == len(full["ops"]) and small["kinds"][0]["ms"] > 0
    assert small["layers"] is None  # MediaPipe's tensor names carry no module path: kinds only
    # the same operators on 96x96 instead of 128x128 pixels: about (96/128)^2 of the convolutions' work
    assert small["total_ms"] < 0.85 * full["total_ms"]
    assert "INFO:" not in done.stderr  # LiteRT's own log lines are caught
    with pytest.raises(EdgemarkError, match="blazeface-fast runs blazeface-int8-96"):
        profile_detector("blazeface-fast")
    done = edgemark("profile")
    assert done.returncode == 2 and "name an artifact to profile" in done.stderr


def test_a_bare_tflite_file_is_profiled_as_benchmark_model_would(tmp_path):
    # anyone's .tflite (a peer's model), no manifest: at its own input shape
    done = edgemark("profile", SHIPPED / "tflite-int8" / "model.tflite", "--runs", "3", "--warmup", "1", "--out", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    p = json.loads((tmp_path / "profile.json").read_text())["profiles"][0]
    assert p["artifact"] == "model.tflite" and p["input_side"] == 96 and len(p["ops"]) == 66
    assert "model.tflite (tflite)" in (tmp_path / "profile.md").read_text()


def test_a_file_that_is_not_tflite_is_a_named_error(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"not a flatbuffer")
    done = edgemark("profile", bad)
    assert done.returncode == 2 and f"{bad}: not a TFLite model" in done.stderr, done.stderr


def test_a_summary_without_an_operator_table_is_a_named_error():
    with pytest.raises(EdgemarkError, match="model.tflite: LiteRT's profile summary has no operator table"):
        parse_summary("Timings (microseconds): count=0\n", "model.tflite")


def test_executorch_event_tracer_gives_xnnpack_operators_by_kind():
    p = profile_artifact(SHIPPED / "executorch-int8", runs=5, warmup=1)
    assert p["layers"] is None  # XNNPACK names its operators by kernel, not by the model's layer
    kinds = {k["kind"]: k for k in p["kinds"]}
    assert sum(op["kind"] == "depthwise" for op in p["ops"]) == 17  # one DWConv per inverted residual block
    assert kinds["depthwise"]["ms"] > 0 and sum(k["share"] for k in p["kinds"]) == pytest.approx(1.0)


def test_bad_input_is_a_named_error(tmp_path):
    with pytest.raises(EdgemarkError, match=str(tmp_path)):
        profile_artifact(tmp_path)
    done = edgemark("profile", SHIPPED / "ncnn-int8", SHIPPED / "torch-fp32")
    assert done.returncode == 2 and "no artifact could be profiled" in done.stderr and "ncnn" in done.stderr, done.stderr
    done = edgemark("profile", SHIPPED / "onnx-int8", "--by", "block")
    assert done.returncode == 2 and "--by must be kind, layer or op" in done.stderr
    with pytest.raises(EdgemarkError, match="--runs must be >= 1"):
        profile_artifact(SHIPPED / "onnx-int8", runs=0)


def test_by_op_lists_every_operator_with_its_layer_and_kernel(tmp_path):
    done = edgemark("profile", SHIPPED / "openvino-int8", "--runs", "5", "--warmup", "1", "--by", "op", "--out", tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "profile.json").read_text())["profiles"][0]
    assert "every operator" in done.stdout
    dw = [op for op in data["ops"] if op["kind"] == "depthwise"]
    assert len(dw) == 17 and all("_dw" in op["where"] for op in dw)  # OpenVINO's depthwise kernels (brgconv_..._dw_I8)
    assert all(op["layer"] in done.stdout for op in dw)
