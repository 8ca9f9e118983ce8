"""The regression gate (edgemark bench --baseline, edgemark bench gate): row-by-row verdicts on
the committed results, named refusals, and two real short runs of the shipped model: a
baseline with faster rows fails the rerun, the rerun passes against the real first run."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.bench.baseline import compare_to_baseline
from edgemark.bench.report import load_results
from edgemark.errors import EdgemarkError

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "mobilenetv2_96-cycle7-cpu-xeon-2core-2026-12-03"  # 34 rows, one round
ROUNDS = ROOT / "benchmarks" / "mobilenetv2_96-cycle7-cpu-xeon-amx-2026-12-03-amx-allowed"  # 5 rounds per row


def edgemark(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def _scaled(results: dict, factor: float, artifact: str | None = None) -> dict:
    out = copy.deepcopy(results)
    for r in out["rows"]:
        if artifact is None or r["artifact"] == artifact:
            r["p50_ms"] *= factor
            if r.get("p50_rounds_ms"):
                r["p50_rounds_ms"] = [x * factor for x in r["p50_rounds_ms"]]
    return out


def test_a_run_against_itself_passes_and_a_faster_baseline_fails_row_by_row():
    results = load_results(COMMITTED)
    same = compare_to_baseline(results, results)
    assert len(same["rows"]) == 34 and same["regressions"] == []
    # one row of the baseline 20 % faster: that row alone regresses (single rounds: no noise, 10 % allowed)
    faster = _scaled(results, 1 / 1.2, "onnx-int8")
    gate = compare_to_baseline(results, faster)
    assert {(r["artifact"], r["threads"]) for r in gate["regressions"]} == {("onnx-int8", 1), ("onnx-int8", 2)}
    assert all("slower" in r["problems"][0] for r in gate["regressions"])
    # 20 % is within a 25 % threshold
    assert compare_to_baseline(results, faster, max_slowdown=0.25)["regressions"] == []


def test_the_noise_of_the_rounds_widens_the_limit():
    results = load_results(ROUNDS)
    row = next(r for r in results["rows"] if r["artifact"] == "tflite-int8")
    spread = max(row["p50_rounds_ms"]) - min(row["p50_rounds_ms"])
    assert spread > 0.1 * row["p50_ms"]  # this VM drifted: the rounds' spread is larger than the 10 % threshold
    # the baseline's row 15 % faster: beyond the threshold alone, within threshold + noise
    faster = _scaled(results, 1 / 1.15, "tflite-int8")
    gate = compare_to_baseline(results, faster)
    checked = next(r for r in gate["rows"] if r["artifact"] == "tflite-int8")
    assert checked["noise_ms"] == pytest.approx(spread * (1 + 1 / 1.15) / 2)
    assert gate["regressions"] == []
    # without the rounds (no noise measured) the same 15 % fails
    for r in results["rows"] + faster["rows"]:
        r.pop("p50_rounds_ms", None)
    assert [r["artifact"] for r in compare_to_baseline(results, faster)["regressions"]] == ["tflite-int8"]


def test_a_grown_accuracy_drop_and_a_missing_row_are_regressions():
    results = load_results(COMMITTED)
    worse = copy.deepcopy(results)
    row = next(r for r in worse["rows"] if r["artifact"] == "tflite-int8" and r["threads"] == 1)
    row["nme_drop_pp"] += 0.3
    gone = next(r for r in worse["rows"] if r["artifact"] == "ncnn-fp16" and r["threads"] == 2)
    worse["rows"].remove(gone)
    gate = compare_to_baseline(worse, results, max_drop=0.2)
    problems = {(r["artifact"], r["threads"]): r["problems"] for r in gate["regressions"]}
    assert set(problems) == {("tflite-int8", 1), ("ncnn-fp16", 2)}
    assert "accuracy" in problems[("tflite-int8", 1)][0] and "not measured" in problems[("ncnn-fp16", 2)][0]
    assert compare_to_baseline(worse, results, max_drop=0.5)["regressions"][0]["artifact"] == "ncnn-fp16"
    # a row only the new run has is listed, not gated
    assert compare_to_baseline(results, worse, max_drop=0.2)["new_rows"] == ["ncnn-fp16 threads=2 batch=1"]


def test_another_machine_or_other_test_faces_is_a_named_refusal():
    results = load_results(COMMITTED)
    other = copy.deepcopy(results)
    other["machine"]["cpu"] = "AMD EPYC"
    with pytest.raises(EdgemarkError, match=r"OLD\.json is not a baseline for NEW\.json: measured on another machine "
                                            r"\(machine\.cpu: 'AMD EPYC' there"):
        compare_to_baseline(results, other, new_source="NEW.json", old_source="OLD.json")
    faces = copy.deepcopy(results)
    faces["accuracy_list"] = "testImageList.txt (20 faces)"
    with pytest.raises(EdgemarkError, match="other test faces"):
        compare_to_baseline(results, faces)
    with pytest.raises(EdgemarkError, match="share no"):
        compare_to_baseline(results, load_results(ROOT / "benchmarks" / "mobilenetv2_96_drive23-cycle5-cpu-epyc-2core-2026-11-25")
                            | {"machine": results["machine"], "device": results["device"], "accuracy_list": results["accuracy_list"]}
                            | {"rows": [r | {"artifact": "x-" + r["artifact"]} for r in results["rows"][:1]]})


def test_gate_cli_refuses_a_bad_baseline_file_by_name(tmp_path):
    bad = tmp_path / "old" / "results.json"
    bad.parent.mkdir()
    bad.write_text('{"rows": 3}')
    done = edgemark("bench", "gate", COMMITTED, "--baseline", bad.parent)
    assert done.returncode == 2 and str(bad) in done.stderr.replace("\n", ""), done.stderr


FAST = ["--target", "onnx", "--precision", "int8", "--warmup", "1", "--min-runs", "5", "--min-seconds", "0.05",
        "--accuracy-faces", "20", "--detector", "none", "--rounds", "2"]


def test_bench_baseline_with_faster_rows_exits_non_zero_and_a_rerun_passes(data_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    done = edgemark("bench", *FAST, "--data", data_dir, "--out", first)
    assert done.returncode == 0, done.stderr
    assert (first / "results.html").is_file()  # the HTML report is written beside results.md
    # the first run's rows, 10x faster: the rerun is slower than that beyond any noise
    fast = tmp_path / "fast" / "results.json"
    fast.parent.mkdir()
    fast.write_text(json.dumps(_scaled(load_results(first), 0.1)))
    done = edgemark("bench", *FAST, "--data", data_dir, "--out", second, "--baseline", fast.parent)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 regression(s) in 2 baseline row(s)" in done.stdout and "onnx-int8" in done.stdout
    gate = json.loads((second / "gate.json").read_text())
    assert {r["artifact"] for r in gate["regressions"]} == {"torch-fp32", "onnx-int8"}
    assert (second / "results.json").is_file() and (second / "results.md").is_file()  # the run's results are kept
    # the rerun against the real first run: the same rows, the same accuracy, within the noise + 50 %
    # (this shared 2-core VM drifts; the 10x faster baseline above is far outside any such allowance)
    done = edgemark("bench", "gate", second, "--baseline", first, "--max-slowdown", "50")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no regression" in done.stdout
    assert all(r["new_drop_pp"] == pytest.approx(r["old_drop_pp"], abs=1e-9) for r in json.loads((second / "gate.json").read_text())["rows"])


def test_bench_refuses_baseline_of_another_machine_before_measuring(data_dir, tmp_path):
    other = load_results(COMMITTED)  # a Xeon's results: this is a refusal on any other CPU
    here = subprocess.run([sys.executable, "-c", "from edgemark.environment import machine_summary; print(machine_summary()['cpu'])"],
                          capture_output=True, text=True, cwd=ROOT)
    if here.stdout.strip() == other["machine"]["cpu"]:
        other["machine"]["cpu"] = "another CPU"
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text(json.dumps(other))
    done = edgemark("bench", *FAST, "--data", data_dir, "--out", tmp_path / "new", "--baseline", tmp_path / "old")
    assert done.returncode == 2 and "measured on another machine" in done.stderr, done.stderr
    assert f"{tmp_path / 'old' / 'results.json'} is not a baseline for this machine" in done.stderr.replace("\n", "")
    assert not (tmp_path / "new").exists()  # refused before anything was measured or written
