"""Pseudo-labels from a teacher: MediaPipe's face mesh run on every face of a CUHK list,
written as a list of a larger landmark scheme (``drive23``: eyelids and inner lips;
``dense68``: the 68 iBUG 300-W points) with the human labels first, unchanged, and the
teacher's points for the rest.

Each face is cropped around the list's box as the teacher wants it (``mediapipe_mesh.CROP``:
1.7x the box side), turned upright by the labelled eye line by default (the teacher sees
faces with level eyes; measured: 4.70 % against 4.89 % NME on 300 test faces).

Outputs in ``out`` for a list ``NAME.txt`` and scheme ``S``:

- ``NAME.S.txt``: the list, ``PATH left right top bottom x1 y1 ... xK yK``; the path, box
  and labelled points copied verbatim from the input line; read it with
  ``read_list(..., num_points=K, image_root=<the data folder>)``.
- ``NAME.S.json``: the teacher (file, SHA-256, wheel), the crop rule, the scheme, per-face
  eye and mouth aspect ratios, the teacher's own NME on the labelled points, a summary.
- ``NAME.S.png``: a grid of faces with the points drawn (closed eyes and open mouths among
  them) to check by eye.
- ``NAME.mesh468.npy``: every mesh point (N, 468, 3) in image pixels, for distillation
  (the plain pass; the mirrored pass below is averaged in the scheme's points only).
- ``NAME.S.clean.txt`` (with ``max_teacher_nme``): the faces where the teacher agrees with the
  human labels (its NME on them at most that, face presence at least ``min_presence``),
  the training list of the drive23 model.

``mirror``: the teacher also sees each crop mirrored; its points, mirrored back and
re-paired by the scheme's flip pairs, are averaged with the plain pass. Test-time
augmentation of a teacher for pseudo-labels (Radosavovic et al. 2018, "Data Distillation:
Towards Omni-Supervised Learning"): the two passes' errors are partly independent
(measured on the 2,027 CUHK test faces: their eye aspect ratios agree with Pearson r 0.91,
not 1), so the mean is a less noisy target.

The teacher's work is kept in ``.NAME-teacher-KEY/chunk-NNNNN.npz`` (atomic writes), KEY
hashing the list bytes, the image folder, the teacher's SHA-256 and the crop rule: a killed
run restarts at the first missing chunk, and another scheme over the same list reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import DataError, EdgemarkError
from ..face_measures import eye_aspect_ratio, mouth_aspect_ratio
from ..io import atomic_path, write_json_atomic, write_text_atomic
from ..metrics import point_errors, summarize
from ..plots import draw_points, tile, write_image
from ..preprocess import apply_affine, crop_face, measure_box_rule, normalised_to_image, roll_angle, square_box
from ..scheme import LandmarkScheme
from .images import read_image
from .lists import FaceList

PSEUDO_VERSION = 1
CHUNK = 256


def crop_rule(teacher, upright: bool, mirror: bool = False) -> dict:
    crop = teacher.crop
    rule = {"size": crop.size, "margin": crop.margin, "mean": list(crop.mean), "std": list(crop.std),
            "box": "the list's box (left right top bottom); square of side max(w, h) * (1 + margin), same centre",
            "upright": upright, "angle": "roll of the labelled eye line (preprocess.roll_angle of points 0 and 1)" if upright else 0.0}
    if mirror:
        rule["mirror"] = "the crop and its mirror image; the scheme's points of both passes averaged"
    return rule


def teacher_key(faces: FaceList, teacher, upright: bool, chunk: int, mirror: bool = False) -> str:
    h = hashlib.sha256()
    h.update(Path(faces.path).read_bytes())
    folders = sorted({os.path.realpath(f) for f in {r.image_path.parent for r in faces.records}})  # the list over other images: a new key
    h.update(json.dumps([PSEUDO_VERSION, teacher.sha256, crop_rule(teacher, upright, mirror), chunk, folders,
                         [r.line for r in faces.records]]).encode())
    return h.hexdigest()[:16]


def _mesh_to_image(mesh: np.ndarray, m: np.ndarray, teacher, box) -> np.ndarray:
    out = np.empty((mesh.shape[0], 3), np.float32)
    out[:, :2] = normalised_to_image(mesh[:, :2], m, teacher.crop.size)
    out[:, 2] = mesh[:, 2] * square_box(box, teacher.crop.margin)[2]
    return out


def _teach_face(teacher, record, upright: bool, mirror: bool = False) -> tuple[np.ndarray, float, np.ndarray | None]:
    """Mesh (468, 3) in image pixels (z on the same scale), the presence score of one face,
    and with ``mirror`` the mesh of the mirrored crop, its x mirrored back (point i there is
    the mirror partner of point i: re-pair by a scheme's flip pairs after ``mesh_to_scheme``)."""
    image = read_image(record)
    angle = roll_angle(record.landmarks[0], record.landmarks[1]) if upright else 0.0
    crop, m = crop_face(image, record.box, teacher.crop.size, teacher.crop.margin, angle)
    mesh, presence = teacher.mesh_crops(crop)
    mirrored = None
    if mirror:
        flipped, _ = teacher.mesh_crops(np.ascontiguousarray(crop[:, ::-1]))
        flipped[0, :, 0] = 1.0 - flipped[0, :, 0]  # crop-normalised x: 0 and 1 are the crop's edges
        mirrored = _mesh_to_image(flipped[0], m, teacher, record.box)
    return _mesh_to_image(mesh[0], m, teacher, record.box), float(presence[0]), mirrored


def teach(faces: FaceList, teacher, work_dir: Path, upright: bool = True, chunk: int = CHUNK,
          progress=None, mirror: bool = False) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray | None]:
    """The teacher's mesh (N, 468, 3) and presence (N,) for every face, chunk by chunk, and
    with ``mirror`` the mirrored pass's mesh (see ``_teach_face``); chunks already in
    ``work_dir`` are read, not recomputed."""
    work_dir.mkdir(parents=True, exist_ok=True)
    n = len(faces)
    meshes, presences, mirrors = [], [], []
    done = computed = 0
    start = time.time()
    for c, lo in enumerate(range(0, n, chunk)):
        records = faces.records[lo : lo + chunk]
        path = work_dir / f"chunk-{c:05d}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                mesh, presence, lines = z["mesh"], z["presence"], z["lines"]
                mirrored = z["mirrored"] if mirror else None
            if list(lines) != [r.line for r in records]:
                raise EdgemarkError(f"{path}: made for other list lines; delete {work_dir} and run again")
        else:
            mesh = np.empty((len(records), 468, 3), np.float32)
            mirrored = np.empty_like(mesh) if mirror else None
            presence = np.empty(len(records), np.float32)
            for i, r in enumerate(records):
                mesh[i], presence[i], flipped = _teach_face(teacher, r, upright, mirror)
                if mirror:
                    mirrored[i] = flipped
                if progress is not None:
                    progress(lo + i + 1, n)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, mesh=mesh, presence=presence, lines=np.array([r.line for r in records]),
                         **({"mirrored": mirrored} if mirror else {}))
            computed += len(records)
        meshes.append(mesh)
        presences.append(presence)
        mirrors.append(mirrored)
        done += len(records)
        if progress is not None:
            progress(done, n)
    timing = {"faces_taught_now": computed, "faces_from_cache": n - computed, "seconds": time.time() - start}
    return np.concatenate(meshes), np.concatenate(presences), timing, (np.concatenate(mirrors) if mirror else None)


