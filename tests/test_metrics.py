import numpy as np
import pytest

from edgemark.losses import landmark_loss, wing_loss
from edgemark.metrics import ced_auc, point_errors, summarize

import torch

TRUTH = np.array([[[0.0, 0.0], [10.0, 0.0], [5.0, 5.0], [2.0, 8.0], [8.0, 8.0]]])  # inter-ocular distance 10


def test_nme_by_hand():
    pred = TRUTH.copy()
    pred[0, 2] += [3.0, 4.0]  # one point off by 5 px = 0.5 IOD; mean over 5 points = 0.1
    errors = point_errors(pred, TRUTH, (0, 1))
    np.testing.assert_allclose(errors, [[0, 0, 0.5, 0, 0]])
    s = summarize(pred, TRUTH, (0, 1))
    assert s["nme"] == pytest.approx(0.1)
    assert s["failure_rate"] == 0.0  # 0.1 is not > 0.1
    assert s["nme_per_point"][2] == pytest.approx(0.5)


def test_failure_rate_and_auc():
    truth = np.repeat(TRUTH, 4, axis=0)
    pred = truth.copy()
    shifts = [0.0, 0.02, 0.05, 0.2]  # NME per face, as a fraction of IOD
    for i, s in enumerate(shifts):
        pred[i, :, 0] += s * 10
    s = summarize(pred, truth, (0, 1))
    assert s["nme"] == pytest.approx(np.mean(shifts))
    assert s["failure_rate"] == pytest.approx(0.25)
    # CED: step functions; area up to 0.1 = sum over faces of (0.1 - e) for e < 0.1, / (0.1 * N)
    expected = sum(max(0.0, 0.1 - e) for e in shifts) / (0.1 * 4)
    assert s["auc"] == pytest.approx(expected, abs=2e-3)
    assert ced_auc(np.zeros(3)) == pytest.approx(1.0, abs=1e-3)
    assert ced_auc(np.full(3, 0.5)) == 0.0


def test_zero_interocular_distance_is_an_error():
    with pytest.raises(ValueError):
        point_errors(TRUTH, np.zeros_like(TRUTH), (0, 1))


def test_losses():
    pred, target = torch.zeros(2, 5, 2), torch.full((2, 5, 2), 0.5)
    assert landmark_loss("l1", pred, target, 100).item() == pytest.approx(50)
    assert landmark_loss("mse", pred, target, 100).item() == pytest.approx(2500)
    # wing: w ln(1 + x/eps) below w, linear above, continuous at w
    assert wing_loss(torch.tensor([1.0]), torch.tensor([0.0])).item() == pytest.approx(10 * np.log(1 + 0.5))
    w, eps = 10.0, 2.0
    c = w - w * np.log(1 + w / eps)
    assert wing_loss(torch.tensor([30.0]), torch.tensor([0.0])).item() == pytest.approx(30 - c)
    with pytest.raises(ValueError):
        landmark_loss("huber", pred, target, 100)
