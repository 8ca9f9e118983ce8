"""Deploy to a real OpenSSH server on loopback (a stand-in for a Raspberry Pi): a
separate directory and a venv without torch, remote predict and bench through SSH, and
the failures a user meets: wrong key, unknown host key, a server killed mid-copy."""

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from edgemark.errors import EdgemarkError
from sshd import SSHD, LoopbackSshd

pytestmark = [pytest.mark.skipif(not Path(SSHD).exists(), reason="needs an OpenSSH server (apt-get install openssh-server; .ci/run does)"),
              pytest.mark.usefixtures("detector_models")]
BASE_PYTHON = str(Path(sys.base_prefix) / "bin" / "python3")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    return tmp_path_factory.mktemp("device")


def edgemark(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "edgemark", *map(str, args)], capture_output=True, text=True, timeout=timeout)


def ssh(server, *remote):
    import shlex

    return subprocess.run(["ssh", "-F", str(server.config), "-o", "BatchMode=yes", "edgedevice", shlex.join(map(str, remote))],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def deployed(sshd, device, exported, small_lists):
    done = edgemark("deploy", "--model", exported[0], "--target", "onnx", "--precision", "fp32,int8", "--host", "edgedevice",
                    "--ssh-config", sshd.config, "--python", BASE_PYTHON, "--remote-dir", device / "edgemark",
                    "--data", small_lists, "--test-faces", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    return device / "edgemark" / "bundles" / "tiny"


def test_deploy_copies_a_verified_bundle_and_a_venv_without_torch(deployed, sshd, device):
    assert sorted(p.name for p in (deployed / "artifacts").iterdir()) == ["onnx-fp32", "onnx-int8"]
    info = json.loads((deployed / "bundle.json").read_text())
    assert "onnxruntime" in info["requirements"] and not any("torch" in r for r in info["requirements"])
    venv_python = device / "edgemark" / "venv" / "bin" / "python"
    no_torch = ssh(sshd, venv_python, "-c", "import torch")
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    assert ssh(sshd, venv_python, "-c", "import onnxruntime, cv2, numpy").returncode == 0
    assert not list((device / "edgemark" / "bundles").glob(".incoming-*"))


def test_predict_on_the_device_runs_the_pipeline(deployed, sshd, small_lists, exported, tmp_path):
    import cv2

    from edgemark import load_pipeline
    from edgemark.data.lists import read_list

    assert (deployed / "models" / "face_detection_short_range.tflite").is_file()  # the bundle carries the detector
    record = read_list(small_lists / "testImageList.txt").records[0]
    image = cv2.imread(str(record.image_path))
    runner = deployed / "bin" / "edgemark"
    # the detector on the device: every face, with the same landmarks as the host's pipeline
    done = ssh(sshd, runner, "predict", "--model", deployed / "artifacts" / "onnx-int8", record.image_path,
               "--out", deployed.parent / "drawn.png")
    assert done.returncode == 0, done.stderr
    remote = json.loads(done.stdout)
    assert remote["detector"] == "blazeface" and remote["faces"]
    local = load_pipeline(exported[0] / "onnx-int8")(image)
    assert len(remote["faces"]) == len(local)
    l, t, r, b = remote["faces"][0]["box"]
    cx, cy = record.landmarks.mean(axis=0)
    assert l < cx < r and t < cy < b  # the face found is the labelled one
    np.testing.assert_allclose(np.array(list(remote["faces"][0]["landmarks"].values())), local[0].landmarks, atol=0.02)
    assert (deployed.parent / "drawn.png").stat().st_size > 0
    # a given box: no detector, refinement still applies
    box = ",".join(f"{v:.1f}" for v in record.box)
    done = ssh(sshd, runner, "predict", "--model", deployed / "artifacts" / "onnx-int8", record.image_path, "--box", box)
    assert done.returncode == 0, done.stderr
    given = load_pipeline(exported[0] / "onnx-int8", detector=None)(image, tuple(float(v) for v in box.split(",")))
    np.testing.assert_allclose(np.array(list(json.loads(done.stdout)["faces"][0]["landmarks"].values())), given[0].landmarks,
                               atol=0.02)
    # no face: nothing made up, exit status 1
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((480, 640, 3), 128, np.uint8))
    done = ssh(sshd, runner, "predict", "--model", deployed / "artifacts" / "onnx-int8", blank)
    assert done.returncode == 1 and json.loads(done.stdout)["faces"] == [] and "no face found" in done.stderr


def test_remote_bench_brings_results_back(deployed, sshd, device, exported, small_lists, tmp_path):
    out = tmp_path / "remote"
    done = edgemark("bench", "--model", exported[0], "--target", "onnx", "--precision", "int8", "--device", "ssh://edgedevice",
                    "--ssh-config", sshd.config, "--python", BASE_PYTHON, "--remote-dir", device / "edgemark", "--data", small_lists,
                    "--accuracy-faces", "20", "--warmup", "2", "--min-runs", "20", "--min-seconds", "0.2", "--out", out,
                    "--rounds", "2", "--no-amx")
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["device"] == "ssh://edgedevice"
    # --rounds and --no-amx reach the device's runner: two rounds per row, AMX refused where the CPU has it
    from edgemark import x86_amx

    assert results["settings"]["rounds"] == 2 and all(len(r["p50_rounds_ms"]) == 2 for r in results["rows"])
    assert results["settings"]["amx"] == ("denied to every worker (--no-amx)" if x86_amx.cpu_has_amx() else "not on this CPU")
    assert results["machine"]["cpu"] and results["machine"]["cores"] >= 1 and "distribution" in results["machine"]
    assert results["throttle_before"] and results["throttle_after"]
    (row,) = results["rows"]
    assert row["artifact"] == "onnx-int8" and 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
    # the pipeline on the device: the bundled detector alone, and with the artifact, per 640x480 frame
    pipeline = {(r["detector"], r["artifact"], bool(r.get("tracked"))): r for r in results["pipeline_rows"]}
    assert set(pipeline) == {("blazeface", None, False), ("blazeface", "onnx-int8", False), ("blazeface", "onnx-int8", True)}
    # a tracked frame on the device too; this two-epoch model's landmarks lose the track, so the row counts its re-detections
    assert isinstance(pipeline[("blazeface", "onnx-int8", True)]["detector_runs_while_timed"], int)
    assert all(r["faces_found"] == 1 and r["p50_ms"] > 0 for r in pipeline.values())
    # accuracy measured on the device on the shipped subset equals the host's on the same faces
    from edgemark import load_predictor
    from edgemark.data.lists import read_list
    from edgemark.evaluate import evaluate

    faces = read_list(small_lists / "testImageList.txt")
    faces.records = faces.records[:20]
    assert row["nme"] == pytest.approx(evaluate(load_predictor(exported[0] / "onnx-int8"), faces)["nme"], rel=1e-5)
    # and its drop, against this machine's torch fp32 on the same faces (torch is never deployed)
    torch_nme = evaluate(load_predictor(exported[0] / "torch-fp32"), faces)["nme"]
    assert results["accuracy_reference"]["nme"] == pytest.approx(torch_nme, rel=1e-5)
    assert row["nme_drop_pp"] == pytest.approx((row["nme"] - torch_nme) * 100, abs=1e-6)
    assert (out / "results.md").exists()
    # merged with a local run of the same artifact: one table, device against host
    local = tmp_path / "local"
    done = edgemark("bench", "--model", exported[0] / "onnx-int8", "--warmup", "2", "--min-runs", "20", "--min-seconds", "0.2",
                    "--out", local, "--data", small_lists, "--accuracy-faces", "20")
    assert done.returncode == 0, done.stderr
    done = edgemark("bench", "compare", local, out)
    assert done.returncode == 0 and "onnx-int8" in done.stdout


def test_ncnn_bundle_runs_torch_free_on_the_device(deployed, sshd, device, small_lists, tmp_path):
    """The shipped model's NCNN int8 artifact through deploy and bench --device ssh://: the
    device venv gets the ncnn wheel and still no torch; landmarks and NME match the host's."""
    from edgemark import load_pipeline, load_predictor
    from edgemark.data.lists import read_list
    from edgemark.evaluate import evaluate

    artifact = Path(__file__).resolve().parents[1] / "exported" / "mobilenetv2_96" / "ncnn-int8"
    if not (artifact / "manifest.json").exists():
        pytest.skip(f"{artifact} is not here")
    out = tmp_path / "ncnn"
    done = edgemark("bench", "--model", artifact, "--device", "ssh://edgedevice", "--ssh-config", sshd.config, "--python", BASE_PYTHON,
                    "--remote-dir", device / "edgemark", "--data", small_lists, "--accuracy-faces", "20", "--warmup", "2",
                    "--min-runs", "20", "--min-seconds", "0.2", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    (row,) = results["rows"]
    assert row["artifact"] == "ncnn-int8" and row["format"] == "ncnn" and row["p50_ms"] > 0 and "ncnn" in row["provider"]
    faces = read_list(small_lists / "testImageList.txt")
    faces.records = faces.records[:20]
    assert row["nme"] == pytest.approx(evaluate(load_predictor(artifact), faces)["nme"], rel=1e-5)
    venv_python = device / "edgemark" / "venv" / "bin" / "python"
    assert ssh(sshd, venv_python, "-c", "import ncnn").returncode == 0
    no_torch = ssh(sshd, venv_python, "-c", "import torch")
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    bundle = next(p for p in (device / "edgemark" / "bundles").iterdir() if (p / "artifacts" / "ncnn-int8").is_dir())
    assert "ncnn" in json.loads((bundle / "bundle.json").read_text())["requirements"]
    record = faces.records[0]
    box = ",".join(f"{v:.1f}" for v in record.box)
    done = ssh(sshd, bundle / "bin" / "edgemark", "predict", "--model", bundle / "artifacts" / "ncnn-int8", record.image_path, "--box", box)
    assert done.returncode == 0, done.stderr
    import cv2

    local = load_pipeline(artifact, detector=None)(cv2.imread(str(record.image_path)), tuple(float(v) for v in box.split(",")))
    np.testing.assert_allclose(np.array(list(json.loads(done.stdout)["faces"][0]["landmarks"].values())), local[0].landmarks, atol=0.02)


@pytest.fixture
def home_bundle(sshd, exported, tmp_path):
    """An export folder with a name of its own (its bundle lands in the login user's real
    ~/edgemark/bundles/NAME) and, afterwards, that bundle removed: ~/edgemark itself and its
    venv only when this test created them and no other bundle is there."""
    model = tmp_path / f"readme-{uuid.uuid4().hex[:8]}"
    model.mkdir()
    shutil.copytree(exported[0] / "onnx-int8", model / "onnx-int8")
    login = ssh(sshd, "pwd")
    assert login.returncode == 0, login.stderr
    remote = Path(login.stdout.strip()) / "edgemark"
    existed = remote.exists()
    yield model, remote
    bundles = remote / "bundles"
    for leftover in (model.name, f".incoming-{model.name}", f"{model.name}.old"):
        shutil.rmtree(bundles / leftover, ignore_errors=True)
    if not existed and not (bundles.is_dir() and any(bundles.iterdir())):
        shutil.rmtree(remote, ignore_errors=True)


def test_readme_deploy_bench_predict_with_an_alias_and_the_default_remote_dir(home_bundle, sshd, small_lists, tmp_path):
    """The README's Pi commands as a user types them: an ssh_config alias (~/.ssh/config there,
    --ssh-config here), no --remote-dir (so ~/edgemark, a relative path on the device), no
    --python; only shortening options added."""
    model, remote = home_bundle
    name = model.name
    done = edgemark("deploy", "--model", model, "--target", "onnx", "--precision", "int8", "--host", "edgedevice",
                    "--ssh-config", sshd.config)
    assert done.returncode == 0, done.stdout + done.stderr
    bundle = remote / "bundles" / name
    assert (bundle / "venv.path").read_text().strip() == str(remote / "venv")
    assert not list((remote / "bundles").glob(f".incoming-{name}"))
    from edgemark.data.lists import read_list

    out = tmp_path / "pi"
    done = edgemark("bench", "--model", model, "--target", "onnx", "--precision", "int8", "--device", "ssh://edgedevice",
                    "--ssh-config", sshd.config, "--data", small_lists, "--accuracy-faces", "20", "--warmup", "2",
                    "--min-runs", "20", "--min-seconds", "0.2", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "results.json").read_text())
    (row,) = results["rows"]
    assert results["device"] == "ssh://edgedevice" and row["artifact"] == "onnx-int8"
    from edgemark import load_predictor
    from edgemark.evaluate import evaluate

    first20 = read_list(small_lists / "testImageList.txt")
    first20.records = first20.records[:20]
    assert row["nme"] == pytest.approx(evaluate(load_predictor(model / "onnx-int8"), first20)["nme"], rel=1e-5)
    # no torch-fp32 in this export folder: no reference, so no drop rather than a made-up one
    assert row.get("nme_drop_pp") is None and "accuracy_reference" not in results
    # the README's remote predict, every path relative to the login directory

    photo = read_list(small_lists / "testImageList.txt").records[0].image_path
    rel = f"edgemark/bundles/{name}"
    copied = subprocess.run(["scp", "-F", str(sshd.config), "-o", "BatchMode=yes", str(photo), f"edgedevice:{rel}/face.jpg"],
                            capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr
    done = ssh(sshd, f"{rel}/bin/edgemark", "predict", "--model", f"{rel}/artifacts/onnx-int8", f"{rel}/face.jpg",
               "--out", f"{rel}/face_landmarks.png")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["faces"] and (bundle / "face_landmarks.png").stat().st_size > 0


def test_wrong_key_and_unknown_host_key_are_clear_errors(sshd, device, exported):
    common = ["deploy", "--model", exported[0] / "onnx-fp32", "--host", "edgedevice", "--python", BASE_PYTHON,
              "--remote-dir", device / "other", "--test-faces", "0"]
    no_key = sshd.client_config("known_hosts", "no_key_config", with_key=False)
    done = edgemark(*common, "--ssh-config", no_key, "--identity", sshd.wrong_key)
    assert done.returncode == 2 and "refused the key" in done.stderr and "Traceback" not in done.stderr
    unknown = sshd.client_config("empty_known_hosts", "unknown_config")
    done = edgemark(*common, "--ssh-config", unknown)
    assert done.returncode == 2 and "host key not known" in done.stderr and "ssh-keyscan" in done.stderr
    assert not (device / "other").exists()  # nothing was written without a trusted host key


def test_server_killed_mid_copy_leaves_no_valid_bundle(sshd, device, exported):
    from edgemark.bench.run import find_artifacts
    from edgemark.remote.deploy import deploy
    from edgemark.remote.ssh import SshTarget

    target = SshTarget("edgedevice", config=str(sshd.config))
    killed = []

    def kill_halfway(sent, total):
        if sent > total // 2 and not killed:
            sshd.kill()
            killed.append(sent)

    with pytest.raises(EdgemarkError, match="no valid bundle|lost|cannot connect"):
        artifacts = [a for a in find_artifacts(exported[0], ["onnx", "openvino"], ["fp32"]) if a.name != "torch-fp32"]
        deploy(target, artifacts, "cut", str(device / "cut"), BASE_PYTHON,
               on_bytes=kill_halfway)
    assert killed
    sshd.start()
    assert not (device / "cut" / "bundles" / "cut").exists()  # only an .incoming folder, never published
    from edgemark.remote.bundle import verify_bundle

    for partial in (device / "cut" / "bundles").glob(".incoming-*"):
        with pytest.raises(EdgemarkError):
            verify_bundle(partial)


def test_every_runner_module_imports_from_the_bundle_alone(tmp_path):
    """The device runner is a list of files (remote/bundle.py RUNNER_FILES): each of its
    modules imports with that list alone on the path, without torch, so that a module a
    runner file starts to import (as evaluate.py did face_measures.py) travels with it.
    No sshd needed: the bundle's runner folder is put first on a fresh interpreter's path."""
    from edgemark.remote.bundle import RUNNER_FILES, build_bundle

    root = Path(__file__).resolve().parents[1]
    dest = tmp_path / "bundle"
    build_bundle([root / "exported" / "mobilenetv2_96" / "onnx-int8"], dest)
    modules = ["edgemark." + f[:-3].replace("/", ".").removesuffix(".__init__") for f in RUNNER_FILES if f.endswith(".py")]
    import sysconfig

    # python -S: no site, so no .pth file (the editable install's finder) can lend the repository's package
    libs = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    script = ("import sys, importlib\n"
              f"sys.path[:0] = [{str(dest / 'runner')!r}]\n"
              f"sys.path += {libs!r}\n"
              "sys.modules['torch'] = None  # an import of torch fails\n"
              f"for name in {modules!r}:\n"
              "    module = importlib.import_module(name)\n"
              f"    assert module.__file__.startswith({str(dest)!r}), module.__file__\n"
              "print('ok', len(sys.modules))\n")
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]