def teacher_points(mesh: np.ndarray, mirrored: np.ndarray | None, scheme: LandmarkScheme) -> np.ndarray:
    """The scheme's points (N, K, 2) from the mesh; with the mirrored pass, the mean of both
    (the mirrored pass re-paired by the scheme's flip pairs)."""
    from ..predictors.mediapipe_mesh import mesh_to_scheme

    points = mesh_to_scheme(mesh[..., :2].astype(np.float64), scheme.name)
    if mirrored is not None:
        points = (points + mesh_to_scheme(mirrored[..., :2].astype(np.float64), scheme.name)[:, scheme.flip_permutation()]) / 2
    return points


def _list_lines(faces: FaceList) -> list[str]:
    """The input list's lines as ``read_list`` numbers them (from 1)."""
    return Path(faces.path).read_bytes().decode("utf-8-sig").splitlines()


def write_list(path: Path, faces: FaceList, points: np.ndarray, labelled: int) -> list[str]:
    """Path, box and the first ``labelled`` points verbatim from each input line, the rest from
    ``points``; returns the lines written, one a face."""
    lines = _list_lines(faces)
    out = []
    for record, pts in zip(faces.records, points):
        fields = lines[record.line - 1].split()
        keep = 1 + 4 + 2 * labelled
        if len(fields) != keep:
            raise DataError(f"expected {keep} fields, got {len(fields)}", faces.path, record.line)
        out.append(" ".join(fields + [f"{v:.3f}" for v in pts[labelled:].reshape(-1)]))
    write_text_atomic(path, "\n".join(out) + "\n")
    return out


def _describe(values: np.ndarray) -> dict:
    q = np.percentile(values, [1, 5, 25, 50, 75, 95, 99])
    return {"mean": float(values.mean()), **{f"p{p}": float(v) for p, v in zip((1, 5, 25, 50, 75, 95, 99), q)}}


