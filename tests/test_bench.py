"""A real benchmark of a small exported model in every available runtime, each in a fresh
process; sane numbers, accuracy equal to eval's, clear GPU messages, whole result files."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from edgemark.bench.report import compare, load_results, write_outputs
from edgemark.bench.run import run_bench
from edgemark.data.lists import read_list
from edgemark.evaluate import crop_list

FAST = dict(warmup=3, min_runs=20, min_seconds=0.1)


@pytest.fixture(scope="module")
def bench_results(exported, small_lists, tmp_path_factory):
    out_dir, _, _ = exported
    faces = read_list(small_lists / "testImageList.txt")
    from edgemark import load_predictor

    crop = load_predictor(out_dir / "torch-fp32").crop
    crops, mats = crop_list(faces, crop)
    test_crops = (crops, mats, np.stack([r.landmarks for r in faces.records]), "small test list")
    out = tmp_path_factory.mktemp("bench")
    results = run_bench(out_dir, "cpu", [1], [1, 4], out, test_crops=test_crops, command="test", **FAST)
    write_outputs(results, out)
    return out, results


def test_every_artifact_is_measured_with_sane_numbers(bench_results, exported):
    _, results = bench_results
    measured = {r["artifact"] for r in results["rows"]}
    assert measured == {"torch-fp32"} | set(exported[2])
    for r in results["rows"]:
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"], r
        assert r["runs"] >= 20 and r["throughput_ips"] > 0
        assert r["peak_rss_mib"] > 0 and r["rss_increase_mib"] > 0 and r["size_bytes"] > 0
        assert r["load_ms"] > 0 and r["first_inference_ms"] > 0
        assert r["pinned_cores"] is None or len(r["pinned_cores"]) == 1
    # TFLite exports have a fixed batch of 1: batch 4 is reported as not measured, with the reason
    assert any(s["artifact"].startswith("tflite") and "fixed batch" in s["reason"] for s in results["skipped"]) == \
        any(a.startswith("tflite") for a in measured)
    assert results["machine"]["cpu"] and results["versions"]["onnxruntime"]
    assert results["throttle_before"] and results["throttle_after"]


def test_edge_runtimes_do_not_load_torch(bench_results, exported):
    _, results = bench_results
    rows = {r["artifact"]: r for r in results["rows"] if r["batch"] == 1}
    # a torch-free worker is far lighter than the torch baseline
    assert rows["onnx-fp32"]["rss_increase_mib"] < rows["torch-fp32"]["rss_increase_mib"] - 50
    code = ("import sys; from edgemark.predictors.load import load_predictor; import numpy as np; "
            "p = load_predictor(sys.argv[1]); p.predict_crops(np.zeros((1, 64, 64, 3), np.uint8)); print('torch' in sys.modules)")
    for name in ("onnx-int8", "openvino-fp32"):
        done = subprocess.run([sys.executable, "-c", code, str(exported[0] / name)], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_accuracy_equals_eval(bench_results, exported):
    _, results = bench_results
    from edgemark.export.manifest import read_manifest

    for r in results["rows"]:
        manifest = read_manifest(exported[0] / r["artifact"])[1]
        assert r["nme"] == pytest.approx(manifest["accuracy"]["nme"], rel=1e-6), r["artifact"]
        assert r["nme_drop_pp"] == pytest.approx(manifest["accuracy"]["nme_drop_pp"], abs=1e-6)


def test_outputs_and_compare(bench_results):
    out, results = bench_results
    for name in ("results.json", "results.csv", "results.md", "pareto_threads1.png", "latency.png"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "results.md").read_text()
    assert "Command: `test`" in md and "onnx-int8" in md and results["machine"]["cpu"] in md
    rows = compare(load_results(out), load_results(out / "results.json"))
    assert rows and all(r["ratio"] == pytest.approx(1.0) for r in rows)
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "compare", str(out), str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and "1.00x" in done.stdout


def test_pareto_across_models(bench_results, tmp_path):
    out, results = bench_results
    # a second "model": every artifact twice as slow and 1 pp worse, so none of it is on the front
    worse = json.loads(json.dumps(results))
    for r in worse["rows"]:
        r["p50_ms"] *= 2
        r["nme"] += 0.01
    (tmp_path / "worse").mkdir()
    (tmp_path / "worse" / "results.json").write_text(json.dumps(worse))
    plot = tmp_path / "pareto" / "models.png"
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "pareto", f"small={out}", str(tmp_path / "worse" / "results.json"),
                           "--out", str(plot), "--threads", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert plot.stat().st_size > 0
    table = plot.with_suffix(".md").read_text()
    front = [line for line in table.splitlines() if line.endswith("| yes |")]
    assert front and all(line.startswith("| small |") for line in front)
    assert "| worse |" in table and "Command: `edgemark bench pareto small=" in table
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "pareto", str(out), "--out", str(plot), "--threads", "7"],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "7 thread(s)" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_gpu_without_providers_says_what_is_missing(exported, tmp_path):
    pytest.importorskip("torch")
    import onnxruntime
    import torch

    if torch.cuda.is_available() or "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a GPU runtime; the missing-provider path needs a machine without one")
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", str(exported[0]), "--device", "gpu",
                           "--out", str(tmp_path / "gpu")], capture_output=True, text=True, env={"PATH": "", "EDGEMARK_DATA": ""})
    assert done.returncode == 2
    assert "nothing could be measured on gpu" in done.stderr
    text = done.stdout.replace("\n", " ")
    assert "onnxruntime-gpu" in text and "CUDA" in text and "torch" in text
    results = json.loads((tmp_path / "gpu" / "results.json").read_text())
    assert results["rows"] == [] and {s["artifact"] for s in results["skipped"]} >= {"onnx-fp32", "torch-fp32"}


def test_interrupted_bench_leaves_no_half_written_file(exported, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "edgemark", "bench", "--model", str(exported[0]), "--out", str(out),
                             "--min-seconds", "1", "--warmup", "1", "--min-runs", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={"PATH": "", "EDGEMARK_DATA": ""})
    deadline = time.time() + 120
    while not (out / "results.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    results = json.loads((out / "results.json").read_text())  # whole JSON, not half a file
    assert 1 <= len(results["rows"]) < 10
    assert "finished" not in results  # and it says it did not finish


def test_pareto_front_treats_rounding_level_nme_differences_as_ties():
    from edgemark.bench.report import pareto_front

    rows = [{"p50_ms": 0.28, "nme": 0.034801}, {"p50_ms": 0.33, "nme": 0.034799},  # same accuracy, slower: off
            {"p50_ms": 0.22, "nme": 0.0356}, {"p50_ms": 0.45, "nme": 0.0340}, {"p50_ms": 0.50, "nme": 0.0345}]
    assert [r["p50_ms"] for r in pareto_front(rows)] == [0.22, 0.28, 0.45]
