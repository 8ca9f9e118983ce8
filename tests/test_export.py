"""Export a small trained model to all nine (target, precision) pairs, run each artifact
in its real runtime, and check parity, accuracy, manifests and refusal of damaged exports."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgemark import load_predictor
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError
from edgemark.export.manifest import read_manifest
from edgemark.export.pipeline import PRECISIONS, TARGETS, export_all

from conftest import available_targets
from edgemark.optional import require

TFLITE_EXTRA = "needs the tflite extra: pip install 'edgemark[tflite]'"


def test_tflite_extra_is_installed_or_skipped_with_reason():
    pytest.importorskip("litert_torch", reason=TFLITE_EXTRA)
    assert "tflite" in available_targets()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_artifact_runs_in_its_runtime_and_matches_torch(exported, target, precision, small_lists):
    if target == "tflite":
        pytest.importorskip("litert_torch", reason=TFLITE_EXTRA)
    out, reference, results = exported
    result = results[f"{target}-{precision}"]
    folder, manifest = read_manifest(result.folder)
    assert manifest["format"] == target and manifest["precision"] == precision
    assert manifest["scheme"]["name"] == "cuhk5" and manifest["crop"]["size"] == 64
    assert manifest["source_checkpoint"]["sha256"] and manifest["versions"]["edgemark"]
    assert (manifest["calibration"] is not None) == (precision == "int8")
    if precision == "int8":
        assert manifest["calibration"]["list"] == "trainImageList.txt" and manifest["calibration"]["faces"] == 32
    # outputs against torch: fp32 tight, fp16/int8 within an NME bound
    tolerance = {"fp32": 1e-4, "fp16": 5e-3, "int8": 5e-2}[precision]
    assert result.max_abs_diff < tolerance
    drop = manifest["accuracy"]["nme_drop_pp"]
    assert abs(drop) < {"fp32": 0.01, "fp16": 0.1, "int8": 2.0}[precision]
    # the artifact loads through the one interface and predicts in image pixels
    predictor = load_predictor(folder)
    r = read_list(small_lists / "testImageList.txt").records[0]
    import cv2

    points = predictor.predict(cv2.imread(str(r.image_path)), r.box)
    assert points.shape == (5, 2)
    assert r.box[0] - 50 < points[:, 0].mean() < r.box[2] + 50


def test_int8_tflite_is_full_integer(exported):
    pytest.importorskip("litert_torch", reason=TFLITE_EXTRA)
    _, manifest = read_manifest(exported[0] / "tflite-int8")
    assert manifest["input"]["dtype"] == "int8" and manifest["input"]["quantization"]["scale"] > 0
    assert manifest["output"]["dtype"] == "int8"
    # NHWC input, as LiteRT lays tensors out: no transpose before the first convolution
    assert manifest["input"]["layout"] == "NHWC" and manifest["input"]["shape"] == [1, 64, 64, 3]
    # every op on integers: no float tensor anywhere (non-strict export had left the residual
    # adds in float, each wrapped in a dequantise and a quantise)
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(exported[0] / "tflite-int8" / "model.tflite"))
    floats = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert not floats, floats


def test_int8_onnx_has_uint8_activations_and_int8_weights(exported):
    """U8S8: onnxruntime's x86 int8 kernels take unsigned activations and signed weights (an
    S8S8 model measured slower than fp32 there; export/onnx.py)."""
    import onnx
    from onnx import TensorProto, numpy_helper

    model = onnx.load(str(exported[0] / "onnx-int8" / "model.onnx"))
    consts = {t.name: t for t in model.graph.initializer}
    zero_points = [consts[n.input[2]] for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[2] in consts]
    weights = [numpy_helper.to_array(consts[n.input[0]]) for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in consts]
    activations = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert activations and all(consts[n.input[2]].data_type == TensorProto.UINT8 for n in activations)
    assert any(w.dtype == np.int8 and w.ndim == 4 for w in weights)  # conv weights stay signed
    assert zero_points


@pytest.mark.parametrize("model", ["exported", "shipped", "shipped_drive23"])
def test_int8_onnx_weights_fit_in_7_bits(exported, model):
    """Without AVX-512 VNNI, onnxruntime's AVX2 kernel adds pairs of uint8 x int8 products in
    int16 and saturates with full 8-bit weights (the shipped model lost 0.3 pp there), so
    the weights are quantised to 7 bits (reduce_range): this export and the shipped ones."""
    import onnx
    from onnx import numpy_helper

    root = Path(__file__).resolve().parents[1] / "exported"
    folder = {"exported": exported[0], "shipped": root / "mobilenetv2_96", "shipped_drive23": root / "mobilenetv2_96_drive23"}[model]
    graph = onnx.load(str(folder / "onnx-int8" / "model.onnx")).graph
    consts = {t.name: t for t in graph.initializer}
    weights = [numpy_helper.to_array(consts[n.input[0]]) for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in consts]
    conv = [w for w in weights if w.dtype == np.int8 and w.ndim == 4]
    assert conv and all(-64 <= int(w.min()) and int(w.max()) <= 64 for w in conv)
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in conv) >= 60  # the 7-bit range is used, not a smaller one


def test_export_readme_and_eval_model_cli(exported, small_lists, tmp_path):
    from edgemark.environment import machine_line
    from edgemark.export.report import write_export_readme

    out, reference, results = exported
    readme = write_export_readme(out, "edgemark export (test)", machine_line()).read_text()
    assert "| onnx-int8 |" in readme and "| torch-fp32 |" in readme
    manifest = read_manifest(out / "onnx-int8")[1]
    done = subprocess.run([sys.executable, "-m", "edgemark", "eval", "--model", str(out / "onnx-int8"), "--list",
                           str(small_lists / "testImageList.txt"), "--out", str(tmp_path / "e")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["nme"] == pytest.approx(manifest["accuracy"]["nme"], rel=1e-6)


def test_damaged_exports_are_refused(exported, tmp_path):
    out = exported[0]
    for name in ("onnx-fp32", "openvino-int8"):
        copy = tmp_path / name
        shutil.copytree(out / name, copy)
        model_file = copy / read_manifest(copy)[1]["model_file"]
        if name.startswith("openvino"):
            model_file = model_file.with_suffix(".bin")
        data = model_file.read_bytes()
        model_file.write_bytes(data[: len(data) // 2])  # truncated
        with pytest.raises(EdgemarkError, match="does not match the SHA-256"):
            load_predictor(copy)
    edited = tmp_path / "edited"
    shutil.copytree(out / "onnx-fp16", edited)
    manifest = json.loads((edited / "manifest.json").read_text())
    manifest["files"]["model.onnx"]["sha256"] = "0" * 64
    (edited / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EdgemarkError, match="does not match"):
        load_predictor(edited)
    (edited / "manifest.json").write_text("{not json")
    with pytest.raises(EdgemarkError, match="not valid JSON"):
        load_predictor(edited)
    (edited / "manifest.json").unlink()
    with pytest.raises(EdgemarkError, match="not a complete edgemark export"):
        load_predictor(edited)


def test_interrupted_export_is_never_taken_as_valid(exported):
    out = exported[0]
    partial = out / ".onnx-fp32.partial"
    shutil.copytree(out / "onnx-fp32", partial)
    (partial / "manifest.json").unlink()  # a crash before the manifest was written
    with pytest.raises(EdgemarkError, match="not a complete edgemark export"):
        load_predictor(partial)
    from edgemark.export.report import artifact_rows

    assert ".onnx-fp32.partial" not in [r["artifact"] for r in artifact_rows(out)]
    shutil.rmtree(partial)


def test_98_point_model_exports_the_same_way(tmp_path):
    import torch

    from edgemark.checkpoint import save_checkpoint
    from edgemark.models import build_model
    from edgemark.preprocess import CropSpec
    from edgemark.recipe import ModelConfig, Recipe
    from edgemark.scheme import load_scheme

    recipe = Recipe(scheme="wflw98", input_size=64, model=ModelConfig(width=0.35, head_channels=16))
    model = build_model("mobilenetv2", 98, 64, 0.35, 16)
    with torch.no_grad():
        model.head.fc.weight.normal_(0, 0.01)  # not the constant fresh head, so parity means something
    ckpt = tmp_path / "wflw.pt"
    save_checkpoint(ckpt, {"recipe": recipe.to_dict(), "scheme": load_scheme("wflw98").to_dict(),
                           "crop": CropSpec(size=64).to_dict(), "box_rule": None, "model": model.state_dict()})
    targets = [t for t in available_targets() if t != "openvino"] + ["openvino"]
    _, results = export_all(ckpt, tmp_path / "out", targets, ["fp32"], None, None, jobs=2)
    assert [r.name for r in results] == [f"{t}-fp32" for t in targets]  # target order, whatever finished first
    crops = np.random.default_rng(1).integers(0, 256, size=(2, 64, 64, 3), dtype=np.uint8)
    expected = load_predictor(tmp_path / "out" / "torch-fp32").predict_crops(crops)
    for r in results:
        assert r.manifest["scheme"]["name"] == "wflw98" and len(r.manifest["scheme"]["names"]) == 98
        got = load_predictor(r.folder).predict_crops(crops)
        assert got.shape == (2, 98, 2)
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_conversions_in_worker_processes_make_the_same_artifacts(exported, trained_checkpoint, small_lists, tmp_path):
    """The session export ran its conversions in worker processes (the CLI's default); the
    same ONNX and NCNN artifacts made one after another in this process predict the same."""
    out, _, made_in_workers = exported
    targets = [t for t in ("onnx", "ncnn") if t in available_targets()]
    _, results = export_all(trained_checkpoint, tmp_path / "serial", targets, ["fp32", "int8"], None,
                            read_list(small_lists / "trainImageList.txt"), calib_size=32, jobs=1)
    for r in results:
        in_workers = made_in_workers[r.name]
        assert r.manifest["calibration"] == in_workers.manifest["calibration"]
        size = r.manifest["crop"]["size"]
        crops = np.random.default_rng(2).integers(0, 256, size=(4, size, size, 3), dtype=np.uint8)
        np.testing.assert_allclose(load_predictor(r.folder).predict_crops(crops),
                                   load_predictor(in_workers.folder).predict_crops(crops), atol=1e-6)
    assert not list(out.glob(".*.partial"))  # every worker's partial folder was published


def test_int8_without_data_and_missing_extra_are_clear(trained_checkpoint, tmp_path):
    with pytest.raises(EdgemarkError, match="int8 export needs calibration crops"):
        export_all(trained_checkpoint, tmp_path / "x", ["onnx"], ["int8"], None, None)
    with pytest.raises(EdgemarkError, match=r"pip install 'edgemark\[tflite\]'"):
        require("litert_torch.not_a_module", "TFLite export")
    # the CLI with litert-torch made unimportable names the extra
    code = ("import sys; sys.modules['litert_torch'] = None; sys.argv = ['edgemark', 'export', '--checkpoint', %r, "
            "'--target', 'tflite', '--precision', 'fp32', '--out', %r]; from edgemark.cli import main; main()") % (
        str(trained_checkpoint), str(tmp_path / "y"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={"EDGEMARK_DATA": "", "PATH": ""})
    assert done.returncode == 2 and "pip install 'edgemark[tflite]'" in done.stderr, done.stderr


def test_one_export_folder_holds_one_checkpoint(exported, trained_checkpoint, tmp_path):
    """Re-exporting another checkpoint into a folder would mix two models in one table
    (drops, 'fastest at equal accuracy'): refused, or the old artifacts removed with --replace."""
    import torch

    from edgemark.checkpoint import load_checkpoint, save_checkpoint
    from edgemark.export.report import write_export_readme

    out = tmp_path / "mixed"
    shutil.copytree(exported[0], out)
    state = load_checkpoint(trained_checkpoint)
    with torch.no_grad():
        state["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["model"].items()}
    other = tmp_path / "other.pt"
    save_checkpoint(other, state)
    with pytest.raises(EdgemarkError, match="another checkpoint"):
        export_all(other, out, ["onnx"], ["fp32"], None, None)
    assert read_manifest(out / "onnx-int8")[1]["source_checkpoint"]["sha256"] == read_manifest(out / "onnx-fp32")[1]["source_checkpoint"]["sha256"]
    # a folder mixed by hand is named as such by the table writer
    mixed = tmp_path / "by_hand"
    mixed.mkdir()
    shutil.copytree(exported[0] / "onnx-fp32", mixed / "onnx-fp32")
    export_all(other, tmp_path / "other_out", ["onnx"], ["fp32"], None, None)
    shutil.copytree(tmp_path / "other_out" / "onnx-fp32", mixed / "onnx-fp16")
    with pytest.raises(EdgemarkError, match="different checkpoints"):
        write_export_readme(mixed, "cmd", "env")
    # --replace: the other checkpoint's artifacts go, the new ones stay alone
    done = subprocess.run([sys.executable, "-m", "edgemark", "export", "--checkpoint", other, "--target", "onnx", "--precision",
                           "fp32", "--out", out, "--replace"], capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "EDGEMARK_DATA": ""})
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir() if (p / "manifest.json").exists()) == ["onnx-fp32", "torch-fp32"]


def test_export_files_are_readable_by_others(exported, tmp_path):
    """Atomic writes go through mkstemp (mode 0600): the files of an export must get the
    usual mode, so that a service or another account can read manifest.json and model.pt."""
    import os
    import stat

    from edgemark.io import write_json_atomic

    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    finally:
        os.umask(old)
    for name in ("manifest.json", "model.pt"):
        mode = stat.S_IMODE((exported[0] / "torch-fp32" / name).stat().st_mode)
        assert mode & 0o044 == 0o044, (name, oct(mode))


def test_export_as_typed_uses_the_shipped_model_and_a_new_folder(tmp_path):
    """`edgemark export --target tflite` as the project introduces it (only --precision and
    --out added, to keep it short and out of the repository): the shipped model, said so."""
    import os
    from pathlib import Path

    pytest.importorskip("litert_torch", reason=TFLITE_EXTRA)
    root = Path(__file__).resolve().parents[1]
    shipped = sorted(p.stat().st_mtime_ns for p in (root / "exported").rglob("*"))
    env = {k: v for k, v in os.environ.items() if k != "EDGEMARK_DATA"}
    done = subprocess.run([sys.executable, "-m", "edgemark", "export", "--target", "tflite", "--precision", "fp32",
                           "--out", tmp_path / "e"], capture_output=True, text=True, timeout=900, cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    assert "exported/mobilenetv2_96/torch-fp32/model.pt" in done.stdout.replace("\n", "")
    assert (tmp_path / "e" / "tflite-fp32" / "manifest.json").exists()
    assert sorted(p.stat().st_mtime_ns for p in (root / "exported").rglob("*")) == shipped  # the shipped folder untouched
    # without --out the default is a new folder under runs/, never exported/
    from edgemark.cli.export import default_out

    assert default_out(root / "exported/mobilenetv2_96/torch-fp32/model.pt") == Path("runs/export/mobilenetv2_96")
    assert default_out(Path("runs/mnv2/best.pt")) == Path("runs/export/mnv2")


def test_bench_refuses_a_folder_of_two_checkpoints(exported, tmp_path):
    from edgemark.bench.run import find_artifacts

    mixed = tmp_path / "mixed"
    shutil.copytree(exported[0], mixed)
    manifest = json.loads((mixed / "onnx-fp16" / "manifest.json").read_text())
    manifest["source_checkpoint"]["sha256"] = "0" * 64
    (mixed / "onnx-fp16" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EdgemarkError, match="different checkpoints"):
        find_artifacts(mixed, None, None)
    assert find_artifacts(exported[0], None, None)