def measures(points: np.ndarray, scheme: LandmarkScheme) -> dict:
    """Per-face eye aspect ratios (N, 2) and mouth aspect ratio (N,), where the scheme has them."""
    out = {}
    if scheme.has_eyelids:
        out["ear"] = np.stack([eye_aspect_ratio(points, e) for e in scheme.eyes], axis=1)
    if scheme.has_mouth:
        out["mar"] = mouth_aspect_ratio(points, scheme.mouth)
    return out


def summary(ms: dict, nme5: dict) -> dict:
    s = {"teacher_nme_on_labels": nme5}
    if "ear" in ms:
        ear = ms["ear"]
        s["ear"] = {"image_left_eye": _describe(ear[:, 0]), "image_right_eye": _describe(ear[:, 1]),
                    "share_below_0.15": [float((ear[:, k] < 0.15).mean()) for k in (0, 1)],
                    "share_below_0.2": [float((ear[:, k] < 0.2).mean()) for k in (0, 1)],
                    "share_both_below_0.15": float((ear < 0.15).all(axis=1).mean()),
                    "share_both_below_0.2": float((ear < 0.2).all(axis=1).mean()),
                    "left_right_correlation": float(np.corrcoef(ear[:, 0], ear[:, 1])[0, 1])}
    if "mar" in ms:
        mar = ms["mar"]
        s["mar"] = {**_describe(mar), "share_above_0.3": float((mar > 0.3).mean()), "share_above_0.5": float((mar > 0.5).mean())}
    return s


