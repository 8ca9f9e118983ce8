"""The shipped landmark models, found by name from any folder.

A ``--model`` (or ``load_predictor``/``load_pipeline`` argument) is one of:

- a path that exists (an artifact folder, its ``manifest.json``, an export folder, a ``.pt``
  checkpoint): taken as it is, as always;
- a shipped model's name, ``mobilenetv2_96`` (the 5-point default), ``drive23`` (23
  points: the labelled five, eyelids and lips) or ``dense68`` (73 points: the labelled five,
  then the 68 iBUG 300-W points), meaning its default artifact (int8 TFLite)
  where one artifact is wanted, and every shipped artifact of it where a folder is (bench);
- ``NAME/ARTIFACT``, e.g. ``drive23/onnx-int8``: that artifact of a shipped model.

Where the shipped models live: inside the installed package (``edgemark/exported/``, the
wheel's copy of the repository's ``exported/``), or, in a clone, the ``exported/`` folder
beside the package. The installed package carries each model's card, its checkpoint
(``torch-fp32``, from which ``edgemark export`` rebuilds every other artifact) and its int8
artifacts for the three core runtimes (``tflite-int8``, ``onnx-int8``, ``openvino-int8``):
about 4.5 MiB a model, so the wheel stays small. A clone has every format and precision.

Every load still verifies each file against the SHA-256 in its manifest: a shipped model
file that changed is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import EdgemarkError


@dataclass(frozen=True)
class ShippedModel:
    name: str  # what users type
    folder: str  # its folder under exported/ (in a clone and inside the installed package)
    summary: str
    aliases: tuple[str, ...] = ()


SHIPPED_MODELS = (
    ShippedModel("mobilenetv2_96", "mobilenetv2_96",
                 "MobileNetV2 x0.5, 96 px crops, the 5 CUHK points (eyes, nose tip, mouth corners): the default"),
    ShippedModel("drive23", "mobilenetv2_96_drive23",
                 "the same network with 23 points: the labelled five, eyelids and lips (drive mode's eye closure and yawns)",
                 aliases=("mobilenetv2_96_drive23",)),
    ShippedModel("dense68", "mobilenetv2_96_dense68",
                 "the same network with 73 points: the labelled five, then the 68 iBUG 300-W points taught by MediaPipe's "
                 "face mesh (the dense face filters)", aliases=("mobilenetv2_96_dense68",)),
)
DEFAULT_MODEL = "mobilenetv2_96"
DEFAULT_ARTIFACT = "tflite-int8"  # what predict, demo and eval run unless told otherwise
CHECKPOINT_ARTIFACT = "torch-fp32"  # holds model.pt, the training checkpoint that export starts from
# what the installed package carries of each model (pyproject.toml's package-data says the same)
PACKAGED_ARTIFACTS = (CHECKPOINT_ARTIFACT, "tflite-int8", "onnx-int8", "openvino-int8")


def shipped_root() -> Path | None:
    """The folder holding the shipped models: the installed package's ``exported/``, else a
    clone's ``exported/`` beside the package; None when neither is there."""
    package = Path(__file__).resolve().parent
    for root in (package / "exported", package.parent / "exported"):
        if root.is_dir() and any((root / m.folder).is_dir() for m in SHIPPED_MODELS):
            return root
    return None


def find_shipped(name: str) -> ShippedModel | None:
    for model in SHIPPED_MODELS:
        if name == model.name or name in model.aliases:
            return model
    return None


def shipped_folder(model: ShippedModel) -> Path:
    root = shipped_root()
    if root is None or not (root / model.folder).is_dir():
        raise EdgemarkError(f"model {model.name!r}: its files are not installed with this edgemark "
                            f"(looked in {Path(__file__).resolve().parent / 'exported'}); reinstall edgemark")
    return root / model.folder


def shipped_artifacts(model: ShippedModel) -> list[str]:
    """The artifact folders of a shipped model that are here (with a manifest), sorted."""
    folder = shipped_folder(model)
    return sorted(p.parent.name for p in folder.glob("*/manifest.json"))


def _split(spec) -> tuple[ShippedModel, str | None] | None:
    """(model, artifact or None) when ``spec`` names a shipped model rather than an existing path."""
    text = str(spec)
    if Path(text).exists():
        return None
    name, _, artifact = text.partition("/")
    model = find_shipped(name)
    if model is None or "/" in artifact:
        return None
    return model, artifact or None


def _artifact(model: ShippedModel, artifact: str) -> Path:
    from .export.manifest import FORMATS, PRECISIONS

    path = shipped_folder(model) / artifact
    if not (path / "manifest.json").is_file():
        message = f"{model.name}/{artifact}: not among the artifacts of {model.name} here ({', '.join(shipped_artifacts(model))})"
        target, _, precision = artifact.partition("-")
        if target in FORMATS and target != "torch" and precision in PRECISIONS:
            message += (f"; build it from the shipped checkpoint: edgemark export --checkpoint {model.name} --target {target} "
                        f"--precision {precision}, then pass --model runs/export/{model.folder}/{artifact}")
        raise EdgemarkError(message)
    return path


def resolve_artifact(spec) -> Path:
    """One artifact (folder) or checkpoint: a path as given, a shipped model's default
    artifact by name, or ``NAME/ARTIFACT``."""
    found = _split(spec)
    if found is None:
        return Path(spec)
    model, artifact = found
    return _artifact(model, artifact or DEFAULT_ARTIFACT)


def resolve_export_folder(spec) -> Path:
    """What bench and deploy take: a path as given, a shipped model's folder (every artifact
    of it here) by name, or one artifact by ``NAME/ARTIFACT``."""
    found = _split(spec)
    if found is None:
        return Path(spec)
    model, artifact = found
    return _artifact(model, artifact) if artifact else shipped_folder(model)


def resolve_checkpoint(spec) -> Path:
    """What export, train --init and --teacher take: a path as given, or a shipped model's
    training checkpoint by name."""
    found = _split(spec)
    if found is None:
        return Path(spec)
    model, artifact = found
    if artifact not in (None, CHECKPOINT_ARTIFACT):
        raise EdgemarkError(f"{spec}: a checkpoint is wanted here; pass the model's name alone ({model.name})")
    return _artifact(model, CHECKPOINT_ARTIFACT) / "model.pt"


def inside_installed_package(path) -> bool:
    """Whether ``path`` lies inside the installed package (its shipped models included): never written to."""
    try:
        return Path(path).resolve().is_relative_to(Path(__file__).resolve().parent)
    except OSError:
        return False


def is_shipped_path(path) -> bool:
    """Whether ``path`` lies inside the shipped models' folder (nothing is ever written there)."""
    root = shipped_root()
    if root is None:
        return False
    try:
        return Path(path).resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def shipped_name(path) -> str | None:
    """The shipped model's folder name when ``path`` is one of its files or artifacts."""
    root = shipped_root()
    if root is None or not is_shipped_path(path):
        return None
    return Path(path).resolve().relative_to(root.resolve()).parts[0]
