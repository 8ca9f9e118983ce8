"""A torch Dataset over the crop cache: augment, crop, normalise.

Randomness is drawn from a generator seeded by (seed, epoch, index), so a sample's
augmentation does not depend on worker count or order, and a resumed run sees the
same samples as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from ..augment import AugmentConfig, flip_horizontal, flip_points, jitter_box, photometric
from ..preprocess import CropSpec, crop_face, image_to_normalised, normalise, roll_angle
from ..scheme import LandmarkScheme
from .cache import CropCache


class LandmarkDataset(Dataset):
    def __init__(self, cache: CropCache, indices, spec: CropSpec, scheme: LandmarkScheme,
                 augment: AugmentConfig | None, seed: int = 0, source_ids: np.ndarray | None = None,
                 targets: np.ndarray | None = None, upright: bool = False):
        self.cache, self.indices = cache, np.asarray(indices)
        # upright crops: turned by the labelled eye line first (as the pipeline turns them by the
        # detector's eye keypoints or the previous landmarks), the rotation jitter then applies around upright
        self.upright_eyes = tuple(scheme.interocular) if upright else None
        # per face of the cache: a second set of points (cache-crop pixels) that moves with the
        # augmentation like the labels, e.g. teachers' predictions (see distill.py)
        self.targets = targets
        # per face of the cache: which learned label offset applies (0: none; see source_offsets.py)
        self.source_ids = np.zeros(len(cache.landmarks), np.int64) if source_ids is None else np.asarray(source_ids, np.int64)
        self.spec, self.augment, self.seed = spec, augment, seed
        self.flip_perm = scheme.flip_permutation()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
        """uint8 RGB crop, its crop-normalised landmarks, whether it was mirrored, and the
        crop-normalised second targets (the landmarks again when there are none)."""
        j = int(self.indices[i])
        image, box, points = self.cache.images[j], tuple(self.cache.boxes[j]), self.cache.landmarks[j]
        angle, flip, rng = 0.0, False, None
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, j])
            box, angle = jitter_box(box, rng, self.augment)
            flip = rng.random() < self.augment.flip
        if self.upright_eyes is not None:
            angle += roll_angle(points[self.upright_eyes[0]], points[self.upright_eyes[1]])
        crop, m = crop_face(image, box, self.spec.size, self.spec.margin, angle, to_rgb=False)
        uv = image_to_normalised(points, m, self.spec.size)
        second = uv if self.targets is None else image_to_normalised(self.targets[j], m, self.spec.size)
        if flip:
            second = flip_points(second, self.flip_perm)
            crop, uv = flip_horizontal(crop, uv, self.flip_perm)
        if rng is not None:
            crop = photometric(crop, rng, self.augment)
        return crop, uv, bool(flip), second

    def __getitem__(self, i: int):
        """Normalised crop, landmarks, source id, the mirrored flag and the second targets."""
        crop, uv, flipped, second = self.sample(i)
        x = normalise(crop, self.spec.mean, self.spec.std)[0]
        return torch.from_numpy(x), torch.from_numpy(uv), int(self.source_ids[int(self.indices[i])]), flipped, torch.from_numpy(second)
