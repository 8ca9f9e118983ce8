"""Figures: cumulative error distribution and image grids with landmarks drawn."""

from __future__ import annotations

import threading

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402

GREEN, RED = (0, 200, 0), (0, 0, 255)  # BGR

# matplotlib is not thread-safe: its mathtext parser (the log axes' tick labels) shares state,
# and two threads drawing at once fail with ParseException. A fleet benchmark writes each
# device's figures from its own thread, so every figure is drawn holding this lock.
FIGURE_LOCK = threading.Lock()


def plot_ced(curves: dict[str, np.ndarray], path, threshold: float = 0.10, title: str = "") -> None:
    """Cumulative error distribution: share of faces with NME <= x, one curve per name."""
    with FIGURE_LOCK:
        fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
        xs = np.linspace(0, threshold * 1.5, 301)
        for name, per_face in curves.items():
            ax.plot(xs * 100, [(per_face <= x).mean() * 100 for x in xs], label=name)
        ax.axvline(threshold * 100, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("NME (% of inter-ocular distance)")
        ax.set_ylabel("faces (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        ax.set_title(title or "Cumulative error distribution")
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)


def draw_points(image: np.ndarray, points: np.ndarray, color, radius: int = 2) -> None:
    for x, y in np.asarray(points):
        cv2.circle(image, (int(round(x)), int(round(y))), radius, color, -1, cv2.LINE_AA)


def tile(images: list[np.ndarray], size: int = 160, columns: int = 8, captions: list[str] | None = None) -> np.ndarray:
    """Square tiles in a grid, each resized to ``size`` with an optional caption."""
    tiles = []
    for i, im in enumerate(images):
        t = cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
        if captions:
            cv2.putText(t, captions[i], (3, size - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(t)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[r : r + columns]) for r in range(0, len(tiles), columns)]
    return np.vstack(rows)


def write_image(path, image: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
