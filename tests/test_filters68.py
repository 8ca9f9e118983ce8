"""Issue 33: the 68 iBUG points from MediaPipe's face mesh (the dense68 scheme and its
teacher mapping) and the dense face filters that follow them (face paint warped by
triangles, glasses by three points, lip tint), on a real clip of CUHK photos
(``tests/filters_clip.py``).

The filters run twice: with the teacher's own points (``mediapipe:dense68``: the face mesh
mapped to the 5 + 68 points) and with the shipped model it taught (``dense68``, its int8
TFLite artifact), each through the same demo pipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgemark.demo.filters import FaceFilters, default_filters
from edgemark.errors import EdgemarkError
from edgemark.predictors.mediapipe_mesh import IBUG68, IBUG68_CONTOUR, MESH_POINTS, mesh_to_scheme
from edgemark.scheme import load_scheme

sys.path.insert(0, str(Path(__file__).parent))
from filters_clip import CLOSED, DRIFT, OPEN, SEGMENTS, TOTAL, TURNED, build_clip, segment_of  # noqa: E402

TEACHER = "mediapipe:dense68"
HUD_ROWS = 64  # the HUD's three text lines
JAW, BROWS = list(range(17)), list(range(17, 27))
OUTER_LIP, INNER_LIP = list(range(48, 60)), list(range(60, 68))


# ---- the scheme and the mapping -------------------------------------------------------

def test_dense68_is_the_five_labels_then_the_68_in_ibug_order():
    dense, ibug, five = load_scheme("dense68"), load_scheme("ibug68"), load_scheme("cuhk5")
    assert dense.num_points == 73 and dense.names[:5] == five.names and dense.names[5:] == ibug.names
    assert dense.label_points == (0, 1, 2, 3, 4) and len(dense.teacher_points) == 68
    pairs = {tuple(p) for p in five.flip_pairs} | {(a + 5, b + 5) for a, b in ibug.flip_pairs}
    assert set(dense.flip_pairs) == pairs
    assert [dense.names[i] for e in dense.eyes for i in e] == [ibug.names[i] for e in ibug.eyes for i in e]
    assert dense.interocular == (0, 1) and dense.has_mouth
    assert len(MESH_POINTS["dense68"]) == 73 and MESH_POINTS["dense68"][5:] == IBUG68 == MESH_POINTS["ibug68"]


def test_the_68_the_five_come_from_are_the_teachers_five():
    """iBUG's eye contours, nose tip (30) and mouth corners (48, 54) are the mesh points the
    teacher's CUHK five are: the mean of each eye's six, 4, 61 and 291."""
    five = MESH_POINTS["cuhk5"]
    assert tuple(i for g in IBUG68[36:42] for i in g) == five[0] and tuple(i for g in IBUG68[42:48] for i in g) == five[1]
    assert (IBUG68[30], IBUG68[48], IBUG68[54]) == (five[2], five[3], five[4])


@pytest.fixture(scope="module")
def teacher():
    from edgemark.predictors.mediapipe_mesh import MediaPipeMesh

    return MediaPipeMesh("mesh468", threads=1)


def _face_crop(data_dir, line):
    from edgemark.data.images import read_image
    from edgemark.data.lists import read_list
    from edgemark.predictors.mediapipe_mesh import CROP
    from edgemark.preprocess import crop_face, roll_angle

    r = read_list(Path(data_dir) / "testImageList.txt").records[line - 1]
    crop, _ = crop_face(read_image(r), r.box, CROP.size, CROP.margin, roll_angle(r.landmarks[0], r.landmarks[1]))
    return crop


def test_the_mapping_is_mirror_symmetric(data_dir, teacher):
    """A mirrored pass, its points re-paired by the scheme's flip pairs, lands on the plain
    pass's points (what pseudo-label --mirror averages): every pair of flip partners takes
    mirror vertices. A mapping with a partner's vertices swapped for a neighbour's fails."""
    scheme = load_scheme("dense68")
    errors = []
    for line in (CLOSED, OPEN, 100, 400):
        crop = _face_crop(data_dir, line)
        plain, _ = teacher.mesh_crops(crop)
        mirrored, _ = teacher.mesh_crops(np.ascontiguousarray(crop[:, ::-1]))
        mirrored[..., 0] = 1.0 - mirrored[..., 0]
        a = mesh_to_scheme(plain[0, :, :2].astype(np.float64), "dense68")
        b = mesh_to_scheme(mirrored[0, :, :2].astype(np.float64), "dense68")[scheme.flip_permutation()]
        errors.append(np.linalg.norm(a - b, axis=1) / np.linalg.norm(a[0] - a[1]))
    errors = np.mean(errors, axis=0)
    assert errors[5:].mean() < 0.05 and errors.max() < 0.15, np.round(errors, 3)


def test_the_jaw_follows_the_visible_contour():
    """Landmark marching: a jaw point moves out to the outermost of its inner vertices when
    one lies beyond it (the far cheek of a turned head), and stays on the oval otherwise."""
    rng = np.random.default_rng(0)
    mesh = rng.normal(0, 1, (468, 2))
    for k, group in enumerate(IBUG68[:17]):
        for v in group:
            mesh[v] = (-60.0 + 7 * k, -20.0 + 4 * k)  # image-left side, up to jaw 8 ... and then the right side
    for k in range(9, 17):
        for v in IBUG68[k]:
            mesh[v] = (60.0 - 7 * (16 - k), -20.0 + 4 * (16 - k))
    for inner in list(IBUG68_CONTOUR.values()):
        mesh[list(inner)] = 0.0
    mesh[168], mesh[152] = (0.0, -50.0), (0.0, 50.0)  # the midline: x = 0 (152 is jaw 8, the chin)
    flat = mesh_to_scheme(mesh, "ibug68")
    np.testing.assert_allclose(flat[:17], np.stack([mesh[list(g)].mean(axis=0) for g in IBUG68[:17]]))
    turned = mesh.copy()
    turned[IBUG68_CONTOUR[2][0]] = (-80.0, 5.0)  # the cheek beyond jaw 2, on its side
    moved = mesh_to_scheme(turned, "ibug68")
    assert moved[2, 0] == pytest.approx(-80.0) and moved[2, 1] == pytest.approx(flat[2, 1])  # across the midline only
    np.testing.assert_allclose(np.delete(moved, 2, axis=0), np.delete(flat, 2, axis=0))


# ---- which filters a model gets -------------------------------------------------------

def test_filters_follow_the_scheme():
    assert default_filters(load_scheme("cuhk5")) == ("hat", "sunglasses", "moustache")
    assert default_filters(load_scheme("drive23")) == ("hat", "sunglasses", "moustache")
    assert default_filters(load_scheme("dense68")) == ("face_paint", "lip_tint", "glasses")
    assert default_filters(load_scheme("ibug68")) == ("face_paint", "lip_tint", "glasses")
    FaceFilters(load_scheme("dense68"), ["hat", "glasses"])  # dense68 labels the five too
    with pytest.raises(EdgemarkError, match="follows the 68 iBUG points by name.*drive23"):
        FaceFilters(load_scheme("drive23"), ["glasses"])
    with pytest.raises(EdgemarkError, match="anchored on the 5 labelled CUHK points.*ibug68"):
        FaceFilters(load_scheme("ibug68"), ["hat"])
    with pytest.raises(EdgemarkError, match="unknown filter"):
        FaceFilters(load_scheme("dense68"), ["crown"])


# ---- the filters on the clip ----------------------------------------------------------

@pytest.fixture(scope="module")
def clip(data_dir, tmp_path_factory):
    return build_clip(data_dir, tmp_path_factory.mktemp("filters68") / "faces.avi")


def read_frames(path: Path) -> list[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


@pytest.fixture(scope="module", params=[TEACHER, "dense68"])
def model(request):
    """The teacher, and the shipped student it taught."""
    return request.param


@pytest.fixture(scope="module")
def frames_and_points(clip, detector_models, model):
    """Each input frame and the teacher's 68 points on it (the pipeline on the frame alone:
    no tracking, no smoothing)."""
    from edgemark.pipeline import load_pipeline

    pipeline = load_pipeline(model, threads=1)
    frames = read_frames(clip)
    assert len(frames) == TOTAL
    points = []
    for f in frames:
        faces = pipeline(f)
        assert faces, f"{model} finds every face of the clip"
        points.append(faces[0].landmarks[5:])
    return frames, points


def polygon_mask(shape, polygon, grow: int = 0) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.int32(np.round(polygon))], 1)
    if grow > 0:
        mask = cv2.dilate(mask, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    elif grow < 0:
        mask = cv2.erode(mask, np.ones((-2 * grow + 1, -2 * grow + 1), np.uint8))
    return mask.astype(bool)


def face_hull(shape, p, grow: int = 0) -> np.ndarray:
    return polygon_mask(shape, cv2.convexHull(np.float32(p[JAW + BROWS]))[:, 0], grow)


def changed(a: np.ndarray, b: np.ndarray, threshold: int = 60, opened: bool = True) -> np.ndarray:
    """Pixels a filter changed: a colour difference, thin lines (the face box) and codec
    speckle opened away (for a video; ``opened=False`` for a frame drawn here); the HUD's
    rows left out."""
    diff = (np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > threshold).astype(np.uint8)
    if opened:
        diff = cv2.morphologyEx(diff, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    diff = diff.astype(bool)
    diff[:HUD_ROWS] = False
    return diff


@pytest.fixture(scope="module")
def painted(clip, tmp_path_factory, detector_models, model):
    """The face paint alone, through the CLI demo (detector, tracker, smoothing, filters)."""
    out = tmp_path_factory.mktemp("filters68_out") / "paint.mp4"
    done = subprocess.run([sys.executable, "-m", "edgemark", "demo", "--model", model, "--source", str(clip), "--mode",
                           "filters", "--filters", "face_paint", "--out", str(out), "--no-window", "--threads", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frames = read_frames(out)
    assert len(frames) == TOTAL
    return frames


def test_the_face_paint_covers_the_face_inside_its_jaw_and_brows(frames_and_points, painted):
    frames, points = frames_and_points
    for i in range(TOTAL):
        line, k = segment_of(i)
        if k < 3:
            continue  # the tracker and its smoothing settle on a new face
        paint = changed(frames[i], painted[i])
        p = points[i]
        inside = paint[face_hull(frames[i].shape, p, grow=8)].sum() / max(paint.sum(), 1)
        assert inside > 0.97, (i, inside)  # nothing painted off the face
        hull = face_hull(frames[i].shape, p)
        if line != TURNED:
            assert paint[hull].mean() > 0.5, (i, paint[hull].mean())  # and most of the face painted


def test_the_face_paint_leaves_the_mouths_opening_and_moves_with_the_face(frames_and_points, painted):
    frames, points = frames_and_points
    starts = {}
    for i in range(TOTAL):
        line, k = segment_of(i)
        starts.setdefault(line, i)
        if k < 3:
            continue
        paint = changed(frames[i], painted[i])
        p = points[i]
        opening = polygon_mask(frames[i].shape, p[INNER_LIP], grow=-3)
        lips = polygon_mask(frames[i].shape, p[OUTER_LIP]) & ~polygon_mask(frames[i].shape, p[INNER_LIP], grow=3)
        if line == OPEN:
            assert opening.sum() > 200, (i, opening.sum())  # the model sees the open mouth (closed: under 100 px)
            assert paint[opening].mean() < 0.1, (i, paint[opening].mean())  # the paint leaves it open...
            assert paint[lips].mean() > 0.5, (i, paint[lips].mean())  # ...and paints the lips around it
        elif line == CLOSED:
            assert opening.sum() < 100, (i, opening.sum())
    for line, n, drift in SEGMENTS:
        if drift == 0:
            continue
        a, b = starts[line] + 4, starts[line] + n - 1
        xa, xb = (np.nonzero(changed(frames[j], painted[j]))[1].mean() for j in (a, b))
        assert abs((xb - xa) - drift * (b - a)) < 4, (line, xb - xa, drift * (b - a))


def test_lip_tint_and_glasses_sit_where_their_points_are(frames_and_points):
    frames, points = frames_and_points
    scheme = load_scheme("dense68")
    tint, glasses = FaceFilters(scheme, ["lip_tint"]), FaceFilters(scheme, ["glasses"])
    for i in (7, 22):  # a closed and an open mouth
        frame, p = frames[i], points[i]
        full = np.vstack([np.zeros((5, 2), np.float32), p])  # the 5 + 68 the filters index
        tinted = changed(frame, tint.apply(frame.copy(), full), 30, opened=False)  # a tint, not a paint
        lips = polygon_mask(frame.shape, p[OUTER_LIP], grow=2)
        ring = polygon_mask(frame.shape, p[OUTER_LIP]) & ~polygon_mask(frame.shape, p[INNER_LIP], grow=2)
        assert tinted.sum() > 150 and tinted[ring].mean() > 0.3 and (tinted & ~lips).sum() < 0.03 * tinted.sum(), \
            (i, tinted.sum(), tinted[ring].mean())
        if segment_of(i)[0] == OPEN:
            assert tinted[polygon_mask(frame.shape, p[INNER_LIP], grow=-3)].mean() < 0.05  # the teeth stay untinted
        worn = np.nonzero(changed(frame, glasses.apply(frame.copy(), full), opened=False))
        x0, x1, y = worn[1].min(), worn[1].max(), worn[0].mean()
        assert x0 < p[36, 0] - 5 and x1 > p[45, 0] + 5, i  # the frame spans both outer eye corners
        assert abs(y - p[[36, 39, 42, 45], 1].mean()) < 12, i  # at the eyes' height
        assert abs(worn[1].mean() - p[27, 0]) < 12, i  # centred on the nose bridge


def test_the_sticker_filters_still_draw_for_a_5_point_scheme(frames_and_points):
    frames, points = frames_and_points
    frame, p = frames[7], points[7]
    five = np.float32([p[36:42].mean(axis=0), p[42:48].mean(axis=0), p[30], p[48], p[54]])
    drawn = changed(frame, FaceFilters(load_scheme("cuhk5")).apply(frame.copy(), five), opened=False)
    assert drawn.mean() > 0.02
