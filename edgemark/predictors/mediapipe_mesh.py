"""MediaPipe's face landmark model (the 468-point face mesh) as a ``Predictor``: a peer
row in evaluation and benchmarks, and the teacher of ``edgemark data pseudo-label``.

The model file is ``face_landmark.tflite`` from the pinned mediapipe wheel
(``detect/model_files.py``, fetched once with ``edgemark models fetch``), run by LiteRT.
It takes a 192x192 RGB crop scaled to [0, 1] and gives 468 (x, y, z) in input pixels,
x and y measured from the crop's top-left edge (MediaPipe normalises by dividing by
192), which is our crop-normalised convention times 192.

Its crop: a square 1.7x the side of the 5-point training box, same centre
(``CropSpec(margin=0.7)``: ``preprocess.square_box`` takes ``max(w, h) * (1 + margin)``).
Measured on 300 CUHK test faces, upright crops, 5-point NME by margin: 0.5: 5.18 %,
0.6: 4.79 %, 0.7: 4.70 %, 0.8: 4.71 %, 0.9: 4.85 % (tighter crops shrink the mesh).
On all 2,027 test faces with the given boxes: 5.04 % plain, 4.78 % upright (crop turned
by the labelled eye line).

Views: ``mesh468`` (every mesh point: for teaching), or a landmark scheme that
``MESH_POINTS`` maps the mesh onto (``cuhk5``: the peer row; ``drive23``).
"""

from __future__ import annotations

import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from ..preprocess import CropSpec
from ..scheme import LandmarkScheme, load_scheme
from .base import Predictor

MODEL_NAME = "face_landmark.tflite"
MESH_SIZE = 468
CROP = CropSpec(size=192, margin=0.7, mean=(0.0, 0.0, 0.0), std=(255.0, 255.0, 255.0))

# The eyelid contours, p1..p6 of the eye aspect ratio, image-left eye first. Checked on
# 300 upright CUHK test faces (report of issue 16): 33/263 are the outer eye corners and
# 133/362 the inner ones (each the leftmost/rightmost of its six on every face); 160, 158
# upper lid and 153, 144 lower lid of the image-left eye, 385, 387 / 373, 380 of the
# image-right eye; 82, 13, 312 upper and 87, 14, 317 lower inner lip, image left to right.
MESH_EYES = ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380))
# Each scheme point as the mean of these mesh points. The eye centre is the mean of the six
# lid points: 3.6 / 4.0 % error on the CUHK eye centres against 4.0 / 4.7 % for the mean
# of the two corners (300 test faces); nose tip 4, mouth corners 61 and 291.
_CUHK5 = (MESH_EYES[0], MESH_EYES[1], (4,), (61,), (291,))
MESH_POINTS: dict[str, tuple[tuple[int, ...], ...]] = {
    "cuhk5": _CUHK5,
    "drive23": _CUHK5 + tuple((i,) for i in MESH_EYES[0] + MESH_EYES[1]) + ((82,), (13,), (312,), (317,), (14,), (87,)),
}

# The box rule (face box from landmarks, see preprocess.box_from_landmarks) per view.
# cuhk5: the shipped model's (exported/mobilenetv2_96/tflite-int8/manifest.json), measured
# on the CUHK training boxes and labels. drive23 and mesh468: measured by
# preprocess.measure_box_rule between the CUHK training boxes and this model's own
# points on the 10,000 training faces (upright crops; edgemark data pseudo-label).
BOX_RULES = {
    "cuhk5": {"dx": -0.016666666666666666, "dy": -0.016304347826086956, "side": 1.7826086956521738},
    "drive23": {"dx": -0.016802123309081998, "dy": -0.017987676407902657, "side": 1.4858162197930005},
    "mesh468": {"dx": -0.013416638431150946, "dy": 0.01126938891403631, "side": 0.8097026054644014},
}


def mesh_scheme() -> LandmarkScheme:
    """The 468-point view: no flip pairs (not a training scheme); inter-ocular = outer eye corners."""
    return LandmarkScheme(name="mediapipe_mesh468", names=tuple(f"mesh_{i}" for i in range(MESH_SIZE)), flip_pairs=(),
                          interocular=(33, 263), eyes=MESH_EYES)


def mesh_to_scheme(mesh: np.ndarray, view: str) -> np.ndarray:
    """Mesh points (..., 468, D) -> the scheme's points (..., K, D), each the mean of its mesh points."""
    if view not in MESH_POINTS:
        raise EdgemarkError(f"no mapping from the MediaPipe mesh to scheme {view!r}; known: {', '.join(MESH_POINTS)}")
    mesh = np.asarray(mesh)
    return np.stack([mesh[..., list(group), :].mean(axis=-2) for group in MESH_POINTS[view]], axis=-2)


