"""MediaPipe's BlazeFace face detectors (short range, full range) run under LiteRT and
decoded here in numpy: letterbox the frame to a square, resize, scale to [-1, 1], run,
decode the anchor-relative boxes and six keypoints, blend overlapping detections by
score (MediaPipe's "weighted" non-maximum suppression).

Anchors follow MediaPipe's SSD anchor calculator with fixed anchor size 1 and centres at
((x + 0.5) / grid, (y + 0.5) / grid), row by row, anchor by anchor:
- short range (128 px): strides 8 and 16; 2 anchors per cell on the 16x16 grid, 6 on the
  8x8 grid (512 + 384 = 896). The network is fully convolutional: run at another input
  size (a multiple of 16; the interpreter's input resized) it keeps the strides, so the
  grids follow the size (``short_range_grids``: 96 px -> 12x12x2 + 6x6x6 = 504 anchors);
- full range (192 px): stride 4, 1 anchor per cell on the 48x48 grid (2,304).
Keypoints, in order: the subject's right eye (image left), left eye, nose tip, mouth
centre, right ear tragion, left ear tragion.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import EdgemarkError
from ..optional import require
from .detection import Detection, holds, largest_first
from .model_files import model_path

KEYPOINTS = ("right_eye", "left_eye", "nose_tip", "mouth_centre", "right_ear_tragion", "left_ear_tragion")


@dataclass(frozen=True)
class BlazeFaceVariant:
    name: str
    model_file: str
    size: int  # the input side the detector runs at (the interpreter's input is resized when the file's differs)
    grids: tuple[tuple[int, int], ...]  # (cells per side, anchors per cell)
    score_threshold: float
    # the CUHK training box from the eyes, nose and mouth centre (edgemark.preprocess.box_from_landmarks),
    # medians over the CUHK training list: python -m edgemark.detect.measure
    training_box_rule: dict
    kind: str = "short-range"  # for the description
    # a small face's zoomed square is this many face widths wide: the face fills a third of a 128 px
    # input; at a smaller input the square is narrower, so that the face keeps as many pixels
    zoom_context: float = 3.0


def short_range_grids(size: int) -> tuple[tuple[int, int], ...]:
    """The short-range network's anchor grids at a ``size`` px input: strides 8 (2 anchors
    per cell) and 16 (6 per cell)."""
    if size < 16 or size % 16:
        raise EdgemarkError(f"BlazeFace short range runs at a multiple of 16 px (its strides are 8 and 16), not {size}")
    return ((size // 8, 2), (size // 16, 6))


# (3,000 random training faces, seed 0; the short-range model found all 3,000, the full-range
# one 2,738: it is made for small, far faces and misses faces that fill the photo)
SHORT_RANGE = BlazeFaceVariant("blazeface", "face_detection_short_range.tflite", 128, short_range_grids(128), 0.5,
                               {"from": "keypoints", "keypoints": [0, 1, 2, 3], "eyes": [0, 1], "dx": -0.0274, "dy": -0.0511, "side": 1.797})
# the same network quantised to int8 (edgemark/detect/blazeface_int8.py): same anchors, threshold and box rule
# (its keypoints against the CUHK test labels: 10.029 % of the IOD, the float file's 10.028 %)
SHORT_RANGE_INT8 = BlazeFaceVariant("blazeface-int8", "face_detection_short_range_int8.tflite", 128, SHORT_RANGE.grids,
                                    SHORT_RANGE.score_threshold, SHORT_RANGE.training_box_rule, "short-range int8")
FULL_RANGE = BlazeFaceVariant("blazeface-full", "face_detection_full_range_sparse.tflite", 192, ((48, 1),), 0.6,
                              {"from": "keypoints", "keypoints": [0, 1, 2, 3], "eyes": [0, 1], "dx": -0.0216, "dy": -0.0515, "side": 1.802},
                              "full-range")


# the short-range files run at a smaller input (benchmarks/detector-size-2026-12-04): the same score
# threshold, grids for the size; each its own box rule, measured at that size on 3,000 training faces
# (seed 0; every one found): python -m edgemark.detect.measure --detector NAME --faces 3000; a zoomed
# small face as many pixels wide as at 128 px (zoom context 3 * size / 128: at 3.0 a 96 px input left
# the zoomed keypoints 15 % of the IOD from the labels against 10 % at 128 px)
def _rule(dx: float, dy: float, side: float) -> dict:
    return {"from": "keypoints", "keypoints": [0, 1, 2, 3], "eyes": [0, 1], "dx": dx, "dy": dy, "side": side}


SHORT_RANGE_96 = BlazeFaceVariant("blazeface-96", SHORT_RANGE.model_file, 96, short_range_grids(96), SHORT_RANGE.score_threshold,
                                  _rule(-0.0228, -0.0500, 1.815), zoom_context=2.25)
SHORT_RANGE_INT8_96 = BlazeFaceVariant("blazeface-int8-96", SHORT_RANGE_INT8.model_file, 96, short_range_grids(96),
                                       SHORT_RANGE.score_threshold, _rule(-0.0200, -0.0466, 1.825), "short-range int8", 2.25)
SHORT_RANGE_112 = BlazeFaceVariant("blazeface-112", SHORT_RANGE.model_file, 112, short_range_grids(112), SHORT_RANGE.score_threshold,
                                   _rule(-0.0203, -0.0493, 1.807), zoom_context=2.625)
SHORT_RANGE_INT8_112 = BlazeFaceVariant("blazeface-int8-112", SHORT_RANGE_INT8.model_file, 112, short_range_grids(112),
                                        SHORT_RANGE.score_threshold, _rule(-0.0200, -0.0468, 1.812), "short-range int8", 2.625)
# by detector name (edgemark.detect.load_detector)
VARIANTS = {v.name: v for v in (SHORT_RANGE, SHORT_RANGE_INT8, FULL_RANGE, SHORT_RANGE_96, SHORT_RANGE_INT8_96, SHORT_RANGE_112,
                                 SHORT_RANGE_INT8_112)}


def anchors(grids) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1]."""
    out = []
    for cells, per_cell in grids:
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


