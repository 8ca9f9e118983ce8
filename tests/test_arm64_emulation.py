"""ARM proof without a board: the edge bundle's runner on aarch64 under qemu user-mode
emulation (Debian's qemu-user-static, Debian's arm64 Python 3.11, PyPI's aarch64 wheels),
emulating a Cortex-A72 (Raspberry Pi 4) and a Cortex-A76 (Raspberry Pi 5). Landmarks of
every deployable artifact must match the x86 ones within the export tolerance. Timings
under emulation mean nothing and are not taken."""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgemark import load_predictor

ROOT = Path(__file__).resolve().parents[1]
SANDBOX = Path(os.environ.get("EDGEMARK_ARM64", Path.home() / ".cache" / "edgemark-arm64"))
pytestmark = [pytest.mark.skipif(not (SANDBOX / "ready").exists(),
                                 reason=f"no aarch64 sandbox at {SANDBOX}: run bash tests/arm64/prepare.sh (.ci/run does)"),
              pytest.mark.usefixtures("detector_models")]
# NCNN (torch-free, in the bundle by default) too; ExecuTorch is not emulated: its runtime brings
# torch (an aarch64 torch wheel in the sandbox and minutes per import under qemu)
ARTIFACTS = ["onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-fp16", "tflite-int8", "ncnn-fp32", "ncnn-int8"]
# export tolerance (crop-normalised): fp32 tight; quantised kernels may round differently per ISA
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-3, "int8": 2e-2}
SCRIPT = """
import sys, numpy as np, platform
from edgemark.predictors.load import load_predictor
assert platform.machine() == "aarch64", platform.machine()
crops = np.load(sys.argv[1])
out = {name: load_predictor(sys.argv[2] + "/" + name, threads=1).predict_crops(crops) for name in sys.argv[3:]}
np.savez(sys.argv[1] + ".out.npz", **out)
"""


PIPELINE_SCRIPT = """
import sys, json, numpy as np, platform, cv2
from edgemark.pipeline import load_pipeline
assert platform.machine() == "aarch64", platform.machine()
pipe = load_pipeline(sys.argv[1], threads=1)
out = []
for path in sys.argv[2:]:
    faces = pipe(cv2.imread(path))
    out.append([{"box": list(f.box), "keypoints": f.keypoints.tolist(), "landmarks": f.landmarks.tolist()} for f in faces])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, data_dir):
    from edgemark.data.lists import read_list
    from edgemark.evaluate import crop_list
    from edgemark.remote.bundle import build_bundle

    export = ROOT / "exported" / "mobilenetv2_96"
    faces = read_list(data_dir / "testImageList.txt")
    faces.records = faces.records[:24]
    crops, mats = crop_list(faces, load_predictor(export / "onnx-fp32").crop)
    dest = tmp_path_factory.mktemp("arm") / "bundle"
    build_bundle([export / name for name in ARTIFACTS], dest)
    np.save(dest.parent / "crops.npy", crops)
    return dest, dest.parent / "crops.npy", export, [str(r.image_path) for r in faces.records[:6]]


@pytest.mark.parametrize("cpu", ["cortex-a72", "cortex-a76"])
def test_runner_on_emulated_aarch64_matches_x86(bundle, cpu):
    dest, crops_file, export, _ = bundle
    env = {"PYTHONPATH": f"{dest / 'runner'}:{SANDBOX / 'site'}", "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(["qemu-aarch64-static", "-cpu", cpu, "-L", str(SANDBOX / "root"), str(SANDBOX / "root/usr/bin/python3.11"),
                           "-c", SCRIPT, str(crops_file), str(dest / "artifacts"), *ARTIFACTS],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    arm = np.load(f"{crops_file}.out.npz")
    crops = np.load(crops_file)
    for name in ARTIFACTS:
        x86 = load_predictor(export / name, threads=1).predict_crops(crops)
        assert np.abs(arm[name] - x86).max() < TOLERANCE[name.split("-")[1]], name


@pytest.mark.parametrize("cpu", ["cortex-a72", "cortex-a76"])
def test_pipeline_with_the_bundled_detector_on_emulated_aarch64_matches_x86(bundle, cpu):
    """The face detector the bundle carries (BlazeFace under LiteRT) and the whole pipeline
    find the same faces at the same places on aarch64 as here."""
    import json

    import cv2

    from edgemark import load_pipeline

    dest, _, _, photos = bundle
    env = {"PYTHONPATH": f"{dest / 'runner'}:{SANDBOX / 'site'}", "PATH": os.environ.get("PATH", ""),
           "EDGEMARK_MODELS": str(dest / "models")}
    done = subprocess.run(["qemu-aarch64-static", "-cpu", cpu, "-L", str(SANDBOX / "root"), str(SANDBOX / "root/usr/bin/python3.11"),
                           "-c", PIPELINE_SCRIPT, str(dest / "artifacts" / "tflite-int8"), *photos],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    arm = json.loads(done.stdout.strip().splitlines()[-1])
    pipe = load_pipeline(dest / "artifacts" / "tflite-int8", threads=1)
    for path, arm_faces in zip(photos, arm):
        x86_faces = pipe(cv2.imread(path))
        assert len(arm_faces) == len(x86_faces) >= 1, path
        for a, x in zip(arm_faces, x86_faces):
            scale = x.box[2] - x.box[0]
            # the float detector's kernels differ per ISA and its weighted NMS blends a dozen
            # candidates, so boxes move by up to ~0.4 % of the face here; 1 % is the bound
            assert np.abs(np.array(a["box"]) - x.box).max() < 1e-2 * scale
            assert np.abs(np.array(a["keypoints"]) - x.keypoints).max() < 1e-2 * scale
            assert np.abs(np.array(a["landmarks"]) - x.landmarks).max() < TOLERANCE["int8"] * scale


def test_litert_profile_on_emulated_aarch64_has_the_same_operators_and_layers(bundle, tmp_path):
    """`edgemark profile --device ssh://` on an ARM board runs the bundle's profile command: LiteRT's
    profiler through the aarch64 wheel's libLiteRt, each XNNPACK operator mapped to its layer. Only the
    structure is compared: times under emulation mean nothing."""
    import json

    from edgemark.profile.run import profile_artifact

    dest, _, export, _ = bundle
    out = tmp_path / "profile.json"
    env = {"PYTHONPATH": f"{dest / 'runner'}:{SANDBOX / 'site'}", "PATH": os.environ.get("PATH", ""),
           "EDGEMARK_MODELS": str(dest / "models")}
    done = subprocess.run(["qemu-aarch64-static", "-cpu", "cortex-a76", "-L", str(SANDBOX / "root"),
                           str(SANDBOX / "root/usr/bin/python3.11"), "-m", "edgemark.edge_cli", "profile", "--bundle", str(dest),
                           "--out", str(out), "--artifact", "tflite-int8", "--detector", "blazeface", "--runs", "2", "--warmup", "1"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["machine"]["machine"] == "aarch64"
    arm, detector = data["profiles"]
    x86 = profile_artifact(export / "tflite-int8", runs=2, warmup=1)
    assert [op["layer"] for op in arm["ops"]] == [op["layer"] for op in x86["ops"]]
    assert [op["kind"] for op in arm["ops"]] == [op["kind"] for op in x86["ops"]]
    assert arm["runtime"].startswith("LiteRT") and detector["input_side"] == 128 and detector["ops"]
