"""The Batch tab's gallery: for each result, the photo before and after side by side, as a light JPEG."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from gpen.errors import GpenError
from gpen.images import load_image

from .files import THUMBNAIL_SIDE_PX, save_preview, shrink

log = logging.getLogger(__name__)

GAP_PX = 6
PAIR_SIDE_PX = 3 * THUMBNAIL_SIDE_PX // 2   # two photos side by side: wider than one


def before_after(before: np.ndarray, after: np.ndarray, side_px: int = PAIR_SIDE_PX) -> np.ndarray:
    """``before`` and ``after`` (RGB) side by side at one height, with a white gap, at most ``side_px`` wide."""
    height = min(before.shape[0], after.shape[0], side_px)
    halves = [cv2.resize(image, (max(1, round(image.shape[1] * height / image.shape[0])), height),
                         interpolation=cv2.INTER_AREA) for image in (before, after)]
    gap = np.full((height, GAP_PX, 3), 255, np.uint8)
    return shrink(np.concatenate([halves[0], gap, halves[1]], axis=1), side_px)


def batch_gallery(results: Sequence[tuple[Path, Path, str]], folder: Path, max_pixels: int) -> list[tuple[str, str]]:
    """(thumbnail, caption) for each (source, result, name shown) that can be read; the others are logged."""
    items = []
    for number, (source, result, name) in enumerate(results):
        try:
            pair = before_after(load_image(source, max_pixels=max_pixels).rgb,
                                load_image(result, max_pixels=max_pixels).rgb)
            thumbnail = save_preview(pair, folder / f"{number:05d}.jpg", PAIR_SIDE_PX)
        except GpenError as error:
            log.warning("no thumbnail for %s: %s", result, error)
            continue
        items.append((str(thumbnail), name))
    return items
