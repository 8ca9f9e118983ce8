"""Issue 31, bench options on this machine, with the shipped model's small artifacts (no
export fixture): a worker past its timeout, more threads than cores, --cores, --no-pin, the
accuracy reference of rows measured without torch, and results whose 'started' is not a date."""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from edgemark.bench.report import load_results, markdown, validate_results, write_outputs
from edgemark.bench.run import attach_reference, parse_cores, run_bench
from edgemark.errors import EdgemarkError

SHIPPED = Path(__file__).resolve().parents[1] / "exported" / "mobilenetv2_96"
FAST = dict(warmup=1, min_runs=5, min_seconds=0.02)
CORES = sorted(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """torch fp32, ONNX fp32 and int8 of the shipped model, copied into an export folder of their own."""
    if not all((SHIPPED / a / "manifest.json").exists() for a in ("torch-fp32", "onnx-fp32", "onnx-int8")):
        pytest.skip(f"{SHIPPED} is not here")
    folder = tmp_path_factory.mktemp("shipped") / "mobilenetv2_96"
    for name in ("torch-fp32", "onnx-fp32", "onnx-int8"):
        shutil.copytree(SHIPPED / name, folder / name, ignore=shutil.ignore_patterns("eval-*"))
    return folder


def test_a_worker_past_its_timeout_is_recorded_and_the_run_goes_on(model, tmp_path):
    """It used to end the bench in a TimeoutExpired traceback with no results.json."""
    out = tmp_path / "b"
    start = time.monotonic()
    results = run_bench(model / "onnx-int8", "cpu", [1], [1, 2], out, worker_timeout=0.2, **FAST)
    assert time.monotonic() - start < 60
    assert results["rows"] == [] and len(results["skipped"]) == 2
    assert all(s["reason"] == "timed out: the worker took more than 0.2 s and was stopped" for s in results["skipped"])
    saved = json.loads((out / "results.json").read_text())
    assert saved["finished"] and [s["batch"] for s in saved["skipped"]] == [1, 2] and saved["settings"]["worker_timeout_s"] == 0.2
    with pytest.raises(EdgemarkError, match="worker timeout must be a positive number"):
        run_bench(model / "onnx-int8", "cpu", [1], [1], tmp_path / "c", worker_timeout=0, **FAST)


def test_more_threads_than_cores_is_said_not_hidden(model, tmp_path):
    threads = len(CORES) + 2
    out = tmp_path / "b"
    results = run_bench(model / "onnx-int8", "cpu", [threads], [1], out, **FAST)
    (row,) = results["rows"]
    assert row["threads"] == threads and row["pinned_cores"] == CORES
    write_outputs(results, out)
    text = (out / "results.md").read_text()
    assert "pinned to as many cores: True" not in text
    assert "**Fewer cores than threads**" in text
    assert f"- onnx-int8 threads={threads} batch=1: pinned to {len(CORES)} core(s) ({','.join(map(str, CORES))}), not {threads}" in text
    assert results["settings"]["cores_available"] == CORES


def test_cores_choose_which_cores_and_no_pin_pins_none(model, tmp_path):
    assert parse_cores("4-7") == [4, 5, 6, 7] and parse_cores("3,0-1,3") == [3, 0, 1]
    for bad in ("4-", "a", "7-4", "", "1,,2", "-3"):
        with pytest.raises(EdgemarkError, match="--cores"):
            parse_cores(bad)
    last = CORES[-1]
    results = run_bench(model / "onnx-int8", "cpu", [1], [1], tmp_path / "c", cores=[last], **FAST)
    assert results["rows"][0]["pinned_cores"] == [last] and results["settings"]["cores"] == [last]
    assert f"taken in order from cores {last} (--cores)" in markdown(results)
    with pytest.raises(EdgemarkError, match=r"--cores 100000: core 100000 is not available here \(this process may use cores "):
        run_bench(model / "onnx-int8", "cpu", [1], [1], tmp_path / "d", cores=[100000], **FAST)
    with pytest.raises(EdgemarkError, match="cannot go with --no-pin"):
        run_bench(model / "onnx-int8", "cpu", [1], [1], tmp_path / "e", cores=[last], pin=False, **FAST)
    results = run_bench(model / "onnx-int8", "cpu", [1], [1], tmp_path / "f", pin=False, **FAST)
    assert results["settings"]["pinned"] is False and results["rows"][0]["pinned_cores"] is None
    assert "runs not pinned to cores (--no-pin)" in markdown(results)


@pytest.fixture(scope="module")
def crops(model, data_dir):
    from edgemark.cli.common import load_test_crops

    return load_test_crops(data_dir, model / "onnx-int8", 20)


def test_rows_without_torch_take_their_drop_from_the_reference(model, crops, tmp_path):
    """A device measures no torch row: without a reference every drop was n/a and the
    'fastest at equal accuracy' line never appeared."""
    from edgemark.bench.accuracy import reference_accuracy

    reference = reference_accuracy([model / "onnx-int8", model / "torch-fp32"], crops)
    assert reference["artifact"] == "torch-fp32" and reference["faces"] == 20 and reference["accuracy_list"] == crops[3]
    # the same figure a run measuring torch-fp32 itself gets
    both = run_bench(model, "cpu", [1], [1], tmp_path / "both", targets=["onnx"], precisions=["fp32"], test_crops=crops, **FAST)
    torch_row = next(r for r in both["rows"] if r["artifact"] == "torch-fp32")
    assert torch_row["nme"] == pytest.approx(reference["nme"], rel=1e-6) and torch_row["nme_drop_pp"] == 0
    assert both["accuracy_reference"]["where"] == "torch fp32, measured in this run"
    out = tmp_path / "device-like"
    results = run_bench(model / "onnx-fp32", "cpu", [1], [1], out, test_crops=crops, reference=reference, **FAST)
    (row,) = results["rows"]
    assert row["nme_drop_pp"] == pytest.approx((row["nme"] - reference["nme"]) * 100) and abs(row["nme_drop_pp"]) < 0.1
    assert results["accuracy_reference"]["where"].startswith("torch fp32 on the host")
    write_outputs(results, out)
    text = (out / "results.md").read_text()
    assert "fastest at equal accuracy (NME within 0.1 pp of torch fp32 on the host" in text
    assert f"NME drops against torch fp32 on the host" in text and json.loads((out / "results.json").read_text())["accuracy_reference"]
    # a reference over other faces is not used: no drop rather than a wrong one
    other = dict(reference, accuracy_list="testImageList.txt (3466 faces)")
    loose = {"accuracy_list": crops[3], "rows": [{"artifact": "onnx-int8", "nme": 0.03, "nme_drop_pp": None}]}
    attach_reference(loose, other)
    assert loose["rows"][0]["nme_drop_pp"] is None and "accuracy_reference" not in loose
    assert "no drop computed" in loose["accuracy_reference_unused"]


@pytest.mark.parametrize("started", ["../../../../tmp/evil", "2026-13-45", 7, "", "2026-01-31T12:00:00/../../x"])
def test_a_started_that_is_no_date_is_refused(model, tmp_path, started):
    """The SSH results folder is named after 'started': a device's results.json with a path
    there must be refused before anything is named after it."""
    results = run_bench(model / "onnx-int8", "cpu", [1], [1], tmp_path / "b", **FAST)
    results["started"] = started
    with pytest.raises(EdgemarkError, match=r"dev:results.json: started: expected (an ISO date and time|text)"):
        validate_results(results, "dev:results.json")
    (tmp_path / "b" / "results.json").write_text(json.dumps(results))
    with pytest.raises(EdgemarkError, match="started"):
        load_results(tmp_path / "b")
