"""The predictor interface. A runtime implements ``_run`` on normalised NCHW float input;
cropping, normalising and mapping back to image pixels live here, once."""

from __future__ import annotations

import numpy as np

from ..preprocess import Box, CropSpec, crop_face, normalise, normalised_to_image
from ..scheme import LandmarkScheme


class Predictor:
    crop: CropSpec
    scheme: LandmarkScheme
    description: str = ""

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, H, W) normalised -> (N, K, 2) crop-normalised landmarks."""
        raise NotImplementedError

    def predict_crops(self, crops_rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, H, W, 3) from ``crop_face`` -> (N, K, 2) crop-normalised landmarks."""
        crops = np.asarray(crops_rgb)
        if crops.dtype != np.uint8:
            raise ValueError(f"predict_crops takes uint8 crops, got {crops.dtype}")
        if crops.ndim == 3:
            crops = crops[None]
        size = self.crop.size
        if crops.shape[1:] != (size, size, 3):
            raise ValueError(f"crops must be (N, {size}, {size}, 3), got {crops.shape}")
        return np.asarray(self._run(self._prepare(crops)), np.float32).reshape(len(crops), -1, 2)

    def _prepare(self, crops: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> the runtime's input; normalised float32 NCHW unless a runtime knows better."""
        return normalise(crops, self.crop.mean, self.crop.std)

    def predict(self, image_bgr: np.ndarray, box: Box, angle: float = 0.0) -> np.ndarray:
        """Landmarks (K, 2) in image pixels for one face; box = left, top, right, bottom;
        ``angle``: the crop turned by that many degrees about the box centre (an upright crop
        of a rolled face, see ``preprocess.upright_box_from_landmarks``)."""
        crop, m = crop_face(image_bgr, box, self.crop.size, self.crop.margin, angle)
        return normalised_to_image(self.predict_crops(crop)[0], m, self.crop.size)
