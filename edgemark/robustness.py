"""The robustness suite: NME and failure rate of one artifact on the faces of a list
under the conditions a deployed model meets (other boxes, rolled and turned heads, small,
compressed, blurred, dark, over-exposed and occluded faces), each measured three ways:

- ``box``: the (moved) given box, one landmark pass on an unturned crop (what ``edgemark
  eval`` measures);
- ``refined``: the pipeline with that box: its default refinement passes for a given box,
  upright crops (``pipeline.GIVEN_BOX_REFINE``);
- ``detector``: the pipeline with its face detector on the whole (changed) photo, upright
  crops, the detector's own refinement; a labelled face no detector box holds is a miss,
  and a miss is a failure.

Every condition is applied to the photo (and the labels moved with it) before any of the
three runs, deterministically per face, so two artifacts meet the same faces. Head turn is
not a change but a bin: the faces of the unchanged photos grouped by how far the nose sits
from the eye midpoint along the eye line (in inter-ocular distances)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .data.images import read_image
from .data.lists import FaceList
from .evaluate_pipeline import match_face
from .errors import EdgemarkError
from .face_measures import TURN_BINS, head_turn, head_turns, turn_bins  # noqa: F401  (re-exported)
from .io import write_json_atomic, write_text_atomic
from .metrics import point_errors

PATHS = ("box", "refined", "detector")


@dataclass(frozen=True)
class Condition:
    group: str
    value: float
    paths: tuple[str, ...] = PATHS

    @property
    def name(self) -> str:
        return f"{self.group}={self.value:g}"


# What each group changes, and its unit, for the report.
GROUPS = {
    "none": "the photo as it is",
    "scale": "given box side multiplied by this (boxes of another detector or convention)",
    "shift": "given box centre moved by this share of its side (a random direction per face)",
    "roll": "photo turned by this many degrees about the face (half the faces each way)",
    "small": "photo shrunk (area) so that the eyes are this many pixels apart",
    "jpeg": "photo re-encoded as JPEG at this quality",
    "motion_blur": "linear motion blur this long (inter-ocular distances), a random direction per face",
    "defocus": "defocus (disc) blur of this radius (inter-ocular distances)",
    "gamma": "exposure: gamma (below 1 over-exposed, above 1 dark)",
    "occlusion": "a flat grey square of this side (share of the box side) at a random place on the face box",
}
SCALES = (0.6, 0.8, 1.2, 1.4, 1.6, 1.8, 2.0)
SHIFTS = (0.05, 0.1, 0.15, 0.2, 0.25)
ROLLS = (15, 30, 45, 60, 75, 90)
EYE_DISTANCES = (16, 20, 24, 32)
JPEG_QUALITIES = (10, 20, 30)
MOTION_LENGTHS = (0.1, 0.2, 0.3)
DEFOCUS_RADII = (0.05, 0.1, 0.15)
GAMMAS = (0.4, 0.6, 1.6, 2.5)
OCCLUSIONS = (0.3, 0.5)


def conditions() -> list[Condition]:
    boxes = ("box", "refined")  # a moved box does not change what the detector sees
    return ([Condition("none", 0)] + [Condition("scale", v, boxes) for v in SCALES] +
            [Condition("shift", v, boxes) for v in SHIFTS] + [Condition("roll", v) for v in ROLLS] +
            [Condition("small", v) for v in EYE_DISTANCES] + [Condition("jpeg", v) for v in JPEG_QUALITIES] +
            [Condition("motion_blur", v) for v in MOTION_LENGTHS] + [Condition("defocus", v) for v in DEFOCUS_RADII] +
            [Condition("gamma", v) for v in GAMMAS] + [Condition("occlusion", v) for v in OCCLUSIONS])


def apply(condition: Condition, image: np.ndarray, box, truth: np.ndarray, eyes: tuple[int, int],
          rng: np.random.Generator, sign: int):
    """The changed photo, box and labels of one face."""
    g, v = condition.group, condition.value
    box = np.asarray(box, np.float64)
    side = max(box[2] - box[0], box[3] - box[1])
    centre = (box[:2] + box[2:]) / 2
    iod = float(np.linalg.norm(truth[eyes[1]] - truth[eyes[0]])) or 1.0
    if g == "scale":
        half = (box[2:] - box[:2]) * v / 2
        return image, (*(centre - half), *(centre + half)), truth
    if g == "shift":
        d = rng.uniform(0, 2 * np.pi)
        move = v * side * np.array([np.cos(d), np.sin(d)])
        return image, tuple(box + np.tile(move, 2)), truth
    if g == "roll":
        return _rolled(image, box, truth, sign * v)
    if g == "small":
        f = v / iod
        if f >= 1:  # already that small: unchanged
            return image, tuple(box), truth
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        scale = np.array([fx, fy])  # continuous edges: x' + 0.5 = (x + 0.5) * f
        return small, tuple(np.tile(scale, 2) * (box + 0.5) - 0.5), (truth + 0.5) * scale - 0.5
    if g == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(v)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR), tuple(box), truth
    if g == "motion_blur":
        n = max(2, int(round(v * iod)))
        kernel = np.zeros((2 * n + 1, 2 * n + 1), np.float32)
        d = rng.uniform(0, np.pi)
        c = np.array([n, n], np.float64)
        cv2.line(kernel, tuple(np.round(c - n / 2 * np.array([np.cos(d), np.sin(d)])).astype(int)),
                 tuple(np.round(c + n / 2 * np.array([np.cos(d), np.sin(d)])).astype(int)), 1.0, 1)
        return cv2.filter2D(image, -1, kernel / kernel.sum()), tuple(box), truth
    if g == "defocus":
        r = max(1, int(round(v * iod)))
        kernel = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
        cv2.circle(kernel, (r, r), r, 1.0, -1)
        return cv2.filter2D(image, -1, kernel / kernel.sum()), tuple(box), truth
    if g == "gamma":
        table = (255.0 * (np.arange(256) / 255.0) ** v).round().astype(np.uint8)
        return cv2.LUT(image, table), tuple(box), truth
    if g == "occlusion":
        s = v * side
        x, y = rng.uniform(box[0], box[2] - s), rng.uniform(box[1], box[3] - s)
        out = image.copy()
        cv2.rectangle(out, (int(x), int(y)), (int(x + s), int(y + s)), (128, 128, 128), -1)
        return out, tuple(box), truth
    return image, tuple(box), truth


def _rolled(image, box, truth, angle: float):
    """The photo turned by ``angle`` degrees about the box centre on a canvas that holds all
    of it; the given box keeps its size about the turned centre."""
    h, w = image.shape[:2]
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]]) @ m[:, :2].T + m[:, 2]
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    m[:, 2] -= lo + 0.5
    size = tuple(int(np.ceil(v)) for v in hi - lo)
    turned = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    c = np.asarray(centre) @ m[:, :2].T + m[:, 2]
    half = (np.asarray(box[2:]) - np.asarray(box[:2])) / 2
    return turned, (*(c - half), *(c + half)), truth @ m[:, :2].T + m[:, 2]


def run_suite(pipe, faces: FaceList, seed: int = 0, detectors: dict | None = None, progress=None) -> dict:
    """Every condition on every face of ``faces``, three ways (see the module text);
    ``detectors``: more named detectors to run on the unchanged photos (the pipeline's own
    runs everywhere). Returns per-condition NME / FR / misses and the head-turn bins."""
    from .pipeline import GIVEN_BOX_REFINE, Pipeline

    scheme = pipe.scheme
    eyes = tuple(scheme.interocular)
    boxed = Pipeline(pipe.predictor, None, refine=GIVEN_BOX_REFINE, upright=True)
    images = {}
    records = faces.records
    truth = np.stack([r.landmarks for r in records]).astype(np.float64)
    turns = head_turns(truth, scheme)  # eye centres and nose tip by name; None when the scheme has none
    todo = conditions()
    total = len(todo) + len(detectors or {})
    rows, per_face_none = [], {}
    for k, cond in enumerate(todo):
        errors = {p: np.full(len(records), np.inf) for p in cond.paths}
        rng = np.random.default_rng([seed, k])
        for i, r in enumerate(records):
            if str(r.image_path) not in images:
                images[str(r.image_path)] = read_image(r)
            image, box, t = apply(cond, images[str(r.image_path)], r.box, truth[i], eyes, rng, 1 if i % 2 == 0 else -1)
            for path in cond.paths:
                errors[path][i] = _face_error(path, pipe, boxed, image, box, t, eyes)
        rows.append(_row(cond.group, cond.value, errors))
        if cond.group == "none":
            per_face_none = errors
        if progress:
            progress(k + 1, total)
    for j, (name, detector) in enumerate((detectors or {}).items()):
        other = Pipeline(pipe.predictor, detector, upright=pipe.upright)
        errors = {"detector": np.array([_face_error("detector", other, boxed, images[str(r.image_path)], r.box, truth[i], eyes)
                                        for i, r in enumerate(records)])}
        rows.append(_row("detector", name, errors))
        if progress:
            progress(len(todo) + j + 1, total)
    turn_rows = []
    if turns is not None:
        for lo, hi, sel in turn_bins(turns):
            turn_rows.append({"bin": [lo, hi], "faces": int(sel.sum()), **{p: _stats(e[sel]) for p, e in per_face_none.items()}})
    from .environment import machine_line
    from .export.manifest import library_versions

    return {"faces": len(records), "list": faces.path, "model": pipe.predictor.description, "seed": seed,
            "machine": machine_line(), "versions": library_versions("ai-edge-litert", "onnxruntime", "openvino", "ncnn", "torch", "opencv-python"),
            "detector": pipe.detector.description if pipe.detector else None, "given_box_refine": GIVEN_BOX_REFINE,
            "rows": rows, "turn_bins": turn_rows}


def _face_error(path: str, pipe, boxed, image, box, truth, eyes) -> float:
    """NME of one face by one path (inf for a miss)."""
    if path == "box":
        pred = pipe.predictor.predict(image, tuple(box), 0.0)
    elif path == "refined":
        try:
            pred = boxed(image, box=box)[0].landmarks
        except EdgemarkError:  # a box moved off its photo: nothing to crop
            return float("inf")
    else:
        face, found = match_face(pipe(image), truth)
        if not found:
            return float("inf")
        pred = face.landmarks
    return float(point_errors(pred[None], truth[None], eyes).mean())


def _stats(errors: np.ndarray, threshold: float = 0.10) -> dict:
    found = np.isfinite(errors)
    return {"nme": float(errors[found].mean()) if found.any() else None, "failure_rate": float((errors > threshold).mean()),
            "missed": int((~found).sum())}


def _row(group: str, value, errors: dict) -> dict:
    return {"group": group, "value": value, **{p: _stats(e) for p, e in errors.items()}}


def write_report(result: dict, out_dir: Path, label: str, command: str, conditions_text: str = "") -> list[Path]:
    """robustness.json, robustness.md (one table: NME and FR per row and path) and one plot
    per group (NME against the condition, one line per path)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path
    from .plots import FIGURE_LOCK

    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "robustness.json", result)
    written = [out_dir / "robustness.json"]
    fmt = lambda s: "" if s is None else (f"{s['nme'] * 100:.2f} / {s['failure_rate'] * 100:.1f}" if s["nme"] is not None else "all missed")  # noqa: E731
    lines = [f"# Robustness suite: {label}", "", f"Command: `{command}`", "",
             f"Machine: {result.get('machine', 'not recorded')}. Versions: "
             + ", ".join(f"{k} {v}" for k, v in (result.get("versions") or {}).items()) + ".", "", conditions_text,
             f"{result['faces']} faces of `{Path(result['list']).name}`; runtime: {result['model']}; detector: {result['detector']}; "
             f"seed {result['seed']}. Each cell: NME % (found faces) / FR@0.10 % (a miss counts as a failure); "
             f"misses in brackets. `box`: the given box, one pass, unturned crop; `refined`: the pipeline with that box "
             f"({result['given_box_refine']} refinement passes, upright crops); `detector`: the pipeline with its detector on the whole photo.", "",
             "Conditions: " + "; ".join(f"**{g}**: {text}" for g, text in GROUPS.items() if g != "none") +
             "; **detector NAME**: boxes from that detector on the unchanged photos.", "",
             "| condition | box | refined | detector |", "|---|---:|---:|---:|"]
    for row in result["rows"]:
        cells = []
        for p in PATHS:
            s = row.get(p)
            cells.append("" if s is None else fmt(s) + (f" ({s['missed']})" if s["missed"] else ""))
        value = row["value"] if isinstance(row["value"], str) else f"{row['value']:g}"
        lines.append(f"| {row['group']} {value} | " + " | ".join(cells) + " |")
    if result["turn_bins"]:
        lines += ["", "Head turn (the unchanged photos, binned by |nose - eye midpoint| along the eye line / inter-ocular distance):", "",
                  "| turn bin | faces | box | refined | detector |", "|---|---:|---:|---:|---:|"]
        for b in result["turn_bins"]:
            hi = "" if b["bin"][1] is None else f"{b['bin'][1]:g}"
            lines.append(f"| {b['bin'][0]:g}-{hi} | {b['faces']} | " + " | ".join(fmt(b.get(p)) for p in PATHS) + " |")
    write_text_atomic(out_dir / "robustness.md", "\n".join(lines) + "\n")
    written.append(out_dir / "robustness.md")
    base = next(r for r in result["rows"] if r["group"] == "none")
    for group in [g for g in GROUPS if g != "none"]:
        rows = [base] + [r for r in result["rows"] if r["group"] == group]
        if len(rows) < 2:
            continue
        xs = [{"scale": 1.0, "gamma": 1.0, "jpeg": 100, "small": None}.get(group, 0.0)] + [r["value"] for r in rows[1:]]
        if xs[0] is None:  # the unchanged photo has no single eye distance
            rows, xs = rows[1:], xs[1:]
        with FIGURE_LOCK:  # matplotlib is not thread-safe (edgemark.plots)
            fig, ax = plt.subplots(figsize=(5, 3.5), dpi=110)
            for p in PATHS:
                pts = [(x, r[p]["nme"] * 100) for x, r in zip(xs, rows) if p in r and r[p]["nme"] is not None]
                if pts:
                    ax.plot(*zip(*sorted(pts)), "o-", label=p)
            ax.axhline(5, color="grey", ls="--", lw=0.8)
            ax.set_xlabel(GROUPS[group], fontsize=7)
            ax.set_ylabel("NME (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            ax.set_title(f"{label}: {group}", fontsize=8)
            fig.tight_layout()
            with atomic_path(out_dir / f"robustness_{group}.png") as tmp:
                fig.savefig(tmp, format="png")
            plt.close(fig)
        written.append(out_dir / f"robustness_{group}.png")
    return written
