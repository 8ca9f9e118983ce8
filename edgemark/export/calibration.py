"""The calibration set for post-training quantisation: face crops from the training
list (never the test list), chosen by a seed, cut by the shared preprocessing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..data.images import read_image
from ..data.lists import FaceList
from ..preprocess import CropSpec, crop_face


def calibration_crops(faces: FaceList, crop: CropSpec, size: int = 200, seed: int = 0) -> tuple[np.ndarray, dict]:
    """uint8 RGB crops (N, H, W, 3) and a description for the manifest."""
    pick = np.sort(np.random.default_rng(seed).choice(len(faces), size=min(size, len(faces)), replace=False))
    crops = np.stack([crop_face(read_image(faces.records[i]), faces.records[i].box, crop.size, crop.margin)[0] for i in pick])
    info = {"list": Path(faces.path).name, "list_sha256": hashlib.sha256(Path(faces.path).read_bytes()).hexdigest(),
            "faces": int(len(pick)), "seed": seed, "lines": [faces.records[i].line for i in pick]}
    return crops, info
