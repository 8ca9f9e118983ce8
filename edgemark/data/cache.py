"""On-disk cache of decoded face crops, so an epoch on 2 CPU cores does not decode JPEGs.

Each face is stored once as a square RGB crop with context around the training crop
(``CONTEXT`` times its side, at the model's pixel density), enough room for rotation,
scale and shift augmentation. Box and landmarks are stored in cache-crop coordinates,
and training crops are cut from it with the same ``crop_face`` as everywhere else.

The cache key hashes the list file's bytes, the crop parameters and every image it was
cut from (resolved path, size and modification time: the same list over another
``--images`` folder, or an image replaced in place, is a new cache); files are written
to a temporary name and renamed, so a killed build never leaves a cache taken as valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..preprocess import apply_affine, crop_face
from .images import read_image
from .lists import FaceList

CONTEXT = 2.0
CACHE_VERSION = 2  # 2: crops area-reduced over whole k x k blocks (preprocess._area_reduce)


def default_cache_dir() -> Path:
    return Path(os.environ.get("EDGEMARK_CACHE", Path.home() / ".cache" / "edgemark"))


@dataclass
class CropCache:
    images: np.ndarray  # (N, R, R, 3) uint8 RGB, memory-mapped
    boxes: np.ndarray  # (N, 4) left, top, right, bottom in cache-crop pixels
    landmarks: np.ndarray  # (N, K, 2) cache-crop pixels
    image_paths: list[str]

    def __len__(self) -> int:
        return len(self.boxes)


def cache_key(face_list: FaceList, size: int, margin: float) -> str:
    h = hashlib.sha256()
    if face_list.points_elsewhere:  # 300-W: the points and boxes come from .pts files, the list may be a folder
        h.update(np.stack([r.landmarks for r in face_list.records]).astype(np.float32).tobytes())
        h.update(np.array([r.box for r in face_list.records], np.float64).tobytes())
        h.update(json.dumps([str(r.image_path) for r in face_list.records]).encode())
    else:
        h.update(Path(face_list.path).read_bytes())
    h.update(json.dumps([CACHE_VERSION, CONTEXT, size, margin, [r.line for r in face_list.records]]).encode())
    h.update(json.dumps(_image_identities(face_list)).encode())
    return h.hexdigest()[:16]


def _image_identities(face_list: FaceList) -> list:
    """Resolved path, size and modification time of each image: a stat per image, no reading."""
    folders: dict[Path, str] = {}  # a few folders hold all the images: resolve each once
    identities = []
    for r in face_list.records:
        folder = Path(r.image_path).parent
        if folder not in folders:
            folders[folder] = os.path.realpath(folder)
        try:
            st = os.stat(r.image_path)
            identities.append([folders[folder], Path(r.image_path).name, st.st_size, st.st_mtime_ns])
        except OSError:  # reading it will name the list line
            identities.append([folders[folder], Path(r.image_path).name, None, None])
    return identities


def load_or_build_cache(face_list: FaceList, size: int, margin: float, cache_dir: Path | None = None,
                        progress=None) -> CropCache:
    cache_dir = Path(cache_dir or default_cache_dir())
    # names joined as strings: Path.with_suffix on "crops-a.b.c-96-KEY" would cut at the list
    # name's own dots and give two lists (train.x.txt, train.x.clean.txt) one cache
    name = f"crops-{Path(face_list.path).stem}-{size}-{cache_key(face_list, size, margin)}"
    images_file, meta_file = cache_dir / f"{name}.u8", cache_dir / f"{name}.npz"
    resolution = int(round(size * CONTEXT))
    n = len(face_list)
    if not (images_file.exists() and meta_file.exists()):
        cache_dir.mkdir(parents=True, exist_ok=True)
        _build(face_list, size, margin, resolution, images_file, meta_file, progress)
    meta = np.load(meta_file, allow_pickle=False)
    images = np.memmap(images_file, np.uint8, "r", shape=(n, resolution, resolution, 3))
    return CropCache(images, meta["boxes"], meta["landmarks"], [str(p) for p in meta["paths"]])


def _build(face_list, size, margin, resolution, images_file, meta_file, progress):
    n = len(face_list)
    tmp_images = images_file.with_suffix(f".u8.tmp{os.getpid()}")
    tmp_meta = meta_file.with_suffix(f".tmp{os.getpid()}.npz")
    images = np.memmap(tmp_images, np.uint8, "w+", shape=(n, resolution, resolution, 3))
    boxes = np.zeros((n, 4), np.float32)
    landmarks = np.zeros((n, face_list.records[0].landmarks.shape[0], 2), np.float32)
    # the cache crop: same centre as the training crop, CONTEXT times its side
    cache_margin = (1.0 + margin) * CONTEXT - 1.0
    start = time.time()
    try:
        for i, record in enumerate(face_list.records):
            image = read_image(record)
            box = record.box if record.box is not None else (-0.5, -0.5, image.shape[1] - 0.5, image.shape[0] - 0.5)
            crop, m = crop_face(image, box, resolution, cache_margin)
            images[i] = crop
            corners = apply_affine(m, np.array([[box[0], box[1]], [box[2], box[3]]]))
            boxes[i] = corners.reshape(-1)
            landmarks[i] = apply_affine(m, record.landmarks)
            if progress is not None:
                progress(i + 1, n)
        images.flush()
        del images
        np.savez(tmp_meta, boxes=boxes, landmarks=landmarks,
                 paths=np.array([str(r.image_path) for r in face_list.records]),
                 seconds=np.float64(time.time() - start))
        os.replace(tmp_images, images_file)
        os.replace(tmp_meta, meta_file)
    finally:
        for tmp in (tmp_images, tmp_meta):
            if tmp.exists():
                tmp.unlink()
