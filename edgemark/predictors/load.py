"""``load_predictor``: one entry point for every artifact. Reads and verifies the
manifest, then builds the predictor its format names."""

from __future__ import annotations

from pathlib import Path

from ..errors import EdgemarkError
from ..preprocess import CropSpec
from ..scheme import LandmarkScheme
from ..shipped import resolve_artifact
from .base import Predictor


# "mediapipe:cuhk5" (the default view), "mediapipe:drive23", "mediapipe:mesh468": MediaPipe's
# face landmark model from the pinned wheel, as a peer in eval, bench, demo and predict
PEER_PREFIX = "mediapipe:"


def load_predictor(path, threads: int | None = None, device: str = "cpu", tta: str | None = None) -> Predictor:
    """A predictor for an artifact folder (or its manifest.json), a training checkpoint (.pt),
    a shipped model by name (``mobilenetv2_96``, ``drive23``, ``drive23/onnx-int8``: see
    ``edgemark.shipped``), or MediaPipe's face mesh as a peer (``mediapipe:VIEW``).
    ``tta="flip"``: each face and its mirror image averaged (``predictors.flip``)."""
    if tta in (None, "none"):
        return _load_runtime(path, threads, device)
    from .flip import TTA_CHOICES, with_tta

    if tta not in TTA_CHOICES:  # before any runtime loads
        raise EdgemarkError(f"--tta must be one of {', '.join(TTA_CHOICES)}, not {tta!r}")
    return with_tta(_load_runtime(path, threads, device), tta)


def _load_runtime(path, threads: int | None, device: str) -> Predictor:
    from ..devices import parse_device
    from ..export.manifest import read_manifest

    device = parse_device(device).name  # "gpu" -> "cuda:0" (edgemark.devices); an unknown name is a named error
    if str(path).startswith(PEER_PREFIX):  # a peer, not an artifact: MediaPipe's face mesh
        from .mediapipe_mesh import MediaPipeMesh

        return MediaPipeMesh(str(path)[len(PEER_PREFIX):] or "cuhk5", threads=threads, device=device)
    path = resolve_artifact(path)  # a shipped model's name ("drive23", "mobilenetv2_96/onnx-int8") or a path
    if path.suffix == ".pt" and path.is_file():
        from .torch_predictor import TorchPredictor

        return TorchPredictor(path, threads=threads, device=device)
    folder, manifest = read_manifest(path)
    model_path = folder / manifest["model_file"]
    fmt = manifest["format"]
    if fmt == "torch":
        from .torch_predictor import TorchPredictor

        predictor = TorchPredictor(model_path, threads=threads, device=device)
    elif fmt == "onnx":
        from .onnx_predictor import OnnxPredictor

        predictor = OnnxPredictor(model_path, manifest, threads, device)
    elif fmt == "openvino":
        from .openvino_predictor import OpenVinoPredictor

        predictor = OpenVinoPredictor(model_path, manifest, threads, device)
    elif fmt == "tflite":
        from .tflite_predictor import TfLitePredictor

        predictor = TfLitePredictor(model_path, manifest, threads, device)
    elif fmt == "ncnn":
        from .ncnn_predictor import NcnnPredictor

        predictor = NcnnPredictor(model_path, manifest, threads, device)
    elif fmt == "executorch":
        from .executorch_predictor import ExecuTorchPredictor

        predictor = ExecuTorchPredictor(model_path, manifest, threads, device)
    else:
        raise EdgemarkError(f"{folder}: unknown format {fmt!r}")
    predictor.crop = CropSpec.from_dict(manifest["crop"])
    predictor.scheme = LandmarkScheme.from_dict(manifest["scheme"])
    predictor.box_rule = manifest.get("box_rule") or {}
    predictor.manifest = manifest
    predictor.description += f" {manifest['precision']}"
    return predictor
