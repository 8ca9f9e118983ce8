"""Landmarks of every face in one image file: the first thing a user runs, on a desktop
or on a device. Torch-free (the device runner uses it)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import EdgemarkError


def read_image_file(path) -> np.ndarray:
    data = np.fromfile(str(path), np.uint8) if Path(path).is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        raise EdgemarkError(f"{path}: not found or not an image OpenCV can decode")
    return image


def parse_box(text: str | None) -> tuple | None:
    """``--box left,top,right,bottom`` -> a tuple of floats (checked against the image later)."""
    if not text:
        return None
    try:
        box = tuple(float(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise EdgemarkError(f"--box {text!r}: expected left,top,right,bottom in pixels")
    return box


def draw_faces(image: np.ndarray, faces) -> np.ndarray:
    drawn = image.copy()
    for face in faces:
        l, t, r, b = (int(round(v)) for v in face.box)
        cv2.rectangle(drawn, (l, t), (r, b), (0, 200, 255), 1)
        for x, y in face.landmarks:
            cv2.circle(drawn, (int(round(x)), int(round(y))), 3, (0, 255, 0), -1, cv2.LINE_AA)
    return drawn


def predict_image(pipe, path, box: tuple | None = None, out=None) -> dict:
    """{"image", "detector", "faces": [{box, score, landmarks}, ...]} for every face in the
    image (largest first), or the face in ``box``. ``out``: the image with them drawn
    (nothing drawn when there is no face)."""
    from .io import atomic_path

    image = read_image_file(path)
    faces = pipe(image, box)
    if out is not None:
        out = Path(out)
        ext = out.suffix or ".png"
        ok, encoded = cv2.imencode(ext, draw_faces(image, faces))
        if not ok:
            raise EdgemarkError(f"{out}: cannot encode an image of type {ext}")
        try:
            with atomic_path(out) as tmp:
                tmp.write_bytes(encoded.tobytes())
        except OSError as e:
            raise EdgemarkError(f"{out}: cannot write the drawn image there ({e.strerror or e})") from None
    return {"image": str(path), "detector": "given box" if box is not None else pipe.detector.name,
            "faces": [f.to_dict(pipe.scheme.names) for f in faces]}
