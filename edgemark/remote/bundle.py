"""The edge bundle: chosen artifacts with their manifests, a torch-free runner (a subset
of this package, the same preprocessing, predictor and pipeline code; ExecuTorch
artifacts, opt-in, are the exception: executorch's Python runtime installs and imports
torch in the device venv), the face
detector's model file (pinned, verified), an optional test subset for accuracy on the
device, and ``bundle.json`` with the SHA-256 of every file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import EdgemarkError
from ..export.manifest import read_manifest
from ..io import file_sha256, write_json_atomic

PACKAGE = Path(__file__).resolve().parents[1]
# the runner: modules that import neither torch nor typer/rich/matplotlib
RUNNER_FILES = [
    "__init__.py", "errors.py", "io.py", "optional.py", "devices.py", "preprocess.py", "scheme.py", "metrics.py", "environment.py", "x86_amx.py",
    "predict.py", "edge_cli.py", "evaluate.py", "face_measures.py", "head_pose.py", "shipped.py",
    "data/__init__.py", "data/lists.py", "data/images.py",
    "predictors/__init__.py", "predictors/base.py", "predictors/load.py", "predictors/onnx_predictor.py",
    "predictors/openvino_predictor.py", "predictors/tflite_predictor.py", "predictors/ncnn_predictor.py",
    "predictors/executorch_predictor.py", "predictors/flip.py", "augment.py", "demo/__init__.py", "demo/tracker.py", "export/__init__.py", "export/manifest.py",
    "bench/__init__.py", "bench/timing.py", "bench/worker.py", "bench/run.py", "bench/gpu.py", "bench/accuracy.py",
    "pipeline.py", "detect/__init__.py", "detect/detection.py", "detect/model_files.py", "detect/blazeface.py",
    "detect/haar.py", "detect/yunet.py", "remote/__init__.py", "remote/bundle.py",
    "profile/__init__.py", "profile/run.py", "profile/layers.py", "profile/xnnpack.py", "profile/litert.py", "profile/onnx.py",
    "profile/openvino.py", "profile/executorch.py",
    "schemes/cuhk5.yaml", "schemes/ibug68.yaml", "schemes/wflw98.yaml",
]
# ai-edge-litert runs the BlazeFace face detector, whatever the landmark artifacts' runtime
BASE_REQUIREMENTS = ["numpy>=1.24", "opencv-python-headless>=4.9,<5", "psutil>=5.9", "ai-edge-litert"]
DETECTOR_FILES = ["face_detection_short_range.tflite", "face_detection_full_range_sparse.tflite"]
MODELS_NOTICE = """The face detector models in this folder are MediaPipe's BlazeFace short-range and
full-range models, Copyright The MediaPipe Authors, licensed under the Apache License,
Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0), taken unmodified from the
mediapipe 0.10.21 wheel on PyPI (mediapipe/modules/face_detection/).
"""
RUNTIME_REQUIREMENTS = {"onnx": ["onnxruntime"], "openvino": ["openvino"], "tflite": ["ai-edge-litert"], "ncnn": ["ncnn"],
                        "executorch": ["executorch"]}
# runtimes whose Python package imports torch: deployed only when named (opt-in), never with --target all
TORCH_RUNTIMES = ("executorch",)
LAUNCHER = """#!/bin/sh
# edgemark edge runner: the bundle's code on the venv's Python (no torch needed)
bundle=$(cd "$(dirname "$0")/.." && pwd)
venv=${EDGEMARK_VENV:-$(cat "$bundle/venv.path" 2>/dev/null)}
EDGEMARK_MODELS="$bundle/models" PYTHONPATH="$bundle/runner${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" -m edgemark.edge_cli "$@"
"""


def requirements(formats) -> list[str]:
    reqs = list(BASE_REQUIREMENTS)
    for fmt in sorted(set(formats)):
        if fmt == "torch":
            raise EdgemarkError("the edge bundle takes ONNX, OpenVINO, TFLite, NCNN and ExecuTorch artifacts; torch is not deployed")
        reqs += [r for r in RUNTIME_REQUIREMENTS[fmt] if r not in reqs]
    return reqs


def device_artifacts(artifacts: list[Path], target: str) -> tuple[list[Path], list[Path]]:
    """(artifacts to deploy, artifacts left out): never torch-fp32, and those of a runtime that
    brings torch (ExecuTorch) only when ``target`` (the --target text) names that runtime."""
    named = {t.strip() for t in target.split(",")}
    chosen, left = [], []
    for artifact in artifacts:
        if artifact.name == "torch-fp32":
            continue
        _, manifest = read_manifest(artifact, verify=False)
        (left if manifest["format"] in TORCH_RUNTIMES and manifest["format"] not in named else chosen).append(artifact)
    return chosen, left


def build_bundle(artifacts: list[Path], dest: Path, test_crops: tuple | None = None, name: str = "", frame=None,
                 extra_requirements: tuple = ()) -> dict:
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    for rel in RUNNER_FILES:
        target = dest / "runner" / "edgemark" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PACKAGE / rel, target)
    formats = []
    for artifact in artifacts:
        _, manifest = read_manifest(artifact)  # never ship a damaged export
        formats.append(manifest["format"])
        shutil.copytree(artifact, dest / "artifacts" / artifact.name, ignore=shutil.ignore_patterns("eval-*"))
    from ..detect.model_files import model_path

    (dest / "models").mkdir()
    for name in DETECTOR_FILES:  # verified against the pinned hash on the way in
        shutil.copy2(model_path(name), dest / "models" / name)
    (dest / "models" / "NOTICE").write_text(MODELS_NOTICE)
    if test_crops is not None:
        crops, mats, truth, label = test_crops
        extra = {"frame": frame} if frame is not None else {}
        np.savez(dest / "testset.npz", crops=crops, mats=mats, truth=truth, name=np.array(label), **extra)
    (dest / "bin").mkdir()
    (dest / "bin" / "edgemark").write_text(LAUNCHER)
    (dest / "bin" / "edgemark").chmod(0o755)
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    reqs = requirements(formats)
    info = {"name": name, "artifacts": [a.name for a in artifacts], "requirements": reqs + [r for r in extra_requirements if r not in reqs],
            "brings_torch": sorted(set(formats) & set(TORCH_RUNTIMES)),
            "files": {str(p.relative_to(dest)): file_sha256(p) for p in files}}
    write_json_atomic(dest / "bundle.json", info)
    return info


def _inside(root: Path, folder: Path, rel, source: Path) -> Path:
    """``folder / rel`` when ``rel`` (a name listed in ``source``) is relative and stays in the
    bundle folder ``root`` (no ``..``, not absolute, no symlink out); else an EdgemarkError."""
    if not isinstance(rel, str) or not rel or not rel.isprintable() or "\\" in rel:
        raise EdgemarkError(f"{source}: {rel!r} is not a file name inside the bundle; deploy again")
    if PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
        raise EdgemarkError(f"{source}: {rel!r} leaves the bundle folder; deploy again")
    path = folder / rel
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        raise EdgemarkError(f"{source}: {rel!r} is a symlink loop; deploy again") from None
    if not resolved.is_relative_to(root):
        raise EdgemarkError(f"{source}: {rel!r} leads out of the bundle folder (a symlink); deploy again")
    return path


def _artifact_folder(root: Path, bundle: Path, name, source: Path) -> Path:
    if not isinstance(name, str) or "/" in name or name in ("", ".", ".."):
        raise EdgemarkError(f"{source}: artifact {name!r} is not a folder name under artifacts/; deploy again")
    folder = _inside(root, bundle, f"artifacts/{name}", source)
    # read_manifest hashes the files the artifact's manifest lists: they must be in the bundle too
    manifest = _inside(root, folder, "manifest.json", source)
    try:
        listed = json.loads(manifest.read_text()).get("files")
    except (OSError, ValueError, RecursionError, AttributeError):
        listed = None  # missing or malformed: read_manifest names the problem
    for rel in listed if isinstance(listed, dict) else ():
        _inside(root, folder, rel, manifest)
    return folder


def _hash_matches(path: Path, digest) -> bool:
    try:
        return path.is_file() and file_sha256(path) == digest
    except OSError:  # unreadable: as good as missing
        return False


def verify_bundle(bundle: Path) -> dict:
    """Every file listed in bundle.json is there with its hash, and every artifact's manifest
    holds. Nothing outside the bundle folder is read: a listed name that leaves it is an error."""
    bundle = Path(bundle)
    root = bundle.resolve()
    source = _inside(root, bundle, "bundle.json", bundle / "bundle.json")
    try:
        info = json.loads(source.read_text())
    except (OSError, ValueError, RecursionError) as e:  # ValueError: bad JSON or UTF-8
        raise EdgemarkError(f"{bundle}: no valid bundle.json ({type(e).__name__}: {e}); deploy again") from None
    if not isinstance(info, dict) or not isinstance(info.get("files"), dict) or not isinstance(info.get("artifacts"), list):
        raise EdgemarkError(f"{source}: expected an object with a 'files' map and an 'artifacts' list; deploy again")
    files = {rel: _inside(root, bundle, rel, source) for rel in info["files"]}
    artifacts = [_artifact_folder(root, bundle, name, source) for name in info["artifacts"]]
    bad = [rel for rel, digest in info["files"].items() if not _hash_matches(files[rel], digest)]
    if bad:
        raise EdgemarkError(f"{bundle}: {len(bad)} files missing or changed after the copy (first: {bad[0]}); deploy again")
    for folder in artifacts:
        read_manifest(folder)
    return {"bundle": str(bundle), "files": len(info["files"]), "artifacts": info["artifacts"], "ok": True}
