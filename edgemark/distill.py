"""Knowledge distillation targets: what one or more trained teachers say about every
training face, computed once before training and then moved with each augmentation.

For each cached face the teachers see its un-augmented crop (their own input size, the
same crop region) and, with ``mirror``, its mirror image; the predictions are averaged
(an ensemble with flip averaging) and stored in cache-crop pixels. The data set then
applies the sample's jitter, rotation and flip to these points exactly as to the labels,
so the student gets a second target on every augmented crop without running a teacher
in the training loop (on 2 CPU cores an online ensemble would triple the epoch time).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .augment import flip_points
from .checkpoint import LoadedModel, load_checkpoint
from .data.cache import CropCache
from .errors import EdgemarkError
from .io import file_sha256
from .preprocess import CropSpec, crop_face, normalise, normalised_to_image
from .scheme import LandmarkScheme


def load_teachers(paths: list[Path], scheme: LandmarkScheme, crop: CropSpec, split: dict, console) -> list[LoadedModel]:
    """Teachers that predict ``scheme`` on the same crop region as the student. ``split``
    describes the student's validation split; a teacher trained on another split has seen
    some of the student's validation faces, which makes its validation NME optimistic."""
    teachers = []
    for path in paths:
        state = load_checkpoint(path)
        teacher = LoadedModel(state, str(path))
        if teacher.scheme.to_dict() != scheme.to_dict():
            raise EdgemarkError(f"{path}: the teacher predicts the {teacher.scheme.name} scheme; the student is trained on {scheme.name}")
        if abs(teacher.crop.margin - crop.margin) > 1e-9 or tuple(teacher.crop.mean) != tuple(crop.mean) or tuple(teacher.crop.std) != tuple(crop.std):
            raise EdgemarkError(f"{path}: the teacher's crop margin/normalisation differ from the student's; distillation needs the same crop region")
        m = teacher.recipe.model
        console.print(f"teacher {path} ({m.name} x{m.width} @ {teacher.crop.size}px)")
        warn_if_other_split(state, path, split, console)
        teachers.append(teacher)
    return teachers


def warn_if_other_split(state: dict, path: Path, split: dict, console) -> None:
    """A checkpoint trained on another train/validation split has seen validation faces."""
    if split_of(state) != split:
        console.print(f"[yellow]warning: {path} was trained with another train/validation split "
                      f"({split_of(state)} vs {split}); it has seen some validation faces, so validation NME is optimistic")


def split_of(state: dict) -> dict:
    """What fixes a run's train/validation split (compare before trusting validation NME)."""
    recipe = state["recipe"]
    return {"list": Path(state["train_list"]).name, "faces": int(state["train_faces"]) + int(state["val_faces"]),
            "seed": split_seed(recipe), "val_fraction": float(recipe["val_fraction"])}


def describe(paths: list[Path], weight: float, mirror: bool) -> dict:
    """The checkpoint record of a distillation."""
    for p in paths:
        if not Path(p).is_file():
            raise EdgemarkError(f"{p}: teacher checkpoint not found")
    return {"files": [str(p) for p in paths], "sha256": [file_sha256(p) for p in paths], "weight": weight, "mirror": mirror}


def same_distillation(recorded: dict | None, paths: list[Path], weight: float, mirror: bool) -> bool:
    """Whether a resumed run distils as it started: the same teacher files (by hash, wherever
    they now sit), weight and mirroring; or no teacher then and now."""
    if not recorded or not paths:
        return not recorded and not paths
    now = describe(paths, weight, mirror)
    return all(recorded.get(k) == now[k] for k in ("sha256", "weight", "mirror"))


@torch.no_grad()
def teacher_targets(teachers: list[LoadedModel], cache: CropCache, indices: np.ndarray, mirror: bool = True,
                    batch_size: int = 256, progress=None) -> np.ndarray:
    """(N, K, 2) cache-crop pixel landmarks for the faces in ``indices`` (other rows: NaN)."""
    n, k = cache.landmarks.shape[:2]
    out = np.full((n, k, 2), np.nan, np.float32)
    indices = np.asarray(indices)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        total = np.zeros((len(chunk), k, 2), np.float64)
        cut = {}  # crops per input size: teachers of one size share them
        for teacher in teachers:
            spec = teacher.crop
            if spec.size not in cut:
                crops, mats = zip(*(crop_face(cache.images[j], tuple(cache.boxes[j]), spec.size, spec.margin, to_rgb=False) for j in chunk))
                cut[spec.size] = np.stack(crops), mats
            crops, mats = cut[spec.size]
            uv = _predict(teacher, crops)
            if mirror:  # predict on the mirror image, mirror the points back, average
                perm = teacher.scheme.flip_permutation()
                flipped = _predict(teacher, np.ascontiguousarray(crops[:, :, ::-1]))
                uv = (uv + np.stack([flip_points(f, perm) for f in flipped])) / 2.0
            total += np.stack([normalised_to_image(u, m, spec.size) for u, m in zip(uv, mats)])
        out[chunk] = total / len(teachers)
        if progress is not None:
            progress(min(start + batch_size, len(indices)), len(indices))
    return out


def split_seed(recipe: dict) -> int:
    """The train/validation split's seed of a checkpoint's recipe (older ones have no split_seed)."""
    from .recipe import recipe_from_dict

    return recipe_from_dict(recipe).validation_seed


def _predict(teacher: LoadedModel, crops: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(normalise(crops, teacher.crop.mean, teacher.crop.std))
    return teacher.model(x).numpy().astype(np.float64)
