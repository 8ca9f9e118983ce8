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

from .. import __version__
from ..errors import EdgemarkError
from ..io import file_sha256, write_json_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
REQUIRED = ("manifest_version", "format", "precision", "model_file", "files", "input", "output", "crop", "scheme")
FORMATS = ("torch", "onnx", "openvino", "tflite")
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
    if manifest["format"] not in FORMATS or manifest["precision"] not in PRECISIONS:
        raise EdgemarkError(f"{manifest_path}: unknown format/precision {manifest['format']}/{manifest['precision']}")
    if manifest["model_file"] not in manifest["files"]:
        raise EdgemarkError(f"{manifest_path}: model_file {manifest['model_file']} is not among the hashed files")
    if verify:
        for name, info in manifest["files"].items():
            file = folder / name
            if not file.is_file():
                raise EdgemarkError(f"{folder}: {name} is listed in the manifest but missing")
            if file.stat().st_size != info["bytes"] or file_sha256(file) != info["sha256"]:
                raise EdgemarkError(f"{file}: does not match the SHA-256 in {MANIFEST_NAME} (truncated or modified); export it again")
    return folder, manifest
