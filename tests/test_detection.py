"""Detection's own arithmetic, as the official pipeline does it: resizing large photos and NMS."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gpen import detection
from gpen.detection import FaceDetector, build_retinaface, detector_input, suppress_overlaps
from tiny_models import tiny_detector_state_dict


def test_nms_uses_plus_one_areas_on_a_hand_computed_case():
    # A: 0..9 (10x10 "+1" pixels = 100), B: 5..14 x 0..9 (100), overlap 5..9 x 0..9 = 5 x 10 = 50 pixels.
    # "+1" IoU = 50 / (100 + 100 - 50) = 1/3; without "+1" it would be 45 / (81 + 81 - 45) = 0.385.
    boxes = np.array([[0, 0, 9, 9], [5, 0, 14, 9]], np.float32)
    scores = np.array([0.95, 0.99], np.float32)
    assert suppress_overlaps(boxes, scores, 0.34).tolist() == [1, 0]   # 1/3 <= 0.34: both kept, best first
    assert suppress_overlaps(boxes, scores, 0.33).tolist() == [1]      # 1/3 > 0.33: A suppressed
    # C: 0..9 x 6..15 overlaps A in 10 x 4 = 40 pixels: IoU 40 / 160 = 0.25
    boxes = np.vstack([boxes, [[0, 6, 9, 15]]]).astype(np.float32)
    scores = np.array([0.99, 0.90, 0.95], np.float32)
    assert suppress_overlaps(boxes, scores, 0.3).tolist() == [0, 2]    # B goes with A (1/3); C stays (0.25)
    assert suppress_overlaps(boxes, scores, 0.2).tolist() == [0]


def test_nms_keeps_at_most_750_of_the_best_5000(monkeypatch):
    grid = np.arange(6000, dtype=np.float32) * 20        # 6000 boxes that do not touch
    boxes = np.stack([grid, np.zeros_like(grid), grid + 10, np.full_like(grid, 10)], 1)
    scores = np.linspace(0.91, 0.99, 6000, dtype=np.float32)
    kept = suppress_overlaps(boxes, scores, 0.4)
    assert len(kept) == 750 and kept[0] == 5999 and list(kept) == sorted(kept, reverse=True)


def official_detector_input(photo_rgb: np.ndarray) -> np.ndarray:
    """The official code's detector input (reference/PIPELINE.md, step 1), written out: the BGR photo
    as float32, resized with ``fx = fy = 1000 / long side`` when the long side exceeds 1500 px, minus
    the mean."""
    image = np.float32(photo_rgb[:, :, ::-1])
    if max(image.shape[:2]) > 1500:
        factor = 1000.0 / max(image.shape[:2])
        image = cv2.resize(image, (0, 0), fx=factor, fy=factor)
    return image - np.array([104, 117, 123], np.float32)


@pytest.mark.parametrize("height, width", [(1501, 2003), (1999, 1333), (1000, 1600), (1500, 1400)])
def test_photos_are_resized_for_detection_as_official(height, width):
    """Sizes that do not divide evenly: the input is the official one, pixel for pixel, and the factor
    that maps boxes back is the one it was resized by, on both axes."""
    photo = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    network_input, scale = detector_input(photo)
    expected = official_detector_input(photo)
    assert network_input.shape == expected.shape and np.abs(network_input - expected).max() < 1e-3
    assert scale == (1000 / max(height, width) if max(height, width) > 1500 else 1.0)


def test_a_large_photo_gives_the_same_faces_as_its_exact_half():
    """A 2000 px photo is detected at 1000 px: its faces equal those of the same photo at 1000 px, times 2."""
    detector = FaceDetector(build_retinaface(tiny_detector_state_dict()), torch.device("cpu"))
    half = np.random.default_rng(1).integers(0, 256, (600, 1000, 3), dtype=np.uint8)
    # resizing 2x up with nearest neighbour, then 0.5x down bilinearly, gives the half photo back exactly
    large = np.repeat(np.repeat(half, 2, 0), 2, 1)
    assert np.array_equal(detector_input(large)[0], detector_input(half)[0])
    found_half, found_large = detector.detect(half), detector.detect(large)
    assert len(found_half) == len(found_large) > 0
    for small_face, large_face in zip(found_half, found_large):
        assert np.allclose(np.array(large_face.box), np.array(small_face.box) * 2, atol=1e-3)
        assert np.allclose(large_face.landmarks, small_face.landmarks * 2, atol=1e-3)


def test_detection_thresholds_are_the_official_ones():
    assert (detection.SCORE_THRESHOLD, detection.NMS_THRESHOLD) == (0.9, 0.4)
    assert (detection.MAX_BOXES_BEFORE_NMS, detection.MAX_BOXES_AFTER_NMS) == (5000, 750)
