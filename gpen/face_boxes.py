"""The face preview: a photo with a numbered box on each face found (and its five landmarks, on request).

The numbers are the ones people pick faces by (``EnhanceOptions.face_numbers``): the faces are drawn in
the order ``faces.number_faces`` gives, 1 first. The web page shows the preview when a photo is added;
the command line writes it beside each result with ``--face-boxes``, to check what was restored.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .faces import Face

BOX_RGB = (40, 220, 120)
LABEL_TEXT_RGB = (0, 0, 0)
# Eyes, nose and mouth corners, each in a colour of its own.
LANDMARK_RGB = ((255, 64, 64), (64, 128, 255), (255, 220, 0), (255, 0, 255), (0, 255, 255))
FACE_BOXES_FOLDER = "face-boxes"


def line_width_px(image_shape: tuple[int, ...]) -> int:
    """Lines a little thicker on larger photos, so that the boxes stay visible when the photo is shown small."""
    return max(2, round(min(image_shape[:2]) / 300))


def draw_face_boxes(image: np.ndarray, faces: Sequence[Face], landmarks: bool = False) -> np.ndarray:
    """A copy of the RGB uint8 ``image`` with each face's box and number (1 for ``faces[0]``), and its five
    landmarks when ``landmarks`` is True. The pixels outside the boxes, labels and dots are unchanged."""
    preview = np.ascontiguousarray(image).copy()
    width = line_width_px(image.shape)
    scale = width / 3
    for number, face in enumerate(faces, start=1):
        x1, y1, x2, y2 = (int(round(value)) for value in face.box)
        cv2.rectangle(preview, (x1, y1), (x2, y2), BOX_RGB, width, cv2.LINE_AA)
        label = str(number)
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, width)
        top = max(0, y1 - text_h - baseline - 2 * width)
        cv2.rectangle(preview, (x1, top), (x1 + text_w + 2 * width, top + text_h + baseline + 2 * width), BOX_RGB,
                      cv2.FILLED)
        cv2.putText(preview, label, (x1 + width, top + text_h + width), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    LABEL_TEXT_RGB, width, cv2.LINE_AA)
        if landmarks:
            for point, colour in zip(np.asarray(face.landmarks), LANDMARK_RGB):
                cv2.circle(preview, (int(round(point[0])), int(round(point[1]))), 2 * width, colour, cv2.FILLED,
                           cv2.LINE_AA)
    return preview


def face_boxes_path(result: Path) -> Path:
    """Where ``--face-boxes`` puts the preview of a result: a folder of its own beside the results (so that
    no preview can take a result's name), under the result's name, as JPEG."""
    return result.parent / FACE_BOXES_FOLDER / f"{result.name}.jpg"
