"""edgemark profile --device ssh://: the artifacts and a detector network profiled on a device (a real OpenSSH
server on loopback standing in for a Raspberry Pi) by the bundle's own runner, the profiles brought back and
checked before the host reads them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.errors import EdgemarkError
from edgemark.profile.report import check_profiles
from sshd import SSHD, LoopbackSshd

pytestmark = [pytest.mark.skipif(not Path(SSHD).exists(), reason="needs an OpenSSH server (apt-get install openssh-server; .ci/run does)"),
              pytest.mark.usefixtures("detector_models")]
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")
SHIPPED = Path(__file__).resolve().parents[1] / "exported" / "mobilenetv2_96"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.kill()


def edgemark(*args):
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, timeout=900)


def on_device(sshd, device, *args):
    return edgemark("profile", *args, "--device", "ssh://edgedevice", "--ssh-config", sshd.config, "--python", BASE_PYTHON,
                    "--remote-dir", device, "--runs", "5", "--warmup", "1")


def test_artifacts_and_a_detector_are_profiled_on_the_device(sshd, tmp_path):
    device, out = tmp_path / "device", tmp_path / "profile"
    done = on_device(sshd, device, SHIPPED / "tflite-int8", SHIPPED / "onnx-int8", SHIPPED / "torch-fp32",
                     "--detector", "blazeface-96", "--out", out)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads((out / "profile.json").read_text())
    profiles = {p["artifact"]: p for p in data["profiles"]}
    assert set(profiles) == {"tflite-int8", "onnx-int8", "torch-fp32", "detector blazeface-96"}
    # measured there, by the bundle's runner: the device's own copy of the profile is the one brought back
    on_device_copy = json.loads((device / "bundles" / "profile" / "profile" / "profile.json").read_text())
    assert [p["artifact"] for p in on_device_copy["profiles"]] == ["tflite-int8", "onnx-int8", "detector blazeface-96"]
    assert on_device_copy["profiles"][0]["ops"] == profiles["tflite-int8"]["ops"]
    tflite = profiles["tflite-int8"]
    assert tflite["runtime"].startswith("LiteRT") and tflite["layers"] and tflite["total_ms"] > 0
    assert sum(op["kind"] == "depthwise" for op in tflite["ops"]) == 17
    assert profiles["onnx-int8"]["layers"] and profiles["detector blazeface-96"]["input_side"] == 96
    assert "not deployed" in profiles["torch-fp32"]["unsupported"]
    assert data["machine"]["cpu"] and "edgedevice" in done.stdout and "per layer" in done.stdout


def test_what_a_device_bundle_does_not_carry_is_refused_before_deploying(sshd, tmp_path):
    device = tmp_path / "device"
    done = on_device(sshd, device, "--detector", "blazeface-int8-96")
    assert done.returncode == 2 and "not in a device bundle" in done.stderr, done.stderr
    done = on_device(sshd, device, SHIPPED / "tflite-int8" / "model.tflite")
    assert done.returncode == 2 and "a bare .tflite file is profiled here only" in done.stderr, done.stderr
    assert not device.exists()  # nothing was copied


def test_a_device_answer_that_is_not_a_profile_is_refused():
    good = {"machine": {"cpu": "x"}, "profiles": [{"artifact": "a", "unsupported": "no profiler"}]}
    check_profiles(good, "dev:p.json")
    bad_rows = {"machine": {}, "profiles": [{"artifact": "a", "runtime": "r", "total_ms": 1.0, "run_ms": 1.0, "runs": 5, "warmup": 1,
                                             "threads": 1, "ops": [{"name": "x"}], "kinds": [], "layers": None}]}
    for data, what in ((["not", "a", "dict"], "want an object"), ({"machine": {}, "profiles": [3]}, r"profiles\[0\] has no artifact name"),
                       (bad_rows, r"profiles\[0\]\.ops is not a list of rows")):
        with pytest.raises(EdgemarkError, match=rf"dev:p.json: not a profile \({what}"):
            check_profiles(data, "dev:p.json")
