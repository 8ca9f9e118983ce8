"""A real benchmark of a small exported model in every available runtime, each in a fresh
process; sane numbers, accuracy equal to eval's, clear GPU messages, whole result files."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def test_interrupted_bench_leaves_no_half_written_file(exported, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    (tmp_path / "tmp").mkdir()  # SIGKILL cannot be caught: the run's scratch folder stays here, not in /tmp
    proc = subprocess.Popen([sys.executable, "-m", "edgemark", "bench", "--model", str(exported[0]), "--out", str(out),
                             "--min-seconds", "1", "--warmup", "1", "--min-runs", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"PATH": "", "EDGEMARK_DATA": "", "TMPDIR": str(tmp_path / "tmp")})
    deadline = time.time() + 120
    while not (out / "results.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    results = json.loads((out / "results.json").read_text())  # whole JSON, not half a file
    assert 1 <= len(results["rows"]) < 10
    assert "finished" not in results  # and it says it did not finish
    # its scratch folder is named with its process id; the next run removes it, its process being gone
    (left,) = (tmp_path / "tmp").glob("edgemark-bench-*")
    assert left.name.startswith(f"edgemark-bench-{proc.pid}-")
    from edgemark.bench.run import temp_dir

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    with temp_dir() as mine:
        assert not left.exists() and Path(mine).exists()


def test_pareto_front_treats_rounding_level_nme_differences_as_ties():
    from edgemark.bench.report import pareto_front

    rows = [{"p50_ms": 0.28, "nme": 0.034801}, {"p50_ms": 0.33, "nme": 0.034799},  # same accuracy, slower: off
            {"p50_ms": 0.22, "nme": 0.0356}, {"p50_ms": 0.45, "nme": 0.0340}, {"p50_ms": 0.50, "nme": 0.0345}]
    assert [r["p50_ms"] for r in pareto_front(rows)] == [0.22, 0.28, 0.45]


# --- issue 17: hardening -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--warmup", "1", "--min-runs", "5", "--min-seconds", "0.05", "--detector", "none"]


def edgemark(*args, cwd=None, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "EDGEMARK_DATA": "", **(env or {})}, timeout=timeout)


def test_worker_feeds_the_whole_batch_when_fewer_test_crops_than_the_batch(tmp_path, monkeypatch):
    """--batch 16 --accuracy-faces 4: every timed call gets 16 crops (the 4 repeated), as
    the per-image latency divides by 16."""
    from types import SimpleNamespace

    import edgemark.predictors.load as load
    from edgemark.bench import worker

    seen = []

    class Fake:
        crop = SimpleNamespace(size=8)
        description = "fake"

        def predict_crops(self, crops):
            seen.append(len(crops))
            return np.zeros((len(crops), 5, 2), np.float32)

    monkeypatch.setattr(load, "load_predictor", lambda *a, **k: Fake())
    real = np.arange(4 * 8 * 8 * 3, dtype=np.uint8).reshape(4, 8, 8, 3)
    np.save(tmp_path / "crops.npy", real)
    spec = {"artifact": "fake", "threads": 1, "batch": 16, "device": "cpu", "pin": False, "warmup": 1, "min_runs": 3,
            "min_seconds": 0, "result": str(tmp_path / "r.json"), "crops": str(tmp_path / "crops.npy")}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    assert worker.main(str(tmp_path / "s.json")) == 0
    assert seen and set(seen) == {16}
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["batch"] == 16 and result["distinct_crops"] == 4


def test_default_folder_is_a_new_one_for_each_run(exported, tmp_path):
    """Two runs the same day without --out: two folders, the first left as it was, and the
    output says which folder."""
    args = ["bench", "--model", exported[0], "--target", "onnx", "--precision", "int8", *QUICK]
    first = edgemark(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    (folder,) = (tmp_path / "benchmarks").iterdir()
    assert f"results folder: {folder.relative_to(tmp_path)}" in first.stdout.replace("\n", " ")
    before = (folder / "results.json").read_text()
    second = edgemark(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    folders = sorted((tmp_path / "benchmarks").iterdir())
    assert [f.name for f in folders] == [folder.name, folder.name + "-2"]
    assert (folder / "results.json").read_text() == before
    assert f"results folder: {folders[1].relative_to(tmp_path)}" in second.stdout.replace("\n", " ")


def test_fresh_dir_never_reuses_a_folder(tmp_path):
    from edgemark.bench.run import fresh_dir

    base = tmp_path / "benchmarks" / "host-cpu-2026-11-25"
    made = [fresh_dir(base) for _ in range(3)]
    assert [p.name for p in made] == [base.name, base.name + "-2", base.name + "-3"]
    assert all(p.is_dir() for p in made)


def test_report_leaves_no_stale_plot(bench_results, tmp_path):
    """A plot of an earlier run (threads 4, here) does not stay beside new results."""
    out, results = bench_results
    folder = tmp_path / "again"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results))
    (folder / "pareto_threads4.png").write_bytes(b"old")
    done = edgemark("bench", "report", folder)
    assert done.returncode == 0, done.stderr
    assert not (folder / "pareto_threads4.png").exists() and (folder / "pareto_threads1.png").exists()


def test_outputs_written_from_several_threads_at_once(bench_results, tmp_path):
    """A fleet writes each device's results.md and plots from its own thread; matplotlib's
    mathtext parser (the log axes' labels) is not thread-safe: this failed in CI before the
    figures were drawn under one lock."""
    import threading

    _, results = bench_results
    errors = []

    def write(i):
        for k in range(4):
            folder = tmp_path / f"device{i}-{k}"
            folder.mkdir()
            try:
                write_outputs(results, folder, source=folder / "results.json")
            except Exception as e:  # noqa: BLE001 - collected and shown below
                errors.append(f"{type(e).__name__}: {e}")

    workers = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    for folder in tmp_path.iterdir():
        assert (folder / "pareto_threads1.png").stat().st_size > 1000 and (folder / "latency.png").stat().st_size > 1000
        assert "| artifact |" in (folder / "results.md").read_text()


def _bad_copy(results, tmp_path, name, change):
    bad = json.loads(json.dumps(results))
    change(bad)
    folder = tmp_path / name / "run"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(bad))
    return folder


@pytest.mark.parametrize("change", [
    lambda r: r["rows"][0].update(threads="../../../evil"),
    lambda r: r["rows"][0].update(threads=0),
    lambda r: r["rows"][0].update(threads=True),
    lambda r: r["rows"][0].update(batch="2"),
    lambda r: r["rows"][0].update(artifact="../evil"),
    lambda r: r["rows"][0].update(artifact="a/b"),
    lambda r: r["rows"][0].pop("p50_ms"),
    lambda r: r["rows"][0].update(p50_ms=0),
    lambda r: r["rows"][0].update(nme=float("nan")),
    lambda r: r.update(rows={}),
    lambda r: r.pop("machine"),
], ids=["threads-dotdot", "threads-0", "threads-bool", "batch-str", "artifact-dotdot", "artifact-slash", "no-p50", "p50-0",
        "nme-nan", "rows-dict", "no-machine"])
def test_bad_values_in_results_json_are_named_errors(bench_results, tmp_path, change):
    """Values read back from a (device's) results.json are checked before they make a file
    name or a figure: an error naming the file, nothing written outside the folder."""
    _, results = bench_results
    folder = _bad_copy(results, tmp_path, "bad", change)
    done = edgemark("bench", "report", folder)
    assert done.returncode == 2, done.stdout + done.stderr
    assert str(folder / "results.json") in done.stderr.replace("\n", "") and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["results.json"]
    from edgemark.bench.report import load_results
    from edgemark.errors import EdgemarkError

    with pytest.raises(EdgemarkError, match="results.json"):
        load_results(folder)


def test_committed_results_still_load():
    from edgemark.bench.report import load_results

    found = sorted((ROOT / "benchmarks").glob("*/results.json"))
    for path in found:
        assert load_results(path)["rows"], path


def test_pareto_refuses_results_of_different_machines_or_test_subsets(bench_results, tmp_path):
    out, results = bench_results
    plot = tmp_path / "p" / "models.png"
    other = _bad_copy(results, tmp_path, "pi", lambda r: r["machine"].update(cpu="Cortex-A76", machine="aarch64", host="pi5"))
    done = edgemark("bench", "pareto", f"a={out}", f"b={other}", "--out", plot)
    assert done.returncode == 2, done.stdout + done.stderr
    text = done.stderr.replace("\n", " ")
    assert "different machines" in text and "Cortex-A76" in text and results["machine"]["cpu"] in text and not plot.exists()
    subset = _bad_copy(results, tmp_path, "sub", lambda r: r.update(accuracy_list="testImageList.txt (200 faces)"))
    done = edgemark("bench", "pareto", f"a={out}", f"b={subset}", "--out", plot)
    assert done.returncode == 2, done.stdout + done.stderr
    text = done.stderr.replace("\n", " ")
    assert "different test faces" in text and "testImageList.txt (200 faces)" in text and "small test list" in text
    assert not plot.exists()
    done = edgemark("bench", "pareto", f"a={out}", f"b={out}", "--out", plot)  # same machine and faces: one front
    assert done.returncode == 0, done.stderr
    assert "NME on small test list" in plot.with_suffix(".md").read_text()


def test_report_and_compare_say_a_result_is_incomplete(bench_results, tmp_path):
    out, results = bench_results
    killed = _bad_copy(results, tmp_path, "killed", lambda r: r.pop("finished"))
    done = edgemark("bench", "report", killed)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "incomplete" in line]
    assert line.startswith("warning:") and str(killed / "results.json") in line
    done = edgemark("bench", "compare", out, killed)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if "incomplete" in line]
    assert line.startswith("warning: B = ") and str(killed / "results.json") in line
    done = edgemark("bench", "compare", out, out)
    assert "incomplete" not in done.stdout


def test_compare_names_each_sides_test_faces_and_warns_when_they_differ(bench_results, tmp_path):
    out, results = bench_results
    pi = _bad_copy(results, tmp_path, "pi", lambda r: r.update(accuracy_list="testImageList.txt (200 faces)"))
    done = edgemark("bench", "compare", out, pi)
    assert done.returncode == 0, done.stderr
    text = done.stdout.replace("\n", " ")
    assert "A NME on small test list" in text and "B NME on testImageList.txt (200 faces)" in text
    (line,) = [line for line in done.stdout.splitlines() if "different test faces" in line]
    assert line.startswith("warning:") and "not comparable" in line
    done = edgemark("bench", "compare", out, out)
    assert "different test faces" not in done.stdout and "NME on small test list" in done.stdout.replace("\n", " ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_bench_leaves_no_temporary_folder_and_no_stale_file(exported, tmp_path, sig):
    tmpdir, out = tmp_path / "tmp", tmp_path / "out"
    tmpdir.mkdir()
    out.mkdir()
    (out / "results.md").write_text("an earlier run")
    (out / "pareto_threads4.png").write_bytes(b"an earlier plot")
    abandoned = tmpdir / "edgemark-bench-999999999-abcd1234"  # of a run killed with SIGKILL: its process is gone
    (abandoned / "big").mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-m", "edgemark", "bench", "--model", str(exported[0]), "--out", str(out),
                             "--min-seconds", "1", "--warmup", "1", "--min-runs", "5", "--detector", "none"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"PATH": "", "EDGEMARK_DATA": "", "TMPDIR": str(tmpdir)})
    deadline = time.time() + 120
    while not (out / "results.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert list(tmpdir.glob("edgemark-bench-*")), "the run's temporary folder should exist while it runs"
    assert not abandoned.exists()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert not list(tmpdir.glob("edgemark-bench-*")), stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert "finished" not in json.loads((out / "results.json").read_text())
    assert not (out / "results.md").exists() and not (out / "pareto_threads4.png").exists()


def test_bench_device_cpu_as_typed_uses_the_shipped_model(tmp_path):
    """`edgemark bench --device cpu` without --model, from a folder that is not the repository:
    the shipped model by name; only shortening options added."""
    out = tmp_path / "out"
    done = edgemark("bench", "--device", "cpu", "--min-runs", "5", "--min-seconds", "0.05", "--warmup", "1", "--target", "tflite",
                    "--precision", "int8", "--detector", "none", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "model: mobilenetv2_96 (the shipped model" in done.stdout  # the shipped model by name (edgemark/shipped.py)
    results = json.loads((out / "results.json").read_text())
    assert {r["artifact"] for r in results["rows"]} == {"torch-fp32", "tflite-int8"}


def test_bench_helpers_take_few_parameters():
    import inspect

    from edgemark.cli import bench as cli_bench

    for fn in (cli_bench._bench_ssh, cli_bench._bench_fleet):
        assert len(inspect.signature(fn).parameters) <= 6, fn.__name__


def test_bench_help_names_ssh_devices():
    done = edgemark("bench", "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0 and "ssh://user@host" in done.stdout and "(default: mobilenetv2_96)" in done.stdout


def test_bench_measures_mediapipe_as_a_peer_in_the_same_run(data_dir, detector_models, tmp_path):
    """`edgemark bench --peer mediapipe`: MediaPipe's face landmark model from the pinned
    wheel gets a row beside the shipped int8 model, in the same harness (fresh process,
    pinned), with its accuracy on the same test faces (its own 192 px crops)."""
    out = tmp_path / "peer"
    done = edgemark("bench", "--model", ROOT / "exported" / "mobilenetv2_96", "--target", "tflite", "--precision", "int8",
                    "--detector", "none", "--peer", "mediapipe", "--accuracy-faces", "40", "--min-runs", "20",
                    "--min-seconds", "0.1", "--warmup", "3", "--data", data_dir, "--out", out)
    assert done.returncode == 0, done.stderr
    rows = {r["artifact"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    peer, ours = rows["peer-mediapipe-cuhk5"], rows["tflite-int8"]
    assert "mediapipe==0.10.21" in peer["peer"] and peer["pinned_cores"] == ours["pinned_cores"]
    assert 0.03 < peer["nme"] < 0.08 and ours["nme"] < peer["nme"]  # its 5 points are a mapping of its mesh
    assert peer["size_bytes"] == 1242398  # face_landmark.tflite as pinned
    assert "peer peer-mediapipe-cuhk5" in (out / "results.md").read_text()
    done = edgemark("bench", "--model", ROOT / "exported" / "mobilenetv2_96", "--peer", "blazeface", "--out", tmp_path / "x")
    assert done.returncode == 2 and "--peer must be mediapipe or none" in done.stderr


def test_bench_no_amx_measures_with_amx_refused(tmp_path):
    """`edgemark bench --no-amx`: every worker refuses itself AMX before loading (where the CPU
    has it), the row is measured, and the results say how AMX stood. The SSH path passes it on
    (tests/test_deploy.py)."""
    pytest.importorskip("ai_edge_litert")
    from edgemark import x86_amx

    out = tmp_path / "out"
    done = edgemark("bench", "--no-amx", "--target", "tflite", "--precision", "int8", "--out", out, *QUICK, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    assert {r["artifact"] for r in results["rows"]} == {"torch-fp32", "tflite-int8"} and not results["skipped"]
    expected = "denied to every worker (--no-amx)" if x86_amx.cpu_has_amx() else "not on this CPU"
    assert results["settings"]["amx"] == expected and f"Intel AMX: {expected}" in (out / "results.md").read_text()


def test_rounds_measure_the_list_in_turn_and_report_the_median_round(exported, tmp_path):
    """--rounds 3: every row is measured three times, the list in turn; the row kept is the
    median-p50 round, with all three p50s in results.json and their range in results.md."""
    out_dir, _, _ = exported
    out = tmp_path / "rounds"
    results = run_bench(out_dir, "cpu", [1], [1], out, targets=["onnx"], precisions=["fp32"], rounds=3, **FAST)
    write_outputs(results, out)
    assert results["settings"]["rounds"] == 3 and results["rows"]
    for row in results["rows"]:
        rounds = row["p50_rounds_ms"]
        assert len(rounds) == 3 and row["p50_ms"] == sorted(rounds)[1]
    md = (out / "results.md").read_text()
    r = results["rows"][0]
    assert "3 rounds" in md and f"({min(r['p50_rounds_ms']):.3f}-{max(r['p50_rounds_ms']):.3f})" in md
    load_results(out)  # the extra field passes the results check
    bad = json.loads((out / "results.json").read_text())
    bad["rows"][0]["p50_rounds_ms"] = [1.0, -2.0]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    from edgemark.errors import EdgemarkError

    with pytest.raises(EdgemarkError, match=r"rows\[0\]\.p50_rounds_ms\[1\]"):
        load_results(tmp_path / "bad.json")
    done = edgemark("bench", "--model", out_dir, "--rounds", "0", "--out", tmp_path / "x", *QUICK)
    assert done.returncode != 0 and "--rounds must be 1 or more" in done.stderr


def test_peer_summary_gives_the_ratio_within_each_round():
    from edgemark.bench.report import summary_lines

    base = {"threads": 1, "batch": 1, "format": "tflite", "nme": 0.033}
    rows = [{**base, "artifact": "tflite-int8", "precision": "int8", "p50_ms": 1.0, "p50_rounds_ms": [1.0, 0.5, 2.0]},
            {**base, "artifact": "peer-x", "precision": "fp32", "peer": "X", "p50_ms": 3.0, "p50_rounds_ms": [2.0, 2.0, 3.0], "nme": 0.05}]
    text = "\n".join(summary_lines({"rows": rows}))
    assert "is 3.0x faster (per round: 2.0x, 4.0x, 1.5x)." in text
    rows[0].pop("p50_rounds_ms")
    assert "is 3.0x faster." in "\n".join(summary_lines({"rows": rows}))
