"""The manifest every artifact folder carries, and its checks.

The manifest is written last, atomically, and lists the SHA-256 of every file of the
artifact. A folder without a valid manifest, or whose files do not match it, is refused
by every loader: a half-written or edited export is never taken as valid. JSON only,
no pickle.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import EdgemarkError
from ..io import file_sha256, write_json_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
REQUIRED = ("manifest_version", "format", "precision", "model_file", "files", "input", "output", "crop", "scheme")
FORMATS = ("torch", "onnx", "openvino", "tflite", "ncnn", "executorch")
PRECISIONS = ("fp32", "fp16", "int8")


def library_versions(*names: str) -> dict:
    versions = {"edgemark": __version__, "python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_manifest(folder: Path, manifest: dict) -> dict:
    """Hash the artifact's files and write ``manifest.json`` last."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST_NAME and not p.name.startswith("."))
    manifest = {"manifest_version": MANIFEST_VERSION, **manifest,
                "files": {str(p.relative_to(folder)): {"sha256": file_sha256(p), "bytes": p.stat().st_size} for p in files},
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise ValueError(f"manifest lacks {missing}")
    write_json_atomic(folder / MANIFEST_NAME, manifest)
    return manifest


def check_fields(manifest: dict, where) -> None:
    """The fields every loader reads, with their types: a wrong one is an error naming the
    manifest, never a KeyError or TypeError later. Listed files stay inside the folder."""
    def bad(what: str) -> EdgemarkError:
        return EdgemarkError(f"{where}: {what}")

    if manifest["format"] not in FORMATS or manifest["precision"] not in PRECISIONS:
        raise bad(f"unknown format/precision {manifest['format']!r}/{manifest['precision']!r}")
    files = manifest["files"]
    if not isinstance(files, dict) or not files:
        raise bad("'files' must map file names to their SHA-256 and size")
    for name, info in files.items():
        parts = Path(name).parts
        if not name or Path(name).is_absolute() or ".." in parts or "\\" in name or "\0" in name:
            raise bad(f"file name {name!r} is not a plain path inside the artifact folder")
        if (not isinstance(info, dict) or not isinstance(info.get("sha256"), str) or len(info["sha256"]) != 64
                or not isinstance(info.get("bytes"), int) or isinstance(info.get("bytes"), bool) or info["bytes"] < 0):
            raise bad(f"file {name!r}: needs a 64-digit 'sha256' and a non-negative integer 'bytes'")
    if not isinstance(manifest["model_file"], str) or manifest["model_file"] not in files:
        raise bad(f"model_file {manifest['model_file']!r} is not among the hashed files")
    shape = manifest["input"].get("shape") if isinstance(manifest["input"], dict) else None
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)):
        raise bad("'input' needs a 'shape' of four integers")
    if not isinstance(manifest["output"], dict):
        raise bad("'output' must be an object")
    from ..preprocess import CropSpec
    from ..scheme import LandmarkScheme

    try:
        crop = CropSpec.from_dict(manifest["crop"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise bad("'crop' needs size, margin, mean and std (three values each)") from None
    if not (8 <= crop.size <= 4096 and 0 <= crop.margin < 10 and len(crop.mean) == 3 and len(crop.std) == 3
            and all(s > 0 for s in crop.std) and all(map(np.isfinite, (*crop.mean, *crop.std, crop.margin)))):
        raise bad(f"'crop' values out of range: {manifest['crop']!r}")
    if not isinstance(manifest["scheme"], dict):
        raise bad("'scheme' must be an object")
    LandmarkScheme.from_dict(manifest["scheme"])  # its own EdgemarkError
    rule = manifest.get("box_rule")
    if rule is not None and not (isinstance(rule, dict) and all(isinstance(rule.get(k), (int, float)) for k in ("dx", "dy", "side"))):
        raise bad("'box_rule' needs numbers dx, dy and side")


def read_manifest(path, verify: bool = True) -> tuple[Path, dict]:
    """(artifact folder, manifest) for a folder or its manifest.json; checks hashes."""
    path = Path(path)
    folder = path.parent if path.name == MANIFEST_NAME else path
    manifest_path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise EdgemarkError(f"{folder}: no such artifact folder")
    if not manifest_path.is_file():
        raise EdgemarkError(f"{folder}: no {MANIFEST_NAME}: not a complete edgemark export (interrupted or not an export folder)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EdgemarkError(f"{manifest_path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise EdgemarkError(f"{manifest_path}: not a manifest object")
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise EdgemarkError(f"{manifest_path}: missing fields {', '.join(missing)}")
    check_fields(manifest, manifest_path)
    if verify:
        for name, info in manifest["files"].items():
            file = folder / name
            if not file.is_file():
                raise EdgemarkError(f"{folder}: {name} is listed in the manifest but missing")
            if file.stat().st_size != info["bytes"] or file_sha256(file) != info["sha256"]:
                raise EdgemarkError(f"{file}: does not match the SHA-256 in {MANIFEST_NAME} (truncated or modified); export it again")
    return folder, manifest
