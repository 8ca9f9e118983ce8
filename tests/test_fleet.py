"""Benchmark a fleet from a devices file: two loopback sshd "devices" and one host that
does not answer, concurrently; the merged table has a column group per device that
answered, and the bad host is reported without stopping the others."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.bench.fleet import load_devices
from edgemark.errors import EdgemarkError
from sshd import SSHD, LoopbackSshd, free_port

pytestmark = pytest.mark.skipif(not Path(SSHD).exists(), reason="needs an OpenSSH server (apt-get install openssh-server; .ci/run does)")
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    servers = [LoopbackSshd(tmp_path_factory.mktemp(f"sshd{i}")).start() for i in range(2)]
    yield servers
    for s in servers:
        s.kill()


def test_fleet_of_two_devices_and_one_unreachable(two_devices, exported, small_lists, tmp_path):
    a, b = two_devices
    devices = tmp_path / "devices.yaml"
    devices.write_text(f"""devices:
  - name: pi-a
    host: edgedevice
    ssh_config: {a.config}
    python: {BASE_PYTHON}
    remote_dir: {tmp_path / 'device-a'}
  - name: pi-b
    host: edgedevice
    ssh_config: {b.config}
    python: {BASE_PYTHON}
    remote_dir: {tmp_path / 'device-b'}
  - name: gone
    host: ssh://127.0.0.1:{free_port()}
    python: {BASE_PYTHON}
""")
    out = tmp_path / "fleet"
    done = subprocess.run([sys.executable, "-m", "edgemark", "bench", "--model", str(exported[0]), "--target", "onnx",
                           "--precision", "int8", "--devices", str(devices), "--data", str(small_lists), "--accuracy-faces", "10",
                           "--warmup", "2", "--min-runs", "10", "--min-seconds", "0.1", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    fleet = json.loads((out / "fleet.json").read_text())
    assert sorted(fleet["finished"]) == ["pi-a", "pi-b"]
    assert list(fleet["errors"]) == ["gone"] and "cannot connect" in fleet["errors"]["gone"]
    for name in ("pi-a", "pi-b"):
        results = json.loads((out / name / "results.json").read_text())
        assert [r["artifact"] for r in results["rows"]] == ["onnx-int8"] and results["device"] == "ssh://edgedevice"
    table = (out / "fleet.md").read_text()
    assert "| artifact | threads | batch | pi-a p50 ms | pi-a NME % | pi-b p50 ms | pi-b NME % |" in table
    assert "| onnx-int8 | 1 | 1 |" in table and "**gone**: not measured" in table
    assert "pi-a: done" in done.stdout and "gone: failed" in done.stdout


def test_devices_file_errors_name_the_line(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text("devices:\n  - name: a\n    local: cpu\n  - name: b\n    hots: pi@x\n")
    with pytest.raises(EdgemarkError, match=r"devices.yaml:4: unknown key 'hots'"):
        load_devices(path)
    path.write_text("devices:\n  - name: a\n")
    with pytest.raises(EdgemarkError, match=r"devices.yaml:2: a device needs a name and exactly one of local"):
        load_devices(path)
    path.write_text("hosts: []\n")
    with pytest.raises(EdgemarkError, match="top-level 'devices:' list"):
        load_devices(path)
