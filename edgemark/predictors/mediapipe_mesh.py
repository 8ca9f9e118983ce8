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
``MESH_POINTS`` maps the mesh onto (``cuhk5``: the peer row; ``drive23``; ``ibug68``, the
68 iBUG 300-W points; ``dense68``, the 5 CUHK points then the 68; ``wflw98``, WFLW's 98).
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

# The iBUG 300-W 68 points (edgemark/schemes/ibug68.yaml: 0-based, "left" = the smaller x in
# the image, i.e. the subject's right), each the mean of these mesh points. Chosen on the
# median upright mesh of the 2,027 CUHK test faces (inter-ocular 33-263 = 1) against the
# 300-W mean shape, mirror-symmetric (point i and its flip partner take mirror vertices, so
# a mirrored teacher pass re-pairs by the scheme's flip pairs). Where the two conventions
# differ:
# - jaw 0-16: the mesh's face oval is a fixed ring of vertices on the 3-D surface; it starts
#   at the temples (162/389, above the eyes), where iBUG's jaw starts at eye level. Jaw 0/16
#   are 127/356 (eye level), then the oval at equal arc length down to the chin 152 (8);
#   points between two vertices are the mean of both. iBUG's jaw is the *visible* contour:
#   on a face turned away, the far cheek hides the oval's vertices, so jaw 0-5 and 11-16 are
#   moved outward (across the face's midline 168 -> 152) to the outermost of a few inner
#   vertices at their height (MESH_CONTOURS; landmark marching as in 3DDFA, Zhu et al. 2016).
# - brows 17-26: iBUG runs along the top edge of the brow but its two ends are the brow's
#   tips, where the upper (70 63 105 66 107) and lower (46 53 52 65 55) contours meet: the
#   ends are the means of both contours' ends (70+46, 107+55), the middle three on the upper
#   contour (the 300-W mean shape puts them within 0.04 inter-ocular of these).
# - nose 27-35: 27 = 168 (between the eyes, at the eye corners' height), 28 = 197,
#   29 = 195+5, 30 = 4 (the tip, as the CUHK nose tip: 1 lies below the tip on CUHK faces);
#   31-35 the nostril base 75 97 2 326 305 (2 = subnasale).
# - eyes 36-47: the drive23 eyelid points (MESH_EYES), corners 33/133 and 362/263.
# - mouth 48-59 (outer lip): corners 61/291 (the CUHK mouth corners), 49/53 = 39/269 and
#   50/52 = 37/267 (the cupid's bow), 51 = 0; lower 55 = 321+405, 56 = 314, 57 = 17,
#   58 = 84, 59 = 91+181 (a third of the way along the lower lip each).
# - mouth 60-67 (inner lip): the mesh's inner-lip contour: corners 78/308, which lie inside
#   the outer corners (iBUG's inner corners often sit on the outer ones), 61-63 = 82 13 312,
#   65-67 = 317 14 87 (drive23's inner-lip points). For a closed mouth the mesh's upper and
#   lower inner lips meet, as iBUG's do.
IBUG68 = (
    (127,), (234,), (93, 132), (132, 58), (58, 172), (136,), (150, 149), (176, 148), (152,),  # jaw 0-8
    (400, 377), (379, 378), (365,), (288, 397), (361, 288), (323, 361), (454,), (356,),  # jaw 9-16
    (70, 46), (63,), (105,), (66,), (107, 55),  # image-left brow 17-21, outer end to inner
    (336, 285), (296,), (334,), (293,), (300, 276),  # image-right brow 22-26, inner end to outer
    (168,), (197,), (195, 5), (4,),  # nose bridge 27-30
    (75,), (97,), (2,), (326,), (305,),  # nose base 31-35
    *((i,) for i in MESH_EYES[0] + MESH_EYES[1]),  # eyes 36-41, 42-47
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321, 405), (314,), (17,), (84,), (91, 181),  # outer lip 48-59
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),  # inner lip 60-67
)
# The visible jaw contour: jaw point -> mesh vertices at its height, inward of the oval (at
# most 0.2 inter-ocular on the median face). The point moves outward, perpendicular to the
# face's midline (168 -> 152), as far as the outermost of them when one lies beyond it; on
# a frontal face none does and the point stays on the oval.
IBUG68_CONTOUR = {
    0: (34, 143, 35, 226), 1: (116, 117), 2: (147,), 3: (215, 213, 207), 4: (138, 214), 5: (169, 211),
    16: (264, 372, 265), 15: (447, 345, 346), 14: (376,), 13: (435, 433), 12: (367, 434), 11: (394, 431),
}
MIDLINE = (168, 152)  # the face's midline, top to bottom: what "outward" is measured across


