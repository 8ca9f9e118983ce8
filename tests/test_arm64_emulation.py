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
pytestmark = pytest.mark.skipif(not (SANDBOX / "ready").exists(),
                                reason=f"no aarch64 sandbox at {SANDBOX}: run bash tests/arm64/prepare.sh (.ci/run does)")
ARTIFACTS = ["onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-fp16", "tflite-int8"]
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
    return dest, dest.parent / "crops.npy", export


@pytest.mark.parametrize("cpu", ["cortex-a72", "cortex-a76"])
def test_runner_on_emulated_aarch64_matches_x86(bundle, cpu):
    dest, crops_file, export = bundle
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
