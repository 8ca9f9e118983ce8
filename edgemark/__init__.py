"""edgemark: facial landmark models from training to the edge device."""

__version__ = "0.1.0"


def load_predictor(path, threads=None, device="cpu", tta=None):
    """A predictor for an exported artifact folder, its manifest.json, a checkpoint or a
    shipped model's name: ``predict(image_bgr, box) -> (K, 2)`` and ``predict_crops(uint8
    crops) -> (N, K, 2)``. ``tta="flip"``: each face averaged with its mirror image."""
    from .predictors.load import load_predictor as _load

    return _load(path, threads=threads, device=device, tta=tta)


def load_pipeline(model, detector="blazeface", refine=None, upright=True, threads=None, detector_file=None, device="cpu", tta=None):
    """Photo or frame to landmarks: ``pipe(image_bgr)`` -> every face, largest first ([] when
    there is none), each with ``box``, ``score`` and ``landmarks`` (K, 2) in image pixels;
    ``pipe(image_bgr, box=(l, t, r, b))`` for a given box. ``detector``: blazeface (default),
    blazeface-full, yunet (with ``detector_file``), haar, or None (boxes always given).
    ``tta="flip"``: landmarks averaged over each face and its mirror image."""
    from .pipeline import load_pipeline as _load

    return _load(model, detector, refine, upright, threads=threads, detector_file=detector_file, device=device, tta=tta)
