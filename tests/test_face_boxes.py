"""The face preview (``gpen.face_boxes``): a numbered box on each face, landmarks on request, and nothing
else of the photo changed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from gpen.face_boxes import BOX_RGB, LANDMARK_RGB, draw_face_boxes, face_boxes_path
from gpen.faces import Face


def face(x: float, y: float, size: float = 80) -> Face:
    eyes_y, nose_y, mouth_y = y + 0.35 * size, y + 0.55 * size, y + 0.75 * size
    landmarks = np.array([[x + 0.3 * size, eyes_y], [x + 0.7 * size, eyes_y], [x + 0.5 * size, nose_y],
                          [x + 0.35 * size, mouth_y], [x + 0.65 * size, mouth_y]])
    return Face((x, y, x + size, y + size), 0.99, landmarks)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def test_boxes_are_drawn_on_each_face_and_nothing_else_changes():
    photo = np.full((300, 400, 3), 90, np.uint8)
    faces = [face(40, 100), face(250, 120)]
    preview = draw_face_boxes(photo, faces)
    assert preview.shape == photo.shape and preview.dtype == np.uint8
    assert np.array_equal(photo, np.full((300, 400, 3), 90, np.uint8)), "the photo itself was drawn on"
    moved = changed(photo, preview)
    for drawn in faces:
        x1, y1, x2, y2 = (int(value) for value in drawn.box)
        assert moved[(y1 + y2) // 2, x1] and moved[(y1 + y2) // 2, x2] and moved[y2, (x1 + x2) // 2]
        assert tuple(preview[(y1 + y2) // 2, x1]) == BOX_RGB
        assert not moved[y1 + 10:y2 - 10, x1 + 10:x2 - 10].any(), "the inside of a box was drawn on"
    # each box's number sits in a filled label at its top left corner, and nothing is drawn far from the faces
    assert moved[80:100, 40:60].any() and moved[100:120, 250:270].any()
    assert not moved[:, 150:230].any() and not moved[250:, :].any()


def test_landmarks_are_drawn_only_when_asked():
    photo = np.full((200, 200, 3), 90, np.uint8)
    one = face(50, 50, 100)
    plain, with_landmarks = draw_face_boxes(photo, [one]), draw_face_boxes(photo, [one], landmarks=True)
    for (x, y), colour in zip(one.landmarks.astype(int), LANDMARK_RGB):
        assert tuple(plain[y, x]) == (90, 90, 90)
        assert tuple(with_landmarks[y, x]) == colour


def test_the_numbers_follow_the_order_given():
    photo = np.full((200, 400, 3), 200, np.uint8)
    first, second = face(30, 60), face(250, 60)
    forward = draw_face_boxes(photo, [first, second])
    backward = draw_face_boxes(photo, [second, first])
    label = np.s_[20:60, 30:60]     # the label of the face at x = 30: "1" one way, "2" the other
    assert not np.array_equal(forward[label], backward[label])
    assert np.array_equal(draw_face_boxes(photo, [first]), draw_face_boxes(photo, [first]))


def test_previews_go_into_a_folder_of_their_own_beside_the_results(tmp_path):
    assert face_boxes_path(tmp_path / "out" / "a.png") == tmp_path / "out" / "face-boxes" / "a.png.jpg"
    assert face_boxes_path(Path("x/a.jpg")) != face_boxes_path(Path("x/a.png"))
