import numpy as np
import pytest

from edgemark.augment import flip_horizontal
from edgemark.preprocess import (crop_face, image_to_normalised, normalise, normalised_to_image,
                                 box_from_landmarks, measure_box_rule)
from edgemark.scheme import BUILTIN_SCHEMES, load_scheme


def blob_image(h, w, x, y, sigma):
    """A Gaussian blob whose centre of mass is exactly (x, y) in pixel-centre coordinates."""
    ys, xs = np.mgrid[:h, :w]
    blob = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) * 250
    return np.repeat(np.round(blob).astype(np.uint8)[..., None], 3, axis=2)


def brightest(crop):
    grey = crop.astype(np.float64).sum(axis=2)
    ys, xs = np.mgrid[: grey.shape[0], : grey.shape[1]]
    return np.array([(grey * xs).sum() / grey.sum(), (grey * ys).sum() / grey.sum()])


@pytest.mark.parametrize("angle", [0.0, 17.0, -30.0])
def test_round_trip_image_crop_image(angle):
    box = (40.0, 30.0, 140.0, 150.0)
    points = np.array([[60.5, 70.25], [120.0, 71.0], [90.0, 100.0], [65.0, 130.0], [118.0, 131.5]], np.float32)
    _, m = crop_face(np.zeros((200, 200, 3), np.uint8), box, 112, 0.2, angle)
    uv = image_to_normalised(points, m, 112)
    assert np.all((uv > 0) & (uv < 1))
    np.testing.assert_allclose(normalised_to_image(uv, m, 112), points, atol=1e-4)


def test_crop_edges_are_zero_and_one():
    # the square box's left/top edge (with margin 0) is u = 0, its right/bottom edge u = 1
    box = (10.0, 20.0, 74.0, 84.0)
    _, m = crop_face(np.zeros((100, 100, 3), np.uint8), box, 32, 0.0)
    uv = image_to_normalised(np.array([[10.0, 20.0], [74.0, 84.0], [42.0, 52.0]]), m, 32)
    np.testing.assert_allclose(uv, [[0, 0], [1, 1], [0.5, 0.5]], atol=1e-6)


@pytest.mark.parametrize("image_size, box_side", [(120, 60), (900, 600)])  # upscale 1.9x and reduce 5x (area path)
def test_pixel_convention_a_dot_lands_where_the_matrix_says(image_size, box_side):
    x, y = image_size / 2 + 7.3, image_size / 2 - 5.6
    image = blob_image(image_size, image_size, x, y, sigma=3 * box_side / 112)
    c = image_size / 2
    box = (c - box_side / 2, c - box_side / 2, c + box_side / 2, c + box_side / 2)
    crop, m = crop_face(image, box, 112, 0.0)
    expected = normalised_to_image(image_to_normalised(np.array([[x, y]]), m, 112), m, 112)
    assert np.allclose(expected, [[x, y]])
    where = brightest(crop)
    predicted_crop = (image_to_normalised(np.array([[x, y]], np.float64), m, 112) * 112 - 0.5)[0]
    assert np.abs(where - predicted_crop).max() < 0.05, (where, predicted_crop)


def test_crop_is_rgb_uint8_and_normalise_is_nchw():
    image = np.zeros((50, 50, 3), np.uint8)
    image[..., 0] = 255  # blue in BGR
    crop, _ = crop_face(image, (5, 5, 45, 45), 24, 0.1)
    assert crop.dtype == np.uint8 and crop.shape == (24, 24, 3)
    assert crop[12, 12].tolist() == [0, 0, 255]
    x = normalise(crop, (127.5,) * 3, (128.0,) * 3)
    assert x.shape == (1, 3, 24, 24) and x.dtype == np.float32
    assert x[0, 2, 12, 12] == pytest.approx((255 - 127.5) / 128)


def test_flip_pairs_follow_the_image():
    scheme = load_scheme("cuhk5")
    crop = np.zeros((40, 40, 3), np.uint8)
    uv = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]], np.float32)
    crop[int(uv[0, 1] * 40), int(uv[0, 0] * 40)] = (255, 0, 0)  # left eye red
    crop[int(uv[1, 1] * 40), int(uv[1, 0] * 40)] = (0, 255, 0)  # right eye green
    flipped, fuv = flip_horizontal(crop, uv, scheme.flip_permutation())
    # after the mirror, point 0 ("left eye": smaller x) is still the smaller x, and sits on what was green
    assert fuv[0, 0] < fuv[1, 0] and fuv[3, 0] < fuv[4, 0]
    gx, gy = fuv[0] * 40
    assert flipped[int(gy), int(round(gx)) - 1 : int(round(gx)) + 1, 1].max() == 255
    again, auv = flip_horizontal(flipped, fuv, scheme.flip_permutation())
    np.testing.assert_array_equal(again, crop)
    np.testing.assert_allclose(auv, uv)


@pytest.mark.parametrize("name, count", [("cuhk5", 5), ("ibug68", 68), ("wflw98", 98)])
def test_schemes_are_data(name, count):
    assert name in BUILTIN_SCHEMES
    scheme = load_scheme(name)
    assert scheme.num_points == count
    perm = scheme.flip_permutation()
    np.testing.assert_array_equal(perm[perm], np.arange(count))  # a flip twice is the identity
    a, b = scheme.interocular
    assert perm[a] == b  # the inter-ocular points mirror each other
    assert scheme.has_eyelids == (count > 5)


def test_box_rule_reproduces_the_boxes_it_was_measured_on():
    rng = np.random.default_rng(0)
    points = rng.uniform(40, 60, size=(50, 5, 2))
    lo, hi = points.min(axis=1), points.max(axis=1)
    extent = (hi - lo).max(axis=1)
    cx, cy = (lo[:, 0] + hi[:, 0]) / 2, (lo[:, 1] + hi[:, 1]) / 2 + 0.1 * extent
    side = 1.8 * extent
    boxes = np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)
    rule = measure_box_rule(boxes, points)
    assert rule["side"] == pytest.approx(1.8) and rule["dy"] == pytest.approx(0.1) and rule["dx"] == pytest.approx(0, abs=1e-9)
    np.testing.assert_allclose(box_from_landmarks(points[3], rule), boxes[3], atol=1e-6)
