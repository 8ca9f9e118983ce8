"""Decoding images with errors that name the list line they came from."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import DataError
from .lists import FaceRecord, box_problem


def read_image(record: FaceRecord) -> np.ndarray:
    """BGR uint8 image of a record; DataError naming the list line when it cannot be read or
    the record's box does not overlap it (``read_list`` checks that too, from the header)."""
    data = None
    try:
        data = np.fromfile(str(record.image_path), np.uint8)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise DataError(f"cannot read image {record.image_path}: {getattr(e, 'strerror', None) or e}", record.list_path,
                        record.line) from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(f"unreadable image (not a decodable picture): {record.image_path}", record.list_path, record.line)
    problem = box_problem(record.box, image.shape[1], image.shape[0]) if record.box is not None else None
    if problem:
        raise DataError(problem, record.list_path, record.line)
    return image


def record_box(record: FaceRecord, image: np.ndarray, box_mode: str = "given", box_rule: dict | None = None):
    """The box to crop by: the list's own, the whole image, or one derived from landmarks."""
    from ..preprocess import box_from_landmarks

    if box_mode == "landmarks":
        if box_rule is None:
            raise DataError("--box landmarks needs the box rule stored in the checkpoint", record.list_path, record.line)
        return box_from_landmarks(record.landmarks, box_rule)
    if record.box is not None and box_mode == "given":
        return record.box
    h, w = image.shape[:2]
    return (-0.5, -0.5, w - 0.5, h - 0.5)  # the whole image, edge to edge
