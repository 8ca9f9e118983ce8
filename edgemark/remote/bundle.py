"""The edge bundle: chosen artifacts with their manifests, a torch-free runner (a subset
of this package, the same preprocessing and predictor code), an optional test subset
for accuracy on the device, and ``bundle.json`` with the SHA-256 of every file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..errors import EdgemarkError
from ..export.manifest import read_manifest
from ..io import file_sha256, write_json_atomic

PACKAGE = Path(__file__).resolve().parents[1]
# the runner: modules that import neither torch nor typer/rich/matplotlib
RUNNER_FILES = [
    "__init__.py", "errors.py", "io.py", "optional.py", "preprocess.py", "scheme.py", "metrics.py", "environment.py",
    "predict.py", "edge_cli.py", "evaluate.py", "data/__init__.py", "data/lists.py", "data/images.py",
    "predictors/__init__.py", "predictors/base.py", "predictors/load.py", "predictors/onnx_predictor.py",
    "predictors/openvino_predictor.py", "predictors/tflite_predictor.py", "export/__init__.py", "export/manifest.py",
    "bench/__init__.py", "bench/timing.py", "bench/worker.py", "bench/run.py", "bench/gpu.py",
    "demo/__init__.py", "demo/detector.py", "remote/__init__.py", "remote/bundle.py",
    "schemes/cuhk5.yaml", "schemes/ibug68.yaml", "schemes/wflw98.yaml",
]
BASE_REQUIREMENTS = ["numpy>=1.24", "opencv-python-headless>=4.9,<5", "psutil>=5.9"]
RUNTIME_REQUIREMENTS = {"onnx": ["onnxruntime"], "openvino": ["openvino"], "tflite": ["ai-edge-litert"]}
LAUNCHER = """#!/bin/sh
# edgemark edge runner: the bundle's code on the venv's Python (no torch needed)
bundle=$(cd "$(dirname "$0")/.." && pwd)
venv=${EDGEMARK_VENV:-$(cat "$bundle/venv.path" 2>/dev/null)}
PYTHONPATH="$bundle/runner${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" -m edgemark.edge_cli "$@"
"""


def requirements(formats) -> list[str]:
    reqs = list(BASE_REQUIREMENTS)
    for fmt in sorted(set(formats)):
        if fmt == "torch":
            raise EdgemarkError("the edge bundle takes ONNX, OpenVINO and TFLite artifacts; torch is not deployed")
        reqs += RUNTIME_REQUIREMENTS[fmt]
    return reqs


def build_bundle(artifacts: list[Path], dest: Path, test_crops: tuple | None = None, name: str = "") -> dict:
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
    if test_crops is not None:
        crops, mats, truth, label = test_crops
        np.savez(dest / "testset.npz", crops=crops, mats=mats, truth=truth, name=np.array(label))
    (dest / "bin").mkdir()
    (dest / "bin" / "edgemark").write_text(LAUNCHER)
    (dest / "bin" / "edgemark").chmod(0o755)
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    info = {"name": name, "artifacts": [a.name for a in artifacts], "requirements": requirements(formats),
            "files": {str(p.relative_to(dest)): file_sha256(p) for p in files}}
    write_json_atomic(dest / "bundle.json", info)
    return info


def verify_bundle(bundle: Path) -> dict:
    """Every file listed in bundle.json is there with its hash, and every artifact's manifest holds."""
    bundle = Path(bundle)
    try:
        info = json.loads((bundle / "bundle.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EdgemarkError(f"{bundle}: no valid bundle.json ({e}); deploy again") from None
    bad = [rel for rel, digest in info["files"].items() if not (bundle / rel).is_file() or file_sha256(bundle / rel) != digest]
    if bad:
        raise EdgemarkError(f"{bundle}: {len(bad)} files missing or changed after the copy (first: {bad[0]}); deploy again")
    for name in info["artifacts"]:
        read_manifest(bundle / "artifacts" / name)
    return {"bundle": str(bundle), "files": len(info["files"]), "artifacts": info["artifacts"], "ok": True}