class BlazeFaceDetector:
    def __init__(self, variant: BlazeFaceVariant = SHORT_RANGE, threads: int | None = 1, score_threshold: float | None = None,
                 iou_threshold: float = 0.3, model_file=None, zoom_below: float = 0.3, zoom_context: float | None = None,
                 candidate_threshold: float = 0.2, max_zoom: int = 4):
        litert = require("ai_edge_litert.interpreter", "the BlazeFace face detector")
        self.variant, self.name = variant, variant.name
        self.model_file = model_file or model_path(variant.model_file)
        self.interpreter = litert.Interpreter(model_path=str(self.model_file), num_threads=threads or None)
        detail = self.interpreter.get_input_details()[0]
        if len(detail["shape"]) != 4 or detail["shape"][3] != 3:
            raise EdgemarkError(f"{self.model_file}: not a BlazeFace file (input {list(detail['shape'])}, want [1, size, size, 3])")
        if tuple(detail["shape"][1:3]) != (variant.size, variant.size):
            # fully convolutional: the same weights at another input size (the strides stay, the grids follow)
            try:
                self.interpreter.resize_tensor_input(detail["index"], [1, variant.size, variant.size, 3])
                self.interpreter.allocate_tensors()
            except (RuntimeError, ValueError) as e:
                raise EdgemarkError(f"{self.model_file}: does not run at {variant.size} px (its input is "
                                    f"{detail['shape'][1]} px; the {variant.name} detector is for the short-range file): {e}") from None
        else:
            self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self.input = detail["index"]
        # the input written in place (no intermediate tensor, no set_tensor copy) through a
        # lookup table: uint8 pixel -> the model's input value, [-1, 1] as float32
        # (bit for bit x * 2/255 - 1) or quantised for an integer input (a full-integer BlazeFace)
        self._input_view = self.interpreter.tensor(self.input)
        self.lookup = _input_lookup(detail)
        outputs = self.interpreter.get_output_details()
        # regressors (1, A, 16) and scores (1, A, 1): told apart by their last dimension
        self._regressors = next(o for o in outputs if o["shape"][-1] == 16)
        self._scores = next(o for o in outputs if o["shape"][-1] == 1)
        self.regressors, self.scores = self._regressors["index"], self._scores["index"]
        self.anchors = anchors(variant.grids)
        if self._scores["shape"][1] != len(self.anchors):
            raise EdgemarkError(f"{self.model_file}: {self._scores['shape'][1]} anchors at {variant.size} px, but the {variant.name} "
                                f"detector decodes {len(self.anchors)}: not the file this detector is made for")
        self.score_threshold = variant.score_threshold if score_threshold is None else score_threshold
        self.iou_threshold = iou_threshold
        self.zoom_below = zoom_below
        self.zoom_context = variant.zoom_context if zoom_context is None else zoom_context
        self.candidate_threshold, self.max_zoom = candidate_threshold, max_zoom
        self.training_box_rule = variant.training_box_rule
        self.default_refine = 0  # its keypoint crop already matches the training boxes (benchmarks/pipeline_study.md)
        self.description = f"BlazeFace {variant.kind} ({variant.size} px, LiteRT)"

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        """Every face in the frame, largest first, in image pixels. A face small in the
        frame (under ``zoom_below`` of the detector's input) is detected again in a square
        around it, zoomed so that it fills a third of a 128 px input (as many pixels at a
        smaller input: ``zoom_context``): its keypoints are then as
        good as those of a near face (the landmark crop is built from them). Small faces
        are taken as candidates from ``candidate_threshold`` up and kept only when the
        zoomed detection clears the score threshold (at most ``max_zoom`` of them)."""
        if frame_bgr.ndim == 2:
            frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
        size = self.variant.size
        scale = size / max(frame_bgr.shape[:2])
        candidates = self._detect_view(None, self._letterbox_input(frame_bgr), min(self.candidate_threshold, self.score_threshold))
        out, zoomed = [], 0
        for d in sorted(candidates, key=lambda d: -d.score):
            if d.width * scale >= self.zoom_below * size:
                if d.score >= self.score_threshold:
                    out.append(d)
            elif zoomed < self.max_zoom:
                zoomed += 1
                z = self._zoom(frame_bgr, d)
                if z is not None:
                    out.append(z)
        return largest_first(out)

    def _zoom(self, frame_bgr: np.ndarray, d: Detection) -> Detection | None:
        size = self.variant.size
        region = d.width * self.zoom_context
        cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
        s = size / region
        m = np.array([[s, 0, (size - 1) / 2 - s * cx], [0, s, (size - 1) / 2 - s * cy]])
        view = cv2.warpAffine(frame_bgr, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        found = self._detect_view(view, m, self.score_threshold)
        near = [z for z in found if holds(z.box, (cx, cy))]
        return max(near, key=lambda z: z.score) if near else None

    def _letterbox_input(self, frame_bgr: np.ndarray) -> np.ndarray:
        """``letterbox`` written straight into the model's input (RGB, through the lookup
        table; the border the value of black), without the square in between; the 2x3
        image -> input matrix."""
        small, (px, py), m = _letterbox_small(frame_bgr, self.variant.size)
        target = self._input_view()[0]
        nh, nw = small.shape[:2]
        target[:py], target[py + nh :], target[py : py + nh, :px], target[py : py + nh, px + nw :] = (self.lookup[0, 0],) * 4
        target[py : py + nh, px : px + nw] = cv2.LUT(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), self.lookup)
        del target  # no view into the interpreter may outlive the write (invoke refuses to run)
        return m

    def _detect_view(self, view: np.ndarray | None, m: np.ndarray, threshold: float) -> list[Detection]:
        """Detections in ``view`` (the detector's BGR input, cut from the frame by ``m``: 2x3,
        image pixels -> view pixels, pixel centres at integers; None: already in the model's
        input), mapped back to image pixels. Decoding is whole-array numpy: the score
        threshold over every anchor at once, then the weighted NMS on the few candidates."""
        size = self.variant.size
        if view is not None:
            target = self._input_view()[0]
            target[...] = cv2.LUT(cv2.cvtColor(view, cv2.COLOR_BGR2RGB), self.lookup)
            del target
        self.interpreter.invoke()
        logits = _output(self.interpreter, self._scores)[0, :, 0]
        keep = np.flatnonzero(logits > np.log(threshold / (1 - threshold)))
        if keep.size == 0:
            return []
        reg = _output(self.interpreter, self._regressors)[0, keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100, 100)))
        anchor = self.anchors[keep]
        centre = reg[:, 0:2] / size + anchor
        half = reg[:, 2:4] / size / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        points = reg[:, 4:16].reshape(-1, 6, 2) / size + anchor[:, None, :]
        back = cv2.invertAffineTransform(m)
        to_image = lambda uv: (uv * size - 0.5) @ back[:, :2].T + back[:, 2]  # noqa: E731  ([0, 1] input -> image pixels)
        detections = []
        for box, score, kp in _weighted_nms(boxes, scores, points, self.iou_threshold):
            # box corners are edges: an edge at u maps like the pixel centre at u * size - 0.5
            corners = to_image(box.reshape(2, 2))
            detections.append(Detection(tuple(float(v) for v in corners.reshape(-1)), float(score),
                                        to_image(kp).astype(np.float32), KEYPOINTS))
        return detections