class MediaPipeMesh(Predictor):
    """``view``: "mesh468", or a scheme in ``MESH_POINTS`` ("cuhk5", "drive23")."""

    def __init__(self, view: str = "cuhk5", threads: int | None = None, device: str = "cpu", model_file=None):
        from ..detect.model_files import MODEL_FILES, model_path
        from ..io import file_sha256

        if device != "cpu":
            raise EdgemarkError(f"the MediaPipe face landmark model runs on the CPU here (asked for {device!r})")
        if view != "mesh468" and view not in MESH_POINTS:
            raise EdgemarkError(f"MediaPipe mesh view {view!r}: choose mesh468 or one of {', '.join(MESH_POINTS)}")
        spec = MODEL_FILES[MODEL_NAME]
        self.model_path = model_path(MODEL_NAME) if model_file is None else model_file
        self.sha256 = spec.sha256 if model_file is None else file_sha256(model_file)
        self.wheel = f"{spec.wheel.package}=={spec.wheel.version}"
        litert = require("ai_edge_litert.interpreter", "running the MediaPipe face landmark model")
        self.interpreter = litert.Interpreter(model_path=str(self.model_path), num_threads=threads or None)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        outputs = self.interpreter.get_output_details()
        by_size = {int(np.prod(d["shape"])): d for d in outputs}
        if MESH_SIZE * 3 not in by_size or tuple(self.input["shape"]) != (1, CROP.size, CROP.size, 3):
            raise EdgemarkError(f"{self.model_path}: not the MediaPipe face landmark model (input {list(self.input['shape'])}, "
                                f"outputs {[list(d['shape']) for d in outputs]})")
        self.mesh_output = by_size[MESH_SIZE * 3]
        self.presence_output = by_size.get(1)
        self.view = view
        self.crop = CROP
        self.scheme = mesh_scheme() if view == "mesh468" else load_scheme(view)
        self.box_rule = dict(BOX_RULES[view])
        self.description = f"MediaPipe face landmark ({self.wheel}, {MODEL_NAME}) LiteRT CPU float32, {view}"
        self.manifest = {"name": f"mediapipe-{view}", "format": "tflite", "precision": "float32", "model_file": MODEL_NAME,
                         "crop": CROP.to_dict(), "scheme": self.scheme.to_dict(), "box_rule": self.box_rule,
                         "files": {MODEL_NAME: {"sha256": self.sha256}}, "source": self.wheel}

    def _prepare(self, crops: np.ndarray) -> np.ndarray:
        """uint8 (N, 192, 192, 3) RGB -> float32 NHWC in [0, 1] (the model's own layout)."""
        mean, std = np.asarray(self.crop.mean, np.float32), np.asarray(self.crop.std, np.float32)
        return np.ascontiguousarray((crops.astype(np.float32) - mean) / std)

    def mesh_crops(self, crops_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB crops (N, 192, 192, 3) -> mesh (N, 468, 3) crop-normalised (x, y, and z on
        the x scale) and the face-presence score (N,) in 0..1."""
        crops = np.asarray(crops_rgb)
        if crops.ndim == 3:
            crops = crops[None]
        if crops.dtype != np.uint8 or crops.shape[1:] != (CROP.size, CROP.size, 3):
            raise ValueError(f"crops must be uint8 (N, {CROP.size}, {CROP.size}, 3), got {crops.dtype} {crops.shape}")
        batch = self._prepare(crops)
        mesh = np.empty((len(batch), MESH_SIZE, 3), np.float32)
        presence = np.full(len(batch), np.nan, np.float32)
        for i, x in enumerate(batch):
            self.interpreter.set_tensor(self.input["index"], x[None])
            self.interpreter.invoke()
            mesh[i] = self.interpreter.get_tensor(self.mesh_output["index"]).reshape(MESH_SIZE, 3) / CROP.size
            if self.presence_output is not None:
                logit = float(self.interpreter.get_tensor(self.presence_output["index"]).reshape(()))
                presence[i] = 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))
        return mesh, presence

    def predict_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        mesh, _ = self.mesh_crops(crops_rgb)
        xy = mesh[..., :2]
        return xy if self.view == "mesh468" else mesh_to_scheme(xy, self.view).astype(np.float32)
