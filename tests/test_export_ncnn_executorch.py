"""NCNN (pnnx -> ncnn) and ExecuTorch (torch.export -> XNNPACK .pte) exports of a small
trained model: the real converters and runtimes, parity with torch, manifests, int8 really
stored as int8, a half-written export refused, the bundle's torch rule, and the message
that names the extra when a converter is missing."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgemark import load_predictor
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError
from edgemark.export.manifest import read_manifest
from edgemark.export.pipeline import PRECISIONS

NCNN_EXTRA = "needs the ncnn extra: pip install 'edgemark[ncnn]'"
EXECUTORCH_EXTRA = "needs the executorch extra: pip install 'edgemark[executorch]'"
TOLERANCE = {"fp32": 1e-4, "fp16": 5e-3, "int8": 5e-2}  # crop-normalised, as tests/test_export.py
MAX_DROP = {"fp32": 0.01, "fp16": 0.1, "int8": 2.0}  # pp NME on the 60 test faces of a 2-epoch model


def _targets():
    targets = []
    for target, modules in (("ncnn", ("pnnx", "ncnn")), ("executorch", ("executorch",))):
        try:
            for module in modules:
                __import__(module)
            targets.append(target)
        except ImportError:
            pass
    return targets


@pytest.fixture(scope="module")
def exported_new(exported):
    """The ncnn and ExecuTorch artifacts of the session's export (conftest.exported: every
    available target, the same checkpoint and lists): exporting them again cost the CI 137 s."""
    targets = _targets()
    if not targets:
        pytest.skip(f"{NCNN_EXTRA}; {EXECUTORCH_EXTRA}")
    out, reference, results = exported
    return out, reference, {name: r for name, r in results.items() if name.split("-")[0] in targets}


def test_both_extras_are_installed_or_skipped_with_reason():
    pytest.importorskip("pnnx", reason=NCNN_EXTRA)
    pytest.importorskip("ncnn", reason=NCNN_EXTRA)
    pytest.importorskip("executorch", reason=EXECUTORCH_EXTRA)
    assert _targets() == ["ncnn", "executorch"]


@pytest.mark.parametrize("target", ["ncnn", "executorch"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_artifact_runs_in_its_runtime_and_matches_torch(exported_new, target, precision, small_lists):
    out, reference, results = exported_new
    if f"{target}-{precision}" not in results:
        pytest.skip(NCNN_EXTRA if target == "ncnn" else EXECUTORCH_EXTRA)
    result = results[f"{target}-{precision}"]
    folder, manifest = read_manifest(result.folder)  # hashes checked
    assert manifest["format"] == target and manifest["precision"] == precision and manifest["name"] == f"{target}-{precision}"
    assert manifest["input"]["shape"] == [1, 3, 64, 64] and manifest["crop"]["size"] == 64
    assert (manifest["calibration"] is not None) == (precision == "int8")
    expected_files = {"ncnn": {"model.ncnn.param", "model.ncnn.bin"}, "executorch": {"model.pte"}}[target]
    assert set(manifest["files"]) == expected_files  # no converter leftovers (pnnx writes five more files)
    assert manifest["versions"]["torch"].startswith("2.13.0")
    assert manifest["versions"]["ncnn" if target == "ncnn" else "executorch"]
    # the check after export ran in the real runtime; redo it here against torch
    assert result.max_abs_diff < TOLERANCE[precision]
    assert abs(manifest["accuracy"]["nme_drop_pp"]) < MAX_DROP[precision]
    crops = np.random.default_rng(3).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    torch_out = load_predictor(out / "torch-fp32").predict_crops(crops)
    mine = load_predictor(folder, threads=1)
    got = mine.predict_crops(crops)
    assert got.shape == (3, 5, 2) and got.dtype == np.float32
    assert np.abs(got - torch_out).max() < max(TOLERANCE[precision], 2 * result.max_abs_diff)
    if precision != "fp32":  # not silently the fp32 model
        fp32 = load_predictor(out / f"{target}-fp32").predict_crops(crops)
        assert np.abs(got - fp32).max() > 0


def test_ncnn_int8_is_stored_as_int8_and_fp32_runs_in_fp32(exported_new):
    pytest.importorskip("ncnn", reason=NCNN_EXTRA)
    from edgemark.export.ncnn import QUANTISED, TAG_INT8, read_param

    out = exported_new[0]
    layers = read_param(out / "ncnn-int8" / "model.ncnn.param")
    quantised = [layer for layer in layers if layer.type in QUANTISED]
    assert quantised and all(layer.params.get("8") in ("1", "2") for layer in quantised)
    data = (out / "ncnn-int8" / "model.ncnn.bin").read_bytes()
    assert int.from_bytes(data[:4], "little") == TAG_INT8
    sizes = {p: (out / f"ncnn-{p}" / "model.ncnn.bin").stat().st_size for p in PRECISIONS}
    assert sizes["int8"] < 0.4 * sizes["fp32"] and sizes["fp16"] < 0.6 * sizes["fp32"]
    _, manifest = read_manifest(out / "ncnn-fp32")
    assert manifest["runtime_options"]["use_fp16_storage"] is False and manifest["runtime_options"]["use_bf16_storage"] is False


def test_executorch_programs_are_delegated_to_xnnpack(exported_new):
    pytest.importorskip("executorch", reason=EXECUTORCH_EXTRA)
    out = exported_new[0]
    for precision in PRECISIONS:
        _, manifest = read_manifest(out / f"executorch-{precision}")
        assert manifest["backend"]["delegate"] == "XnnpackBackend" and manifest["backend"]["delegated_calls"] >= 1
    assert read_manifest(out / "executorch-fp16")[1]["input"]["dtype"] == "float16"
    sizes = {p: (out / f"executorch-{p}" / "model.pte").stat().st_size for p in PRECISIONS}
    assert sizes["int8"] < 0.5 * sizes["fp32"]


def test_damaged_or_half_written_exports_are_refused(exported_new, tmp_path):
    out = exported_new[0]
    for name, file in (("ncnn-int8", "model.ncnn.bin"), ("executorch-fp32", "model.pte")):
        if not (out / name).exists():
            continue
        copy = tmp_path / name
        shutil.copytree(out / name, copy)
        data = (copy / file).read_bytes()
        (copy / file).write_bytes(data[: len(data) // 2])
        with pytest.raises(EdgemarkError, match="does not match the SHA-256"):
            load_predictor(copy)
        partial = tmp_path / f".{name}.partial"
        shutil.copytree(out / name, partial)
        (partial / "manifest.json").unlink()  # the crash before the manifest
        with pytest.raises(EdgemarkError, match="not a complete edgemark export"):
            load_predictor(partial)


def test_export_into_the_shipped_folder_keeps_one_source(exported_new, tmp_path):
    """Exporting from an export folder's torch-fp32/model.pt (the slim copy that ships) counts
    as the checkpoint its manifest names: the new artifacts sit beside the old ones."""
    from edgemark.export.pipeline import source_checkpoint

    out = exported_new[0]
    origin = read_manifest(out / "torch-fp32")[1]["source_checkpoint"]
    source = source_checkpoint(out / "torch-fp32" / "model.pt")
    assert source["sha256"] == origin["sha256"] and source["exported_from"]["file"] == "torch-fp32/model.pt"
    for name in ("ncnn-fp32", "executorch-fp32"):
        if (out / name).exists():
            assert read_manifest(out / name)[1]["source_checkpoint"]["sha256"] == origin["sha256"]


def test_bundle_is_torch_free_with_ncnn_and_executorch_is_opt_in(exported_new, tmp_path):
    from edgemark.bench.run import find_artifacts
    from edgemark.remote.bundle import build_bundle, device_artifacts, requirements

    out = exported_new[0]
    artifacts = find_artifacts(out, None, None)
    chosen, left = device_artifacts(artifacts, "all")
    assert "torch-fp32" not in [a.name for a in chosen]
    assert {a.name.split("-")[0] for a in left} <= {"executorch"}
    assert not any(a.name.startswith("executorch") for a in chosen)
    chosen, left = device_artifacts(artifacts, "ncnn,executorch")
    assert not left
    assert requirements(["ncnn"])[-1] == "ncnn" and not any("torch" in r for r in requirements(["ncnn"]))
    assert "executorch" in requirements(["executorch"])
    if (out / "ncnn-int8").exists():
        info = build_bundle([out / "ncnn-int8"], tmp_path / "b")
        assert info["brings_torch"] == [] and "ncnn" in info["requirements"]
        assert (tmp_path / "b" / "runner" / "edgemark" / "predictors" / "ncnn_predictor.py").is_file()
        # the runner loads it without torch
        code = ("import sys; sys.modules['torch'] = None; from edgemark.predictors.load import load_predictor; import numpy as np; "
                f"p = load_predictor({str(tmp_path / 'b' / 'artifacts' / 'ncnn-int8')!r}, threads=1); "
                "print(p.predict_crops(np.zeros((1, 64, 64, 3), np.uint8)).shape)")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(tmp_path / "b" / "runner"), "PATH": ""})
        assert done.returncode == 0 and "(1, 5, 2)" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("target,module,extra", [("ncnn", "pnnx", "ncnn"), ("executorch", "executorch", "executorch")])
def test_missing_extra_names_it(trained_checkpoint, tmp_path, target, module, extra):
    code = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['edgemark', 'export', '--checkpoint', %r, "
            f"'--target', {target!r}, '--precision', 'fp32', '--out', %r]; from edgemark.cli import main; main()") % (
        str(trained_checkpoint), str(tmp_path / "y"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env={"EDGEMARK_DATA": "", "PATH": ""})
    assert done.returncode == 2 and f"pip install 'edgemark[{extra}]'" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "y" / f"{target}-fp32").exists()


def test_bench_rows_for_both_runtimes(exported_new, small_lists, tmp_path):
    from edgemark.bench.report import markdown, write_outputs
    from edgemark.bench.run import run_bench
    from edgemark.evaluate import crop_list

    out = exported_new[0]
    faces = read_list(small_lists / "testImageList.txt")
    faces.records = faces.records[:20]
    crops, mats = crop_list(faces, load_predictor(out / "torch-fp32").crop)
    truth = np.stack([r.landmarks for r in faces.records])
    results = run_bench(out, "cpu", [1], [1], tmp_path / "b", ["ncnn", "executorch"], ["int8"], (crops, mats, truth, "20 faces"),
                        warmup=2, min_runs=10, min_seconds=0.05)
    rows = {r["artifact"]: r for r in results["rows"]}
    assert "torch-fp32" in rows
    for name in ("ncnn-int8", "executorch-int8"):
        if (out / name).exists():
            row = rows[name]
            assert row["p50_ms"] > 0 and row["pinned_cores"] and row["nme"] is not None and row["nme_drop_pp"] is not None
            assert name.split("-")[0] in row["provider"].lower()
    assert not results["skipped"]
    write_outputs(results, tmp_path / "b")
    assert (tmp_path / "b" / "pareto_threads1.png").is_file()
    text = markdown(results)
    for name in rows:
        assert f"| {name} |" in text
