"""Face geometry: template, similarity fit, alignment and paste-back on real photos."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from gpen import faces
from photos import scene_with_face


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(255.0 ** 2 / error)


def test_template_is_gpens_own_and_scales_with_size():
    assert faces.template_points(512)[0].tolist() == pytest.approx([202.040684, 242.883963])
    assert faces.template_points(256) == pytest.approx(faces.GPEN_TEMPLATE_512 / 2)


def test_similarity_recovers_a_known_transform():
    matrix = cv2.getRotationMatrix2D((10.0, 20.0), 33.0, 1.7)
    source = np.random.default_rng(0).uniform(0, 500, (5, 2))
    target = np.hstack([source, np.ones((5, 1))]) @ matrix.T
    assert faces.estimate_similarity(source, target) == pytest.approx(matrix, abs=1e-9)


def test_align_puts_landmarks_on_the_template():
    photo, landmarks, _ = scene_with_face()
    crop, matrix = faces.align_face(photo, landmarks, 512)
    assert crop.shape == (512, 512, 3) and crop.dtype == np.uint8
    mapped = np.hstack([landmarks, np.ones((5, 1))]) @ matrix.T
    # the FFHQ-placed landmarks fit GPEN's (different) template by least squares: close, not equal
    assert np.abs(mapped - faces.template_points(512)).max() < 15


def _full_mask(size: int) -> np.ndarray:
    return faces.mask_from_parsing(np.ones((512, 512), np.uint8), size)


@pytest.mark.parametrize("size", [256, 512])
def test_identity_round_trip_keeps_face_and_touches_nothing_outside_mask(size):
    photo, landmarks, region = scene_with_face()
    crop, matrix = faces.align_face(photo, landmarks, size)
    restored = faces.RestoredFace(crop, _full_mask(size), matrix)
    result = faces.paste_faces(photo, [restored], strength=1.0)
    back = cv2.warpAffine(restored.mask, cv2.invertAffineTransform(matrix), photo.shape[1::-1])
    outside = back == 0
    assert outside.any() and np.array_equal(result[outside], photo[outside])
    face_pixels = region & (back > 0.5)
    assert face_pixels.sum() > 10_000
    assert psnr(result[face_pixels], photo[face_pixels]) > 30


def test_strength_zero_returns_the_photo_exactly():
    photo, landmarks, _ = scene_with_face()
    crop, matrix = faces.align_face(photo, landmarks, 512)
    inverted = faces.RestoredFace(255 - crop, _full_mask(512), matrix)
    assert np.array_equal(faces.paste_faces(photo, [inverted], strength=0.0), photo)


def test_strength_moves_face_pixels_monotonically_toward_restored():
    photo, landmarks, region = scene_with_face()
    crop, matrix = faces.align_face(photo, landmarks, 512)
    inverted = faces.RestoredFace(255 - crop, _full_mask(512), matrix)
    full = faces.paste_faces(photo, [inverted], strength=1.0).astype(float)
    distances = [np.abs(faces.paste_faces(photo, [inverted], strength=s).astype(float) - full)[region].mean()
                 for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert all(a > b for a, b in zip(distances, distances[1:]))
    assert distances[-1] == 0


def test_overlapping_faces_take_the_larger_mask():
    photo = np.full((300, 300, 3), 100, np.uint8)
    identity = np.array([[1.0, 0, 50], [0, 1.0, 50]])
    weak = np.full((128, 128), 0.3, np.float32)
    strong = np.full((128, 128), 0.9, np.float32)
    white = np.full((128, 128, 3), 250, np.uint8)
    black = np.zeros((128, 128, 3), np.uint8)
    # identity maps photo (x, y) to crop (x + 50, y + 50): the crop covers photo pixels -50..78
    first = faces.RestoredFace(white, weak, identity)
    second = faces.RestoredFace(black, strong, identity)
    for order in ([first, second], [second, first]):
        result = faces.paste_faces(photo, order)
        # the strong (black) face wins: 100 * (1 - 0.9) = 10
        assert result[30, 30].tolist() == [10, 10, 10]


def test_paste_ignores_faces_outside_the_photo():
    photo = np.full((100, 100, 3), 7, np.uint8)
    far_away = np.array([[1.0, 0, 5000], [0, 1.0, 5000]])
    face = faces.RestoredFace(np.zeros((64, 64, 3), np.uint8), np.ones((64, 64), np.float32), far_away)
    assert np.array_equal(faces.paste_faces(photo, [face]), photo)


def test_mask_excludes_background_hat_and_cloth_and_border():
    classes = np.full((512, 512), 1, np.uint8)
    classes[:, :256] = 18     # cloth on the left half
    mask = faces.mask_from_parsing(classes, 512)
    assert mask[256, 100] < 1e-3 and mask[256, 400] > 0.99
    assert mask[0, 400] < 1e-4 and mask.max() <= 1.0   # the blur leaves only a faint tail at the edge


def _face(box, landmarks=None):
    return faces.Face(box, 0.99, landmarks if landmarks is not None else np.zeros((5, 2)))


def test_select_faces_all_largest_centre_and_minimum_size():
    small = _face((0, 0, 40, 40))
    big = _face((200, 200, 400, 400))
    central = _face((450, 450, 550, 550))
    found = [small, big, central]
    assert faces.select_faces(found, "all", (1000, 1000)) == found
    assert faces.select_faces(found, "largest", (1000, 1000)) == [big]
    assert faces.select_faces(found, "center", (1000, 1000)) == [central]
    assert faces.select_faces(found, "all", (1000, 1000), min_face_px=50) == [big, central]
    assert faces.select_faces([], "largest", (10, 10)) == []


def test_faces_are_numbered_left_to_right_and_picked_by_number():
    right, left, middle_low, middle_high = (_face((600, 100, 700, 200)), _face((10, 300, 110, 400)),
                                            _face((300, 500, 400, 600)), _face((300, 50, 400, 150)))
    found = [right, left, middle_low, middle_high]             # as a detector lists them: by score
    assert faces.number_faces(found) == [left, middle_high, middle_low, right]
    assert faces.select_faces(found, "largest", (1000, 1000), numbers=(4, 1)) == [left, right]
    assert faces.select_faces(found, "all", (1000, 1000), numbers=(2, 2)) == [middle_high]
    # the smallest-face limit still applies to the faces picked
    assert faces.select_faces([left, _face((500, 0, 520, 20))], "all", (1000, 1000), 50, numbers=(1, 2)) == [left]
    with pytest.raises(ValueError, match="there is no face 0, 5: the photo has 4 faces"):
        faces.select_faces(found, "all", (1000, 1000), numbers=(5, 0, 1))


def _two_overlapping_faces(noise_seed: int | None) -> list[faces.RestoredFace]:
    """Two real-shaped faces (masks from a parsing map) overlapping across the middle of a photo; with
    ``noise_seed`` the masks get float32-sized rounding noise, as warps and resizes give."""
    classes = np.zeros((512, 512), np.uint8)
    classes[60:460, 90:420] = 1   # skin
    mask = faces.mask_from_parsing(classes, 256)
    masks = [mask.copy(), mask.copy()]
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        masks = [np.clip(m + rng.uniform(-2e-7, 2e-7, m.shape).astype(np.float32), 0, 1) for m in masks]
    crops = [np.full((256, 256, 3), (250, 30, 30), np.uint8), np.full((256, 256, 3), (30, 30, 250), np.uint8)]
    # the second face sits 40 px to the right of the first: their saturated middles overlap
    matrices = [np.array([[1.0, 0, -20], [0, 1.0, -20]]), np.array([[1.0, 0, -60], [0, 1.0, -20]])]
    return [faces.RestoredFace(crop, m, matrix) for crop, m, matrix in zip(crops, masks, matrices)]


def test_the_paste_mask_is_blurred_in_float64_as_official():
    classes = np.zeros((512, 512), np.uint8)
    classes[100:400, 120:380] = 1
    reference = (classes > 0).astype(np.float64)
    reference[:26], reference[-26:], reference[:, :26], reference[:, -26:] = 0, 0, 0, 0
    for _ in range(2):
        reference = cv2.GaussianBlur(reference, (101, 101), 4)
    assert np.array_equal(faces.mask_from_parsing(classes, 512), reference.astype(np.float32))


def test_overlapping_faces_with_equal_masks_are_not_decided_by_rounding():
    photo = np.full((300, 320, 3), 128, np.uint8)
    clean = faces.paste_faces(photo, _two_overlapping_faces(None))
    # in the overlap both masks are 1: the first (red) face keeps the pixels
    assert clean[120, 150].tolist() == [250, 30, 30]
    for seed in range(3):
        noisy = faces.paste_faces(photo, _two_overlapping_faces(seed))
        assert np.abs(noisy.astype(int) - clean.astype(int)).max() <= 1, seed