def _input_lookup(detail: dict) -> np.ndarray:
    """uint8 pixel value -> the model's input value: x * 2/255 - 1 in float32 (the same
    float32 operations as on the whole image), quantised by the input's scale and zero
    point for an integer input."""
    values = np.arange(256, dtype=np.uint8).astype(np.float32) * (2.0 / 255.0) - 1.0
    if detail["dtype"] != np.float32:
        scale, zero_point = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        values = np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(detail["dtype"])
    return values.reshape(1, 256)  # cv2.LUT's layout: one table for every channel


def _output(interpreter, detail: dict) -> np.ndarray:
    """An output as float32, dequantised when the model gives integers."""
    y = interpreter.get_tensor(detail["index"])
    if detail["dtype"] == np.float32:
        return y
    scale, zero_point = detail["quantization"]
    return (y.astype(np.float32) - zero_point) * np.float32(scale)


def letterbox(frame_bgr: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame scaled to fit a size x size square and centred on black, and the 2x3
    image -> square matrix. Shrinking more than 2x goes bilinear to twice the size, then
    area-averages by 2: a cheap anti-aliasing (0.12 ms for 640x480 -> 128 here, where a
    plain area resize takes 0.29 ms and plain bilinear, which aliases, 0.03 ms) that finds
    more small faces than plain bilinear."""
    small, (px, py), m = _letterbox_small(frame_bgr, size)
    square = np.zeros((size, size, 3), np.uint8)
    square[py : py + small.shape[0], px : px + small.shape[1]] = small
    return square, m


def _letterbox_small(frame_bgr: np.ndarray, size: int):
    """The scaled frame of ``letterbox``, its offset (px, py) in the square, and the matrix."""
    h, w = frame_bgr.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if scale < 0.5:
        half = cv2.resize(frame_bgr, (nw * 2, nh * 2), interpolation=cv2.INTER_LINEAR)
        small = cv2.resize(half, (nw, nh), interpolation=cv2.INTER_AREA)
    else:
        small = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    px, py = (size - nw) // 2, (size - nh) // 2
    sx, sy = nw / w, nh / h  # edges map to edges: x_view + 0.5 = (x + 0.5) * sx + px
    return small, (px, py), np.array([[sx, 0, 0.5 * sx - 0.5 + px], [0, sy, 0.5 * sy - 0.5 + py]])


def _pairwise_iou(boxes: np.ndarray) -> np.ndarray:
    """(N, N) IoU of every pair: ``_iou`` of each box against all, in one set of array operations."""
    lt = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    rb = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    wh = np.maximum(rb - lt, 0)
    inter = wh[..., 0] * wh[..., 1]
    side = np.maximum(boxes[:, 2:] - boxes[:, :2], 0)
    area = side[:, 0] * side[:, 1]
    return inter / np.maximum(area[:, None] + area[None, :] - inter, 1e-9)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, points: np.ndarray, iou_threshold: float):
    """MediaPipe's weighted NMS: each cluster of overlapping detections becomes one whose
    box and keypoints are the score-weighted means and whose score is the cluster's best.
    The overlaps are computed once for every pair; the loop runs once per face found."""
    order = np.argsort(-scores)
    boxes, scores, points = boxes[order], scores[order], points[order]
    overlaps = _pairwise_iou(boxes) > iou_threshold
    np.fill_diagonal(overlaps, True)  # each box is in its own cluster (as union1d(cluster, [i]) had it)
    alive = np.ones(len(scores), bool)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        cluster = np.flatnonzero(alive & overlaps[i])
        alive[cluster] = False
        w = scores[cluster][:, None]
        yield (boxes[cluster] * w).sum(0) / w.sum(), scores[i], (points[cluster] * w[:, :, None]).sum(0) / w.sum()