def _between(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Mesh vertices whose mean is the midpoint of the means of ``a`` and ``b``."""
    return a * len(b) + b * len(a)


# The WFLW 98 points (edgemark/schemes/wflw98.yaml: 0-based, "left" = the smaller x in the
# image), each the mean of these mesh points. WFLW and iBUG 68 share most points (the
# standard WFLW -> 68 conversion: contour 2i = jaw i, brows 33-37 / 42-46 = 17-21 / 22-26,
# nose 51-59 = 27-35, eyes 60 61 63 64 65 67 / 68 69 71 72 73 75 = 36-47, mouth 76-95 =
# 48-67); those take IBUG68's vertices. The points WFLW adds:
# - contour 1, 3, ..., 31: midway between the two jaw points beside it (the mesh's oval
#   ring, and the visible-contour move of both neighbours' inner vertices when both move).
# - brows: WFLW runs each brow as a closed contour: upper 33-37 (outer tip to the inner
#   upper corner), lower 38-41 (inner lower corner back out). The upper contour is IBUG68's
#   (70+46 at the outer tip, then 63 105 66), but the inner end is split into its two
#   corners: 107 upper, 55 lower; the lower contour is the mesh's 55 65 52 53. The
#   image-right brow takes the mirror vertices (336 296 334 293 300+276; 285 295 282 283).
# - eyes: the middle upper / lower lid points 62 / 66 are the mesh's 159 / 145 (386 / 374
#   on the image-right eye), between the drive23 lid points.
# - pupils 96, 97: the face mesh (468) has no iris; the pupil is the mean of the eye's six
#   lid points (the CUHK eye centre, 3.6 / 4.0 % from the labelled eye centres).
_WFLW_JAW = tuple(
    g for i in range(17) for g in ((IBUG68[i],) if i == 16 else (IBUG68[i], _between(IBUG68[i], IBUG68[i + 1])))
)
WFLW98 = (
    *_WFLW_JAW,  # contour 0-32
    (70, 46), (63,), (105,), (66,), (107,), (55,), (65,), (52,), (53,),  # image-left brow 33-41
    (336,), (296,), (334,), (293,), (300, 276), (283,), (282,), (295,), (285,),  # image-right brow 42-50
    *IBUG68[27:36],  # nose 51-59
    (33,), (160,), (159,), (158,), (133,), (153,), (145,), (144,),  # image-left eye 60-67, outer corner first
    (362,), (385,), (386,), (387,), (263,), (373,), (374,), (380,),  # image-right eye 68-75, inner corner first
    *IBUG68[48:68],  # mouth 76-95
    MESH_EYES[0], MESH_EYES[1],  # pupils 96, 97
)
WFLW98_CONTOUR = {2 * k: v for k, v in IBUG68_CONTOUR.items()}
WFLW98_CONTOUR.update({2 * k + 1: IBUG68_CONTOUR[k] + IBUG68_CONTOUR[k + 1]
                       for k in range(16) if k in IBUG68_CONTOUR and k + 1 in IBUG68_CONTOUR})

MESH_POINTS: dict[str, tuple[tuple[int, ...], ...]] = {
    "cuhk5": _CUHK5,
    "drive23": _CUHK5 + tuple((i,) for i in MESH_EYES[0] + MESH_EYES[1]) + ((82,), (13,), (312,), (317,), (14,), (87,)),
    "ibug68": IBUG68,
    # the dense model's training scheme (edgemark/schemes/dense68.yaml): the 5 CUHK points,
    # then the 68
    "dense68": _CUHK5 + IBUG68,
    "wflw98": WFLW98,
}
# per view: scheme point -> the inner vertices of its visible contour (see IBUG68_CONTOUR)
MESH_CONTOURS: dict[str, dict[int, tuple[int, ...]]] = {
    "ibug68": IBUG68_CONTOUR,
    "dense68": {len(_CUHK5) + k: v for k, v in IBUG68_CONTOUR.items()},
    "wflw98": WFLW98_CONTOUR,
}

# The box rule (face box from landmarks, see preprocess.box_from_landmarks) per view.
# cuhk5: the shipped model's (exported/mobilenetv2_96/tflite-int8/manifest.json), measured
# on the CUHK training boxes and labels. drive23 and mesh468: measured by
# preprocess.measure_box_rule between the CUHK training boxes and this model's own
# points on the 10,000 training faces (upright crops; edgemark data pseudo-label; ibug68
# and dense68 from runs/pseudo/trainImageList.dense68.json, the mirror-averaged pass).
BOX_RULES = {
    "cuhk5": {"dx": -0.016666666666666666, "dy": -0.016304347826086956, "side": 1.7826086956521738},
    "drive23": {"dx": -0.016802123309081998, "dy": -0.017987676407902657, "side": 1.4858162197930005},
    "mesh468": {"dx": -0.013416638431150946, "dy": 0.01126938891403631, "side": 0.8097026054644014},
    # the 68 (with the visible jaw contour) and the 5 + 68: mirror-averaged teacher, 2026-12-04
    "ibug68": {"dx": -0.0171657884363191, "dy": -0.07927399242578995, "side": 0.9253738101742466},
    "dense68": {"dx": -0.017166477846963117, "dy": -0.07927584906303362, "side": 0.9253724564319935},
    # WFLW's 98 the same way (the same pass gives ibug68's rule above to every digit), 2026-12-04
    "wflw98": {"dx": -0.017045991256331647, "dy": -0.07919454405670054, "side": 0.9242259133848869},
}


def mesh_scheme() -> LandmarkScheme:
    """The 468-point view: no flip pairs (not a training scheme); inter-ocular = outer eye corners."""
    return LandmarkScheme(name="mediapipe_mesh468", names=tuple(f"mesh_{i}" for i in range(MESH_SIZE)), flip_pairs=(),
                          interocular=(33, 263), eyes=MESH_EYES)


def mesh_to_scheme(mesh: np.ndarray, view: str) -> np.ndarray:
    """Mesh points (..., 468, D) -> the scheme's points (..., K, D), each the mean of its mesh
    points; a point with a visible contour (``MESH_CONTOURS``) then moved outward in x, y to
    the outermost of its contour's vertices."""
    if view not in MESH_POINTS:
        raise EdgemarkError(f"no mapping from the MediaPipe mesh to scheme {view!r}; known: {', '.join(MESH_POINTS)}")
    mesh = np.asarray(mesh)
    points = np.stack([mesh[..., list(group), :].mean(axis=-2) for group in MESH_POINTS[view]], axis=-2)
    contours = MESH_CONTOURS.get(view)
    if contours:
        points = points.astype(np.result_type(points, np.float32), copy=True)
        xy = mesh[..., :2].astype(np.float64)
        down = xy[..., MIDLINE[1], :] - xy[..., MIDLINE[0], :]
        down /= np.maximum(np.linalg.norm(down, axis=-1, keepdims=True), 1e-9)
        across = np.stack([down[..., 1], -down[..., 0]], axis=-1)  # perpendicular to the midline
        top = xy[..., MIDLINE[0], :]
        for k, inner in contours.items():
            p = points[..., k, :2].astype(np.float64)
            side = np.sign(((p - top) * across).sum(-1))  # which side of the midline the point is on
            reach = ((xy[..., list(inner), :] - p[..., None, :]) * across[..., None, :]).sum(-1) * side[..., None]
            beyond = np.maximum(reach.max(axis=-1), 0.0)  # how far the outermost inner vertex lies beyond the point
            points[..., k, :2] = p + (beyond * side)[..., None] * across
    return points


class MediaPipeMesh(Predictor):
    """``view``: "mesh468", or a scheme in ``MESH_POINTS`` ("cuhk5", "drive23", "ibug68", "dense68", "wflw98")."""

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
