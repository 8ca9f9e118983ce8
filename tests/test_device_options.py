"""Issue 31 over a real OpenSSH server on loopback: every bench option reaches the device
(--no-pin, --cores, --detector, --refine, --worker-timeout; --peer is refused, not dropped), the device's rows
get an NME drop against the host's torch fp32 on the same shipped faces, and a device whose
results.json is not a benchmark result (a path for a date) is refused before the host names
or writes anything after it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.errors import EdgemarkError
from sshd import SSHD, LoopbackSshd

pytestmark = [pytest.mark.skipif(not Path(SSHD).exists(), reason="needs an OpenSSH server (apt-get install openssh-server; .ci/run does)"),
              pytest.mark.usefixtures("detector_models")]
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
SHIPPED = Path(__file__).resolve().parents[1] / "exported" / "mobilenetv2_96"
FAST = ["--warmup", "2", "--min-runs", "10", "--min-seconds", "0.05"]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    if not all((SHIPPED / a / "manifest.json").exists() for a in ("torch-fp32", "onnx-fp32", "onnx-int8")):
        pytest.skip(f"{SHIPPED} is not here")
    folder = tmp_path_factory.mktemp("shipped") / "opts31"
    for name in ("torch-fp32", "onnx-fp32", "onnx-int8"):
        shutil.copytree(SHIPPED / name, folder / name, ignore=shutil.ignore_patterns("eval-*"))
    return folder


def edgemark(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, timeout=900, cwd=cwd)


def on_device(sshd, device, model, small_lists, *args):
    return edgemark("bench", "--model", model, "--target", "onnx", "--device", "ssh://edgedevice", "--ssh-config", sshd.config,
                    "--python", BASE_PYTHON, "--remote-dir", device, "--data", small_lists, "--accuracy-faces", "20", *FAST, *args)


def test_options_reach_the_device_and_its_rows_get_a_drop(sshd, model, small_lists, tmp_path):
    from edgemark import load_predictor
    from edgemark.data.lists import read_list
    from edgemark.evaluate import evaluate

    device = tmp_path / "device"
    out = tmp_path / "run1"
    done = on_device(sshd, device, model, small_lists, "--precision", "fp32,int8", "--no-pin", "--detector", "blazeface",
                     "--refine", "1", "--out", out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["device"] == "ssh://edgedevice" and [r["artifact"] for r in results["rows"]] == ["onnx-fp32", "onnx-int8"]
    # --no-pin reached the device's workers, and --refine its pipeline rows
    assert results["settings"]["pinned"] is False and all(r["pinned_cores"] is None for r in results["rows"])
    assert results["pipeline_settings"]["refine"] == 1
    assert {(r["detector"], r["artifact"]) for r in results["pipeline_rows"]} == {("blazeface", None), ("blazeface", "onnx-fp32"),
                                                                                   ("blazeface", "onnx-int8")}
    assert all(r["refine"] == 1 for r in results["pipeline_rows"] if r["artifact"])
    # the reference: this machine's torch fp32 on the 20 faces shipped, as eval measures it
    faces = read_list(small_lists / "testImageList.txt")
    faces.records = faces.records[:20]
    torch_nme = evaluate(load_predictor(model / "torch-fp32"), faces)["nme"]
    reference = results["accuracy_reference"]
    assert reference["nme"] == pytest.approx(torch_nme, rel=1e-5) and reference["faces"] == 20
    assert reference["where"].startswith("torch fp32 on the host") and reference["accuracy_list"] == results["accuracy_list"]
    for row in results["rows"]:
        assert row["nme"] == pytest.approx(evaluate(load_predictor(model / row["artifact"]), faces)["nme"], rel=1e-5)
        assert row["nme_drop_pp"] == pytest.approx((row["nme"] - torch_nme) * 100, abs=1e-6)
    fp32 = results["rows"][0]
    assert abs(fp32["nme_drop_pp"]) < 0.1  # ONNX fp32 is torch fp32 to rounding
    text = (out / "results.md").read_text()
    assert "fastest at equal accuracy (NME within 0.1 pp of torch fp32 on the host" in text
    assert "runs not pinned to cores (--no-pin)" in text and "NME drops against torch fp32 on the host" in done.stdout
    # --cores, --detector none and --tta flip reach it too
    out = tmp_path / "run2"
    done = on_device(sshd, device, model, small_lists, "--precision", "int8", "--cores", "0", "--threads", "1,2",
                     "--detector", "none", "--worker-timeout", "300", "--tta", "flip", "--out", out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["cores"] == [0] and not results.get("pipeline_rows") and results["settings"]["worker_timeout_s"] == 300
    assert [(r["artifact"], r["threads"], r["pinned_cores"]) for r in results["rows"]] == [
        ("onnx-int8", 1, [0]), ("onnx-int8", 2, [0]), ("onnx-int8+flip", 1, [0]), ("onnx-int8+flip", 2, [0])]
    flip = results["rows"][2]
    assert flip["tta"] == "flip" and flip["nme_drop_pp"] is not None and "+flip" in flip["provider"]
    text = (out / "results.md").read_text()
    assert "taken in order from cores 0 (--cores)" in text and "- onnx-int8 threads=2 batch=1: pinned to 1 core(s) (0), not 2" in text


def test_peer_is_refused_for_a_device_not_dropped(sshd, model, small_lists, tmp_path):
    device = tmp_path / "device"
    done = on_device(sshd, device, model, small_lists, "--precision", "int8", "--peer", "mediapipe", "--out", tmp_path / "o")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--peer mediapipe is measured on this machine only" in " ".join(done.stderr.split())
    assert not device.exists() and not (tmp_path / "o").exists()


FAKE_RUNNER = """#!/bin/sh
# a device that answers with what it likes: writes $RESULTS as --out/results.json
while [ $# -gt 0 ]; do case "$1" in --out) out=$2; shift;; esac; shift; done
mkdir -p "$out" && cp "$(dirname "$0")/../answer.json" "$out/results.json"
"""


@pytest.mark.parametrize("change, error", [
    ({"started": "../../../../tmp/evil"}, r"results.json: started: expected an ISO date and time"),
    ({"rows": [{"artifact": "../x"}]}, r"results.json: rows\[0\].artifact: expected a plain name"),
    ("not json", r"results.json: not a benchmark result"),
])
def test_a_device_results_json_is_checked_before_use(sshd, tmp_path, change, error):
    """remote_bench reads the device's results.json through a real SSH session; a device
    that writes a path for its start time (the host named its results folder after it) or a
    damaged result is refused with the device and file named."""
    from edgemark.bench.report import validate_results
    from edgemark.remote.deploy import remote_bench
    from edgemark.remote.ssh import SshTarget

    good = {"command": "c", "started": "2026-12-04T10:00:00+00:00", "finished": "2026-12-04T10:01:00+00:00", "device": "cpu",
            "machine": {"cpu": "x", "machine": "aarch64", "os": "Linux", "python": "3.11"}, "throttle_before": {},
            "versions": {}, "settings": {"latency": "l", "warmup": 1, "min_runs": 1, "min_seconds": 0.1}, "rows": [], "skipped": []}
    validate_results(good, "good")
    bundle = tmp_path / "bundle"
    (bundle / "bin").mkdir(parents=True)
    (bundle / "bin" / "edgemark").write_text(FAKE_RUNNER)
    (bundle / "bin" / "edgemark").chmod(0o755)
    (bundle / "answer.json").write_text(change if isinstance(change, str) else json.dumps({**good, **change}))
    target = SshTarget("edgedevice", config=str(sshd.config))
    with pytest.raises(EdgemarkError, match=f"edgedevice:{bundle}/results/{error}"):
        remote_bench(target, str(bundle), [1], [1], 1, 1, 0.1, "c")
    (bundle / "answer.json").write_text(json.dumps(good))  # the same device with a sound answer is taken
    assert remote_bench(target, str(bundle), [1], [1], 1, 1, 0.1, "c")["device"] == "ssh://edgedevice"
