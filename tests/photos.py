"""Real test photos from tests/data/photos, and scenes with faces at known landmarks."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PHOTOS = Path(__file__).resolve().parent / "data" / "photos"
# facexlib's FFHQ 5-point template for 512 crops: where the landmarks of ``aligned_face_512.png`` lie.
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]])


def read_photo(name: str) -> np.ndarray:
    """A test photo as HxWx3 uint8 RGB."""
    return np.asarray(Image.open(PHOTOS / name).convert("RGB")).copy()


def scene_with_face(background: str = "group_old_photo.jpg", centre: tuple[float, float] = (640, 900),
                    scale: float = 0.5, angle_deg: float = 12.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real aligned face pasted into a real photo with a known similarity transform.

    Returns (photo, landmarks 5x2 in photo pixels, face-region mask HxW bool)."""
    photo = read_photo(background)
    face = read_photo("aligned_face_512.png")
    matrix = cv2.getRotationMatrix2D((256, 256), angle_deg, scale)
    matrix[:, 2] += np.array(centre) - 256
    height, width = photo.shape[:2]
    warped = cv2.warpAffine(face, matrix, (width, height), flags=cv2.INTER_LINEAR)
    region = cv2.warpAffine(np.ones((512, 512), np.uint8), matrix, (width, height), flags=cv2.INTER_NEAREST) > 0
    photo[region] = warped[region]
    landmarks = np.hstack([FFHQ_TEMPLATE_512, np.ones((5, 1))]) @ matrix.T
    return photo, landmarks, region