def check_grid(faces: FaceList, points: np.ndarray, scheme: LandmarkScheme, ms: dict, n: int = 36, seed: int = 0,
               size: int = 200) -> np.ndarray:
    """n faces (upright crops, labels green, eyelids red, inner lips blue, any other teacher
    point yellow): the lowest eye aspect ratios, the widest mouths, and random ones."""
    rng = np.random.default_rng(seed)
    pick: list[int] = []
    if "ear" in ms:
        pick += [int(i) for i in np.argsort(ms["ear"].mean(axis=1))[: n // 3]]
    if "mar" in ms:
        pick += [int(i) for i in np.argsort(-ms["mar"]) if int(i) not in pick][: n // 6]
    rest = [int(i) for i in rng.permutation(len(faces)) if int(i) not in pick]
    pick += rest[: max(0, min(n, len(faces)) - len(pick))]
    labelled = set(scheme.label_points)
    lids = [i for e in scheme.eyes for i in e if i not in labelled]
    lips = [i for i in scheme.mouth if i not in labelled]
    others = [i for i in scheme.teacher_points if i not in set(lids) | set(lips)]  # jaw, brows, nose, outer lips
    tiles, captions = [], []
    for i in pick:
        r = faces.records[i]
        angle = roll_angle(r.landmarks[0], r.landmarks[1])
        crop, m = crop_face(read_image(r), r.box, size, 0.2, angle, to_rgb=False)
        crop = np.ascontiguousarray(crop)
        p = apply_affine(m, points[i])
        draw_points(crop, p[others], (0, 220, 255), 1)
        draw_points(crop, p[lids], (0, 0, 255), 1)
        draw_points(crop, p[lips], (255, 80, 0), 1)
        draw_points(crop, p[list(scheme.label_points)], (0, 200, 0), 2)
        bits = [f"L{r.line}"]
        if "ear" in ms:
            bits.append("E{:.2f}/{:.2f}".format(*ms["ear"][i]))
        if "mar" in ms:
            bits.append(f"M{ms['mar'][i]:.2f}")
        tiles.append(crop)
        captions.append(" ".join(bits))
    return tile(tiles, size, 6, captions)


def pseudo_label(faces: FaceList, teacher, scheme: LandmarkScheme, out_dir: Path, upright: bool = True,
                 chunk: int = CHUNK, progress=None, grid: bool = True, mirror: bool = False,
                 max_teacher_nme: float | None = None, min_presence: float = 0.5) -> dict:
    """Teach every face of ``faces`` (a CUHK list with the scheme's labelled points) and
    write the list, sidecar, grid and mesh into ``out_dir`` (and the clean list with
    ``max_teacher_nme``). Returns the sidecar's summary."""
    from ..predictors.mediapipe_mesh import MESH_CONTOURS, MESH_POINTS, MIDLINE
    from ..scheme import load_scheme

    k = len(scheme.label_points)
    if scheme.label_points != tuple(range(k)) or k == scheme.num_points:
        raise EdgemarkError(f"scheme {scheme.name!r}: pseudo-labels need the labelled points first and some teacher "
                            f"points after them (labelled: {list(scheme.labelled)})")
    if scheme.name not in MESH_POINTS or "cuhk5" not in MESH_POINTS:
        raise EdgemarkError(f"scheme {scheme.name!r}: no mapping from the MediaPipe mesh (known: {', '.join(MESH_POINTS)})")
    if faces.records[0].landmarks.shape[0] != k:
        raise EdgemarkError(f"{faces.path}: the list has {faces.records[0].landmarks.shape[0]} points a face, "
                            f"scheme {scheme.name!r} labels {k}")
    if any(r.box is None for r in faces.records):
        raise EdgemarkError(f"{faces.path}: pseudo-labelling crops by the list's boxes; this list has none")
    out_dir = Path(out_dir)
    stem = Path(faces.path).stem
    key = teacher_key(faces, teacher, upright, chunk, mirror)
    mesh, presence, timing, mirrored = teach(faces, teacher, out_dir / f".{stem}-teacher-{key}", upright, chunk, progress, mirror)

    labels = np.stack([r.landmarks for r in faces.records]).astype(np.float64)
    boxes = np.array([r.box for r in faces.records], np.float64)
    points = teacher_points(mesh, mirrored, scheme)
    teacher_labelled = points[:, :k].copy()
    points[:, :k] = labels
    five = teacher_points(mesh, mirrored, load_scheme("cuhk5"))
    nme5 = summarize(five, labels[:, :5], (0, 1)) if k == 5 else {}
    per_face_nme = point_errors(teacher_labelled, labels, scheme.interocular).mean(axis=1)
    ms = measures(points, scheme)

    list_out = out_dir / f"{stem}.{scheme.name}.txt"
    written = write_list(list_out, faces, points, k)
    with atomic_path(out_dir / f"{stem}.mesh468.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, mesh)
    result = summary(ms, nme5)
    result["presence"] = {"min": float(presence.min()), "share_below_0.5": float((presence < 0.5).mean())}
    if max_teacher_nme is not None:
        keep = (per_face_nme <= max_teacher_nme) & (presence >= min_presence)
        write_text_atomic(out_dir / f"{stem}.{scheme.name}.clean.txt", "\n".join(written[i] for i in np.flatnonzero(keep)) + "\n")
        result["clean_list"] = {"file": f"{stem}.{scheme.name}.clean.txt", "faces": int(keep.sum()),
                                "rule": f"teacher NME on the labelled points <= {max_teacher_nme}, face presence >= {min_presence}"}
    result["box_rule"] = {scheme.name: measure_box_rule(boxes, points),
                          "mesh468": measure_box_rule(boxes, mesh[..., :2].astype(np.float64))}
    result["timing"] = {**timing, "ms_per_face": 1000 * timing["seconds"] / max(1, timing["faces_taught_now"])}
    sidecar = {
        "what": "pseudo-labels: human labels for the scheme's labelled points, MediaPipe face mesh for the rest",
        "source_list": {"path": str(faces.path), "sha256": hashlib.sha256(Path(faces.path).read_bytes()).hexdigest(),
                        "faces": len(faces)},
        "output_list": list_out.name,
        "teacher": {"file": Path(teacher.model_path).name, "sha256": teacher.sha256, "wheel": teacher.wheel,
                    "runtime": teacher.description, "mesh_points": {name: [list(g) for g in groups]
                                                                    for name, groups in MESH_POINTS.items()},
                    **({"visible_contour": {"what": "scheme point -> inner mesh vertices; the point moves outward, across "
                                                    "the midline " + "->".join(map(str, MIDLINE)) + ", to the outermost",
                                            "points": {str(k): list(v) for k, v in MESH_CONTOURS[scheme.name].items()}}}
                       if scheme.name in MESH_CONTOURS else {})},
        "crop": crop_rule(teacher, upright, mirror),
        "scheme": scheme.to_dict(),
        "cache_key": key,
        "summary": result,
        "faces": {"line": [r.line for r in faces.records],
                  "teacher_nme_on_labels": np.round(per_face_nme, 5).tolist(),
                  "presence": np.round(presence.astype(np.float64), 5).tolist(),
                  **({"ear_image_left": np.round(ms["ear"][:, 0], 5).tolist(),
                      "ear_image_right": np.round(ms["ear"][:, 1], 5).tolist()} if "ear" in ms else {}),
                  **({"mar": np.round(ms["mar"], 5).tolist()} if "mar" in ms else {})},
    }
    write_json_atomic(out_dir / f"{stem}.{scheme.name}.json", sidecar)
    if grid:
        write_image(out_dir / f"{stem}.{scheme.name}.png", check_grid(faces, points, scheme, ms))
    return result

