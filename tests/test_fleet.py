"""Benchmark a fleet from a devices file: two loopback sshd "devices" and one host that
does not answer, concurrently; the merged table has a column group per device that
answered, and the bad host is reported without stopping the others."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgemark.bench.fleet import load_devices
from edgemark.errors import EdgemarkError
from sshd import SSHD, LoopbackSshd, free_port

needs_sshd = pytest.mark.skipif(not Path(SSHD).exists(), reason="needs an OpenSSH server (apt-get install openssh-server; .ci/run does)")
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    servers = [LoopbackSshd(tmp_path_factory.mktemp(f"sshd{i}")).start() for i in range(2)]
    yield servers
    for s in servers:
        s.kill()


@needs_sshd
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
    # what answered is written; the run still fails, naming the device that did not
    said = done.stdout[-6000:] + done.stderr[-3000:]  # each device's error is printed as it lands
    assert done.returncode == 2, said
    assert "1 of 3 devices failed: gone" in done.stderr.replace("\n", " "), said
    fleet = json.loads((out / "fleet.json").read_text())
    assert sorted(fleet["finished"]) == ["pi-a", "pi-b"]
    assert list(fleet["errors"]) == ["gone"] and "cannot connect" in fleet["errors"]["gone"]
    for name in ("pi-a", "pi-b"):
        results = json.loads((out / name / "results.json").read_text())
        assert [r["artifact"] for r in results["rows"]] == ["onnx-int8"] and results["device"] == "ssh://edgedevice"
        # the device's NME, and its drop against this machine's torch fp32 on the same 10 faces
        (row,) = results["rows"]
        reference = results["accuracy_reference"]
        assert reference["where"].startswith("torch fp32 on the host") and reference["faces"] == 10
        assert 0 < row["nme"] < 1 and row["nme_drop_pp"] == pytest.approx((row["nme"] - reference["nme"]) * 100, abs=1e-6)
    table = (out / "fleet.md").read_text()
    assert "| artifact | threads | batch | pi-a p50 ms | pi-a NME % | pi-b p50 ms | pi-b NME % |" in table
    assert "| onnx-int8 | 1 | 1 |" in table and "**gone**: not measured" in table
    assert table.count("NME on testImageList.txt (10 faces)") == 2 and "different test faces" not in table
    assert "pi-a: done" in done.stdout and "gone: failed" in done.stdout


@pytest.mark.parametrize("text, error", [
    ("devices:\n  - name: a\n    local: cpu\n  - name: b\n    hots: pi@x\n", r"devices.yaml:4: unknown key 'hots'"),
    ("devices:\n  - name: a\n", r"devices.yaml:2: a device needs a name and exactly one of local"),
    ("hosts: []\n", "top-level 'devices:' list"),
    # a bad host or port is the file's error, before any device runs
    ("devices:\n  - name: ok\n    local: cpu\n  - name: evil\n    host: -oProxyCommand=touch\n", r"devices.yaml:4: .*begins with '-'"),
    ("devices:\n  - name: far\n    host: pi@example.org\n    port: 70000\n", r"devices.yaml:2: .*port"),
    # a name is the device's result folder: never a path out of the fleet folder
    ("devices:\n  - name: ok\n    local: cpu\n  - name: ../../../victim\n    local: cpu\n",
     r"devices.yaml:4: device name '../../../victim' is not a plain folder name"),
    ("devices:\n  - name: a/b\n    local: cpu\n", r"devices.yaml:2: device name 'a/b'"),
    ("devices:\n  - name: ..\n    local: cpu\n", r"devices.yaml:2: device name '..'"),
    ("devices:\n  - name: /tmp/x\n    local: cpu\n", r"devices.yaml:2: device name '/tmp/x'"),
    ("devices:\n  - name: .hidden\n    local: cpu\n", r"devices.yaml:2: device name '.hidden'"),
    ("devices:\n  - name: [a]\n    local: cpu\n", r"devices.yaml:2: device name \['a'\]"),
])
def test_devices_file_errors_name_the_line(tmp_path, text, error):
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    with pytest.raises(EdgemarkError, match=error):
        load_devices(path)


def _fleet(*args, cwd):
    return subprocess.run([sys.executable, "-m", "edgemark", "bench", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=900, env={**os.environ, "EDGEMARK_DATA": ""})


def test_fleet_with_a_failed_device_fails_and_a_second_run_gets_its_own_folder(exported, tmp_path):
    """This machine and a host that does not answer, without --out, twice the same day: the
    first run writes what it measured and exits non-zero naming the failed device; the
    second run gets a new folder and leaves the first one as it was."""
    devices = tmp_path / "devices.yaml"
    devices.write_text(f"devices:\n  - name: here\n    local: cpu\n  - name: gone\n    host: ssh://127.0.0.1:{free_port()}\n")
    args = ["--model", exported[0], "--target", "onnx", "--precision", "int8", "--devices", devices, "--warmup", "1",
            "--min-runs", "5", "--min-seconds", "0.05"]
    first = _fleet(*args, cwd=tmp_path)
    assert first.returncode == 2, first.stdout + first.stderr
    assert "1 of 2 devices failed: gone" in first.stderr.replace("\n", " ") and "Traceback" not in first.stderr
    (folder,) = (tmp_path / "benchmarks").iterdir()
    assert folder.name.startswith("fleet-") and f"results folder: {folder.relative_to(tmp_path)}" in first.stdout.replace("\n", " ")
    assert json.loads((folder / "fleet.json").read_text())["finished"] == ["here"]
    assert (folder / "here" / "results.json").exists() and "**gone**: not measured" in (folder / "fleet.md").read_text()
    before = (folder / "here" / "results.json").read_text()
    devices.write_text(f"devices:\n  - name: gone\n    host: ssh://127.0.0.1:{free_port()}\n")
    second = _fleet(*args, cwd=tmp_path)
    assert second.returncode == 2 and "no device could be benchmarked" in second.stderr
    assert sorted(p.name for p in (tmp_path / "benchmarks").iterdir()) == [folder.name, folder.name + "-2"]
    assert (folder / "here" / "results.json").read_text() == before


def test_fleet_table_says_which_test_faces_each_device_used():
    from edgemark.bench.fleet import Device, merged_table

    def result(faces, nme):
        return {"machine": {"cpu": "x", "machine": "x86_64", "cores": 2, "os": "Linux"}, "device": "cpu", "accuracy_list": faces,
                "rows": [{"artifact": "onnx-int8", "threads": 1, "batch": 1, "p50_ms": 0.2, "nme": nme}]}

    devices = [Device("desktop", local="cpu"), Device("pi", host="pi@pi")]
    table = merged_table(devices, {"desktop": result("testImageList.txt (2027 faces)", 0.034),
                                   "pi": result("testImageList.txt (200 faces)", 0.031)}, {}, "cmd")
    assert "**desktop**" in table and "NME on testImageList.txt (2027 faces)" in table
    assert "NME on testImageList.txt (200 faces)" in table
    warning = [line for line in table.splitlines() if "different test faces" in line]
    assert warning and "not comparable" in warning[0]
    same = merged_table(devices, {"desktop": result("testImageList.txt (200 faces)", 0.034),
                                  "pi": result("testImageList.txt (200 faces)", 0.031)}, {}, "cmd")
    assert "different test faces" not in same


SHIPPED = Path(__file__).resolve().parents[1] / "exported" / "mobilenetv2_96"


def test_a_device_name_that_climbs_out_of_the_fleet_folder_writes_nothing(tmp_path):
    """``name: ../victim`` was the device's result folder: it wrote beside the fleet folder and
    replaced another run's results.md. Now the devices file is refused, naming its line, and
    nothing is written anywhere."""
    if not (SHIPPED / "onnx-int8" / "manifest.json").exists():
        pytest.skip(f"{SHIPPED}/onnx-int8 is not here")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "results.md").write_text("another run's table\n")
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - name: here\n    local: cpu\n  - name: ../victim\n    local: cpu\n")
    out = tmp_path / "fleet"
    done = _fleet("--model", SHIPPED / "onnx-int8", "--devices", devices, "--warmup", "1", "--min-runs", "3", "--min-seconds", "0.01",
                  "--detector", "none", "--out", out, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert "devices.yaml:4: device name '../victim' is not a plain folder name" in said, said
    assert (victim / "results.md").read_text() == "another run's table\n" and sorted(p.name for p in victim.iterdir()) == ["results.md"]
    assert not out.exists()


def test_run_fleet_refuses_a_device_made_in_code_with_a_path_for_a_name(tmp_path):
    from edgemark.bench.fleet import Device, run_fleet

    with pytest.raises(EdgemarkError, match=r"device name '\.\./x' is not a plain folder name"):
        run_fleet([Device("../x", local="cpu")], tmp_path, [], {"command": ""}, None, tmp_path / "fleet")
    assert not (tmp_path / "x").exists() and not (tmp_path / "fleet").exists()


def test_fleet_devices_get_no_pin_and_cores_and_peer_is_refused(tmp_path):
    """--no-pin used to be dropped on the way to a fleet's devices (pinned: True recorded)."""
    if not (SHIPPED / "onnx-int8" / "manifest.json").exists():
        pytest.skip(f"{SHIPPED}/onnx-int8 is not here")
    devices = tmp_path / "devices.yaml"
    devices.write_text("devices:\n  - name: here\n    local: cpu\n")
    common = ["--model", SHIPPED / "onnx-int8", "--devices", devices, "--warmup", "1", "--min-runs", "3", "--min-seconds", "0.01",
              "--detector", "none"]
    done = _fleet(*common, "--no-pin", "--out", tmp_path / "a", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "a" / "here" / "results.json").read_text())
    assert results["settings"]["pinned"] is False and [r["pinned_cores"] for r in results["rows"]] == [None]
    assert "runs not pinned to cores (--no-pin)" in (tmp_path / "a" / "here" / "results.md").read_text()
    core = sorted(os.sched_getaffinity(0))[-1]
    done = _fleet(*common, "--cores", str(core), "--out", tmp_path / "b", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "b" / "here" / "results.json").read_text())
    assert results["settings"]["cores"] == [core] and [r["pinned_cores"] for r in results["rows"]] == [[core]]
    done = _fleet(*common, "--peer", "mediapipe", "--out", tmp_path / "c", cwd=tmp_path)
    assert done.returncode == 2 and "--peer mediapipe is measured on this machine only" in " ".join(done.stderr.split())
    assert not (tmp_path / "c").exists()
