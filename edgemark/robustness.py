"""Operating range of a model: NME when the face box is shifted or scaled (as boxes from
another detector would be) and when the face is rotated in the crop. Every point runs
the artifact in its own runtime on the same faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.images import read_image
from .data.lists import FaceList
from .io import write_json_atomic, write_text_atomic
from .metrics import summarize
from .preprocess import crop_face, normalised_to_image

SHIFTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)  # box centre moved by this share of the box side
SCALES = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)  # box side multiplied by this
ANGLES = (0, 10, 20, 30, 45, 60)  # face rotated in the crop, degrees


def _moved(box, dx: float, dy: float, scale: float):
    l, t, r, b = box
    cx, cy, w, h = (l + r) / 2 + dx, (t + b) / 2 + dy, (r - l) * scale, (b - t) * scale
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def sweep(predictor, faces: FaceList, seed: int = 0, progress=None) -> dict:
    images = [read_image(r) for r in faces.records]
    truth = np.stack([r.landmarks for r in faces.records])
    directions = np.random.default_rng(seed).uniform(0, 2 * np.pi, len(faces))  # one random direction per face
    size, margin = predictor.crop.size, predictor.crop.margin

    def nme(shift=0.0, scale=1.0, angle=0.0) -> float:
        pred = np.zeros_like(truth)
        for i, (r, image) in enumerate(zip(faces.records, images)):
            side = max(r.box[2] - r.box[0], r.box[3] - r.box[1])
            box = _moved(r.box, shift * side * np.cos(directions[i]), shift * side * np.sin(directions[i]), scale)
            sign = 1 if i % 2 == 0 else -1  # half the faces turned each way
            crop, m = crop_face(image, box, size, margin, sign * angle)
            pred[i] = normalised_to_image(predictor.predict_crops(crop)[0], m, size)
        return summarize(pred, truth, predictor.scheme.interocular)["nme"]

    points = [("shift", v, {"shift": v}) for v in SHIFTS] + [("scale", v, {"scale": v}) for v in SCALES] + \
             [("rotation", v, {"angle": v}) for v in ANGLES]
    result = {"faces": len(faces), "list": faces.path, "model": getattr(predictor, "description", ""), "shift": {}, "scale": {}, "rotation": {}}
    for i, (kind, value, kwargs) in enumerate(points):
        result[kind][str(value)] = nme(**kwargs)
        if progress:
            progress(i + 1, len(points))
    return result


def write_report(result: dict, out_dir: Path, label: str, command: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "robustness.json", result)
    written = [out_dir / "robustness.json"]
    titles = {"shift": ("box centre shift (share of box side)", 1), "scale": ("box side scale", 1), "rotation": ("face rotation (degrees)", 1)}
    lines = [f"# Robustness of {label}", "", f"Command: `{command}`", "", f"{result['faces']} faces of {Path(result['list']).name}; "
             f"runtime: {result['model']}. NME in % of the inter-ocular distance.", ""]
    for kind, (xlabel, _) in titles.items():
        xs = [float(k) for k in result[kind]]
        ys = [v * 100 for v in result[kind].values()]
        fig, ax = plt.subplots(figsize=(5, 3.5), dpi=120)
        ax.plot(xs, ys, "o-")
        ax.axhline(10, color="grey", ls="--", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("NME (%)")
        ax.grid(alpha=0.3)
        ax.set_title(f"{label}: {kind}", fontsize=9)
        fig.tight_layout()
        with atomic_path(out_dir / f"robustness_{kind}.png") as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        written.append(out_dir / f"robustness_{kind}.png")
        lines += [f"| {xlabel} | " + " | ".join(f"{x:g}" for x in xs) + " |", "|---|" + "---:|" * len(xs),
                  "| NME % | " + " | ".join(f"{y:.2f}" for y in ys) + " |", ""]
    write_text_atomic(out_dir / "robustness.md", "\n".join(lines))
    return written + [out_dir / "robustness.md"]
