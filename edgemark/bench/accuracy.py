"""Accuracy on prepared test crops, as the bench worker measures it, and the reference a
device's rows are compared with: the host's torch fp32 NME on the same shipped faces
(torch is never deployed, so a device cannot measure it itself)."""

from __future__ import annotations

import socket

import numpy as np

ACCURACY_KEYS = ("faces", "nme", "failure_rate", "auc")


def crop_accuracy(predictor, crops: np.ndarray, mats: np.ndarray, truth: np.ndarray) -> dict:
    """faces, NME, failure rate and AUC of ``predictor`` on test crops (the crop matrices map
    its points back to the photos, where ``truth`` is)."""
    from ..evaluate import predict_list
    from ..metrics import summarize

    pred = predict_list(predictor, crops, mats)
    scheme = predictor.scheme
    if pred.shape[1] != truth.shape[1] and len(scheme.label_points) == truth.shape[1]:
        pred = pred[:, list(scheme.label_points)]  # a scheme with a teacher's points on a list of its labelled ones
    acc = summarize(pred, truth, scheme.interocular)
    return {k: acc[k] for k in ACCURACY_KEYS}


def reference_accuracy(artifacts, test_crops) -> dict | None:
    """The torch fp32 artifact's accuracy, here, on ``test_crops`` (crops, mats, truth, list
    name): the reference of every drop a device reports, for the faces shipped to it. None
    without test crops or a torch-fp32 artifact."""
    torch_fp32 = next((a for a in artifacts if a.name == "torch-fp32"), None)
    if torch_fp32 is None or test_crops is None:
        return None
    from ..predictors.load import load_predictor

    acc = crop_accuracy(load_predictor(torch_fp32, threads=1), *test_crops[:3])
    return {"artifact": "torch-fp32", **acc, "accuracy_list": test_crops[3],
            "where": f"torch fp32 on the host ({socket.gethostname()}), measured before deploying, on the same test faces"}
