"""edgemark as users get it: the wheel built from this repository, installed with pip into a
fresh venv outside the checkout, and run from an empty folder: models by name, every main
command on the shipped models, nothing read from the clone.

One venv for the module (building it costs a pip install); each test runs commands in its
own empty folder with that venv's ``edgemark``. The detector files come from ``edgemark
models fetch`` as for any user (the shared cache, $EDGEMARK_MODELS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import pytest

from conftest import write_sublist

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("detector_models")
# what the wheel must carry of each shipped model, and only that (edgemark/shipped.py: PACKAGED_ARTIFACTS)
PACKAGED = {"torch-fp32", "tflite-int8", "onnx-int8", "openvino-int8"}
SHIPPED_FOLDERS = ("mobilenetv2_96", "mobilenetv2_96_drive23", "mobilenetv2_96_dense68")
MAX_WHEEL_MIB = 16  # three models of about 3.5 MiB compressed each, the code and the demo assets


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # from a copy of the source tree: setuptools reuses a clone's build/ folder, which may hold an older build's files
    source = tmp_path_factory.mktemp("source") / "edgemark"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__",
                                                                ".pytest_cache", ".hypothesis"))
    # what a user (or a release) runs in the clone; the venv's setuptools builds it, as pip would in isolation
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
                   check=True, capture_output=True, text=True)
    (found,) = out.glob("edgemark-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv (outside the checkout) with the wheel and its dependencies, as `pip install` gives them."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv


def user_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    return env


def python(venv: Path, cwd: Path, code: str) -> str:
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=user_env(venv), capture_output=True, text=True,
                          check=True).stdout.strip()


def edgemark(venv: Path, cwd: Path, *args, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(venv / "bin" / "edgemark"), *map(str, args)], cwd=cwd, env=user_env(venv), capture_output=True,
                          text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"edgemark {' '.join(map(str, args))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture
def empty(tmp_path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def test_the_wheel_carries_the_shipped_checkpoints_and_int8_artifacts_only(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    artifacts = {tuple(n.split("/")[2:4]) for n in names if n.startswith("edgemark/exported/") and n.count("/") >= 4}
    assert not [n for n in names if n.startswith("edgemark/shipped/")]
    for folder in SHIPPED_FOLDERS:
        assert {a for f, a in artifacts if f == folder} == PACKAGED, folder
        assert f"edgemark/exported/{folder}/README.md" in names  # the model card
        for artifact in PACKAGED:
            assert f"edgemark/exported/{folder}/{artifact}/manifest.json" in names
    assert wheel.stat().st_size < MAX_WHEEL_MIB * 2**20, f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB"


def test_installed_edgemark_runs_from_an_empty_folder(installed, empty, data_dir):
    """--version, models list, predict by default and by name, from a folder with nothing in it."""
    from edgemark import __version__

    assert edgemark(installed, empty, "--version").stdout.strip() == f"edgemark {__version__}"
    listed = edgemark(installed, empty, "models", "list").stdout
    site = python(installed, empty, "import edgemark, pathlib; print(pathlib.Path(edgemark.__file__).parent)")
    assert "mobilenetv2_96" in listed and "drive23" in listed and "dense68" in listed and "tflite int8" in listed
    assert str(ROOT) not in listed and not site.startswith(str(ROOT)), "the venv must use the installed package, not the clone"

    photo = shutil.copy(data_dir / "lfw_5590" / "Aaron_Eckhart_0001.jpg", empty / "photo.jpg")
    faces = json.loads(edgemark(installed, empty, "predict", photo).stdout)["faces"]
    assert len(faces) == 1 and list(faces[0]["landmarks"]) == ["left_eye", "right_eye", "nose_tip", "mouth_left", "mouth_right"]
    faces23 = json.loads(edgemark(installed, empty, "predict", photo, "--model", "drive23/onnx-int8").stdout)["faces"]
    assert len(faces23[0]["landmarks"]) == 23
    # the first five of drive23 are the labelled five: the two models agree on them within a few pixels
    for name in ("left_eye", "right_eye", "nose_tip"):
        (x5, y5), (x23, y23) = faces[0]["landmarks"][name], faces23[0]["landmarks"][name]
        assert abs(x5 - x23) < 6 and abs(y5 - y23) < 6, name
    assert sorted(p.name for p in empty.iterdir()) == ["photo.jpg"], "predict wrote nothing beside the photo"

    missing = edgemark(installed, empty, "predict", photo, "--model", "mobilenetv2_96/onnx-fp32", check=False)
    assert missing.returncode == 2 and "edgemark export --checkpoint mobilenetv2_96 --target onnx --precision fp32" in missing.stderr


def test_a_changed_shipped_file_is_refused(installed, empty, data_dir):
    root = Path(python(installed, empty, "import edgemark.shipped as s; print(s.shipped_root())"))
    assert root.name == "exported" and root.parent.name == "edgemark" and root.is_dir()
    model = root / "mobilenetv2_96_drive23" / "openvino-int8" / "model.bin"
    original = model.read_bytes()
    try:
        model.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        photo = shutil.copy(data_dir / "lfw_5590" / "Aaron_Eckhart_0001.jpg", empty / "photo.jpg")
        done = edgemark(installed, empty, "predict", photo, "--model", "drive23/openvino-int8", check=False)
        assert done.returncode == 2 and "does not match the SHA-256" in done.stderr and "Traceback" not in done.stderr
    finally:
        model.write_bytes(original)


def test_installed_demo_eval_bench_and_export(installed, empty, data_dir):
    from demo_video import build_video

    clip = build_video(data_dir, empty / "clip.avi")
    for model, mode in (("drive23", "drive"), ("drive23", "filters"), ("dense68", "filters")):  # dense68: the dense filters
        out = empty / f"{model}-{mode}.mp4"
        edgemark(installed, empty, "demo", "--model", model, "--mode", mode, "--source", clip, "--no-window", "--out", out)
        cap = cv2.VideoCapture(str(out))
        assert cap.read()[0], f"{out}: no frame written"

    write_sublist(data_dir, empty / "few", "testImageList.txt", 40)
    evaluated = edgemark(installed, empty, "eval", "--list", empty / "few" / "testImageList.txt", "--box", "detector").stdout
    metrics = json.loads(next((empty / "runs" / "eval").rglob("metrics.json")).read_text())
    assert metrics["nme"] < 0.06 and "NME" in evaluated

    edgemark(installed, empty, "bench", "--model", "mobilenetv2_96", "--target", "tflite", "--precision", "int8",
             "--data", data_dir, "--out", empty / "bench", "--warmup", "1", "--min-runs", "5", "--min-seconds", "0.05",
             "--accuracy-faces", "40", "--detector", "none")
    rows = json.loads((empty / "bench" / "results.json").read_text())["rows"]
    assert {r["artifact"] for r in rows} == {"torch-fp32", "tflite-int8"} and all(r["nme"] < 0.06 for r in rows)
    assert (empty / "bench" / "results.md").is_file()

    # as typed, with shortening options only: the accuracy check on 200 test faces, 50 calibration faces
    few = write_sublist(data_dir, empty / "check", "testImageList.txt", 200)
    edgemark(installed, empty, "export", "--target", "onnx", "--data", data_dir, "--test-list", few, "--calib-size", "50")
    exported = empty / "runs" / "export" / "mobilenetv2_96"
    for precision, max_drop in (("fp32", 0.01), ("fp16", 0.05), ("int8", 0.5)):
        manifest = json.loads((exported / f"onnx-{precision}" / "manifest.json").read_text())
        assert manifest["format"] == "onnx" and abs(manifest["accuracy"]["nme_drop_pp"]) < max_drop, precision
    artifact = exported / "onnx-fp32"
    # and the exported artifact runs by path like any other
    faces = json.loads(edgemark(installed, empty, "predict", data_dir / "lfw_5590" / "Aaron_Eckhart_0001.jpg",
                                "--model", artifact).stdout)["faces"]
    assert len(faces) == 1
