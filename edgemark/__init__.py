"""edgemark: facial landmark models from training to the edge device."""

__version__ = "0.1.0"


def load_predictor(path, threads=None, device="cpu"):
    """A predictor for an exported artifact folder, its manifest.json, or a checkpoint:
    ``predict(image_bgr, box) -> (K, 2)`` and ``predict_crops(uint8 crops) -> (N, K, 2)``."""
    from .predictors.load import load_predictor as _load

    return _load(path, threads=threads, device=device)
