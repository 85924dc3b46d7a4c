"""Face tracking for videos (``gpen.tracking``): the One-Euro filter, tracks, carry-over and scene cuts."""
from __future__ import annotations

import numpy as np
import pytest

from gpen.faces import Face
from gpen.tracking import (FaceTracker, TrackingSettings, box_overlap, face_vector, frame_signature,
                           histogram_change, mean_movement_px, one_euro, pasted_region_corners)
from video_clips import pan_frames

FPS = 25.0
BLANK = np.full((48, 64, 3), 100, np.uint8)


def face_at(x: float, y: float, size: float = 80.0) -> Face:
    """A face whose box starts at (x, y), with landmarks placed inside it."""
    landmarks = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]]) * size + [x, y]
    return Face((x, y, x + size, y + size), 0.99, landmarks)


def test_box_overlap():
    assert box_overlap((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_overlap((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_overlap((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_the_filter_removes_jitter_from_a_still_point():
    generator = np.random.default_rng(1)
    state, raw, smoothed = None, [], []
    for number in range(100):
        sample = np.array([100.0, 50.0]) + generator.normal(0, 0.3, 2)   # about a detector's jitter
        state = one_euro(state, sample, number / FPS, 80.0, TrackingSettings())
        raw.append(sample[None])
        smoothed.append(state.value[None])
    assert mean_movement_px(smoothed[10:]) < 0.4 * mean_movement_px(raw[10:])


def test_the_filter_follows_steady_motion_with_little_lag():
    """A face moving 4 px a frame (100 px/s, more than a face width a second): the filter keeps up."""
    state = None
    for number in range(50):
        state = one_euro(state, np.array([4.0 * number, 0.0]), number / FPS, 80.0, TrackingSettings())
    assert abs(state.value[0] - 4.0 * 49) < 8.0


def test_tracks_keep_their_ids_while_faces_move():
    tracker = FaceTracker()
    ids = [[tracked.track_id for tracked in tracker.update(BLANK, [face_at(10 + 3 * n, 20), face_at(300, 20 + 2 * n)],
                                                           n / FPS)] for n in range(10)]
    assert all(frame == ids[0] for frame in ids) and len(set(ids[0])) == 2


def test_a_missed_face_is_carried_for_two_frames_then_dropped():
    tracker = FaceTracker()
    for number in range(5):
        [first] = tracker.update(BLANK, [face_at(10 + 2 * number, 20)], number / FPS)
    carried = [tracker.update(BLANK, [], (5 + n) / FPS) for n in range(3)]
    assert [len(frame) for frame in carried] == [1, 1, 0]
    assert all(frame[0].carried and frame[0].track_id == first.track_id for frame in carried[:2])
    # carried along its motion (2 px a frame to the right), not left behind
    assert carried[1][0].face.box[0] > first.face.box[0] + 2
    [back] = tracker.update(BLANK, [face_at(26, 20)], 8 / FPS)
    assert back.track_id != first.track_id            # three frames missed: a new track


def test_a_face_found_again_within_two_frames_keeps_its_track():
    tracker = FaceTracker()
    [first] = tracker.update(BLANK, [face_at(10, 20)], 0.0)
    tracker.update(BLANK, [], 1 / FPS)
    [again] = tracker.update(BLANK, [face_at(12, 20)], 2 / FPS)
    assert again.track_id == first.track_id and not again.carried


def test_a_scene_cut_ends_every_track():
    first_scene = pan_frames(3, (150, 220), (160, 220))
    second_scene = pan_frames(3, (200, 150), (210, 150), photo="lowres_portrait.jpg")
    tracker = FaceTracker()
    before = [tracker.update(frame, [face_at(100, 50)], n / FPS) for n, frame in enumerate(first_scene)]
    after = [tracker.update(frame, [face_at(100, 50)], (3 + n) / FPS) for n, frame in enumerate(second_scene)]
    assert tracker.cuts == 1
    assert {t.track_id for frame in before for t in frame}.isdisjoint({t.track_id for frame in after for t in frame})
    assert len({t.track_id for frame in after for t in frame}) == 1


def test_a_pan_is_not_a_cut_but_another_photo_is():
    pan = pan_frames(10, (150, 220), (520, 220), zoom=(1.0, 1.3))
    steps = [histogram_change(frame_signature(a), frame_signature(b)) for a, b in zip(pan, pan[1:])]
    other = pan_frames(1, (200, 150), (200, 150), photo="lowres_portrait.jpg")[0]
    cut = histogram_change(frame_signature(pan[-1]), frame_signature(other))
    settings = TrackingSettings()
    assert max(steps) < settings.cut_threshold < cut, (steps, cut)


def test_without_smoothing_the_tracks_give_the_detections_unchanged():
    tracker = FaceTracker(TrackingSettings(smoothing=False))
    faces = [face_at(10 + n * 0.7, 20 - n * 0.3) for n in range(5)]
    for number, face in enumerate(faces):
        [tracked] = tracker.update(BLANK, [face], number / FPS)
        assert np.array_equal(face_vector(tracked.face), face_vector(face))


def test_the_pasted_region_is_where_the_crop_lands():
    matrix = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, -20.0]])   # photo → crop: halve, then shift
    corners = pasted_region_corners(matrix, 64)
    assert np.allclose(corners, [[20, 40], [148, 40], [148, 168], [20, 168]])

