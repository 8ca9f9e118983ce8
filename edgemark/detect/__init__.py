"""Face detection, one interface for every detector: ``detector.detect(image_bgr)`` ->
``[Detection]`` (box, score, keypoints where the detector gives them; image pixels;
every face, largest first), and ``detector.training_box_rule`` to map a detection to
the box convention the landmark model was trained on (``detection.training_box``).

Detectors: ``blazeface`` (MediaPipe BlazeFace short range, the default), ``blazeface-fast`` (its int8 build at
96 px, the 128 px float file only on frames where that finds no face: edgemark/detect/fallback.py), ``blazeface-int8`` (the same
network quantised to int8: ``python -m edgemark.detect.blazeface_int8`` builds it), ``blazeface-96``,
``blazeface-int8-96``, ``blazeface-112`` and ``blazeface-int8-112`` (those two files run at a 96 or 112 px
input instead of 128: less time per frame, small faces left to the zoom pass;
benchmarks/detector-size-2026-12-04), ``blazeface-full``
(full range, for faces far from the camera), ``blazeface-anyroll`` (short range run on the
frame turned by 0/90/180/270 degrees: faces on their side or upside down; 4x the time), ``yunet`` (needs its ONNX file) and
``haar`` (OpenCV's cascade, no model file needed)."""

from __future__ import annotations

from ..errors import EdgemarkError
from .detection import Detection, holds, largest_first, training_box

DETECTORS = ("blazeface", "blazeface-fast", "blazeface-int8", "blazeface-96", "blazeface-int8-96", "blazeface-112", "blazeface-int8-112",
             "blazeface-full", "blazeface-anyroll", "yunet", "haar")
DEFAULT_DETECTOR = "blazeface"
# our builds of MediaPipe's short-range BlazeFace network (its weights quantised, run at a smaller
# input, or both): a peer pipeline that runs that network is compared with each of them
SHORT_RANGE_BUILDS = ("blazeface", "blazeface-fast", "blazeface-int8", "blazeface-96", "blazeface-int8-96", "blazeface-112",
                      "blazeface-int8-112")
# built on this machine (python -m edgemark.detect.blazeface_int8), so not in a device bundle
NEED_INT8_BUILD = ("blazeface-fast", "blazeface-int8", "blazeface-int8-96", "blazeface-int8-112")


def detector_network(name: str) -> str:
    """The network a named detector runs: ``blazeface`` for every short-range build, else the name."""
    return "blazeface" if name in SHORT_RANGE_BUILDS else name


def load_detector(name: str = DEFAULT_DETECTOR, threads: int | None = 1, model_file=None):
    """A face detector by name; ``model_file`` is required for yunet and optional for
    blazeface (default: the pinned file from ``edgemark models fetch``)."""
    if name in ("blazeface", "blazeface-int8", "blazeface-96", "blazeface-int8-96", "blazeface-112", "blazeface-int8-112", "blazeface-full"):
        from .blazeface import VARIANTS, BlazeFaceDetector

        if model_file is None and name in NEED_INT8_BUILD:
            from .blazeface_int8 import int8_path

            model_file = int8_path()  # or an error saying how to build it
        return BlazeFaceDetector(VARIANTS[name], threads=threads, model_file=model_file)
    if name == "blazeface-fast":
        from .fallback import FallbackDetector

        if model_file is not None:
            raise EdgemarkError("the blazeface-fast detector takes no model file: it runs the int8 build (python -m "
                                "edgemark.detect.blazeface_int8) and the pinned float file (edgemark models fetch)")
        return FallbackDetector(load_detector("blazeface-int8-96", threads), load_detector("blazeface", threads), name)
    if name == "blazeface-anyroll":
        from .any_roll import AnyRollDetector
        from .blazeface import SHORT_RANGE, BlazeFaceDetector

        return AnyRollDetector(BlazeFaceDetector(SHORT_RANGE, threads=threads, model_file=model_file))
    if name == "yunet":
        from .yunet import YuNetDetector

        if model_file is None:
            raise EdgemarkError("the yunet detector needs its model file (face_detection_yunet_2023mar.onnx from the OpenCV Zoo)")
        return YuNetDetector(model_file)
    if name == "haar":
        from .haar import HaarDetector

        return HaarDetector()
    raise EdgemarkError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")


__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "NEED_INT8_BUILD", "SHORT_RANGE_BUILDS", "detector_network", "Detection", "holds", "largest_first", "load_detector", "training_box"]
