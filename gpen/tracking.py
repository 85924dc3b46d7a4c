"""Steady faces in a video: detections linked into tracks by box overlap, each track's landmarks smoothed.

A One-Euro filter (Casiez et al., CHI 2012) smooths each track: its cutoff rises with the face's speed,
so a still face loses the detector's frame-to-frame jitter while a moving one is followed without lag.
A face the detector misses for a frame or two is carried by its track; a scene cut (a jump in the
frames' colour histograms) ends every track. A ``FaceTracker`` belongs to one video; the filter itself
is a pure function on frozen states.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import cv2
import numpy as np

from .faces import Face


@dataclass(frozen=True)
class TrackingSettings:
    """How faces are tracked. The cutoffs are in hertz; ``beta`` raises the cutoff by this much per face
    width per second of movement; ``cut_threshold`` is the histogram change (0..1) taken as a scene cut."""

    iou_threshold: float = 0.3
    max_missed_frames: int = 2
    min_cutoff_hz: float = 0.5
    beta: float = 20.0
    derivative_cutoff_hz: float = 2.0
    cut_threshold: float = 0.35
    smoothing: bool = True


@dataclass(frozen=True)
class FilterState:
    """One-Euro filter state for one track: the smoothed value (landmarks and box as one vector), its
    smoothed rate of change per second, and the time of the last sample."""

    value: np.ndarray
    rate: np.ndarray
    time_s: float


def _alpha(cutoff_hz: float, step_s: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / step_s)


def one_euro(state: FilterState | None, value: np.ndarray, time_s: float, scale_px: float,
             settings: TrackingSettings) -> FilterState:
    """The filter's next state for a new sample. Speed is measured in face widths (``scale_px``) per
    second, so the same settings serve small and large faces."""
    if state is None:
        return FilterState(value.astype(np.float64), np.zeros_like(value, np.float64), time_s)
    step_s = max(time_s - state.time_s, 1e-3)
    rate = (value - state.value) / step_s
    rate_alpha = _alpha(settings.derivative_cutoff_hz, step_s)
    smoothed_rate = state.rate + rate_alpha * (rate - state.rate)
    speed = float(np.abs(smoothed_rate).mean()) / max(scale_px, 1.0)
    alpha = _alpha(settings.min_cutoff_hz + settings.beta * speed, step_s)
    return FilterState(state.value + alpha * (value - state.value), smoothed_rate, time_s)


def face_vector(face: Face) -> np.ndarray:
    """A face's landmarks and box as one vector (10 + 4 numbers)."""
    return np.concatenate([np.asarray(face.landmarks, np.float64).ravel(), np.asarray(face.box, np.float64)])


def face_from_vector(vector: np.ndarray, score: float) -> Face:
    box = tuple(float(v) for v in vector[10:14])
    return Face(box, score, vector[:10].reshape(5, 2).copy())


def box_overlap(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def frame_signature(image: np.ndarray) -> np.ndarray:
    """A frame's colour histogram (8 bins per channel of a 64 px thumbnail), summing to 1."""
    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    histogram = cv2.calcHist([small], [0, 1, 2], None, [8, 8, 8], [0, 256, 0, 256, 0, 256]).ravel()
    return histogram / max(float(histogram.sum()), 1.0)


def histogram_change(a: np.ndarray, b: np.ndarray) -> float:
    """How much two frame signatures differ: 0 (same colours) to 1 (no colour in common)."""
    return 0.5 * float(np.abs(a - b).sum())


@dataclass(frozen=True)
class TrackedFace:
    """A face of one frame as its track sees it: smoothed, or carried over a missed detection."""

    track_id: int
    face: Face
    carried: bool = False


@dataclass(frozen=True)
class _Track:
    track_id: int
    state: FilterState
    face: Face
    missed: int = 0


class FaceTracker:
    """Tracks of one video, fed its frames in order (one tracker per video, never shared)."""

    def __init__(self, settings: TrackingSettings | None = None):
        self.settings = settings or TrackingSettings()
        self._tracks: list[_Track] = []
        self._signature: np.ndarray | None = None
        self._next_id = 0
        self.cuts = 0

    def update(self, image: np.ndarray, faces: Sequence[Face], time_s: float) -> list[TrackedFace]:
        """This frame's faces, matched to the tracks, smoothed; tracks missed too long end, and a scene
        cut ends them all."""
        signature = frame_signature(image)
        if self._signature is not None and histogram_change(self._signature, signature) > self.settings.cut_threshold:
            self._tracks = []
            self.cuts += 1
        self._signature = signature
        track_of_face = {face: track for track, face in self._match(faces)}
        kept: list[_Track] = []
        out: list[TrackedFace] = []
        for face_number, face in enumerate(faces):   # in the detector's order, then the carried ones
            number = track_of_face.get(face_number)
            track = self._tracks[number] if number is not None else _Track(self._new_id(), None, face)
            track = self._smooth(track, face, time_s)
            kept.append(track)
            out.append(TrackedFace(track.track_id, track.face))
        matched_tracks = set(track_of_face.values())
        for number, track in enumerate(self._tracks):
            if number not in matched_tracks and track.missed < self.settings.max_missed_frames:
                carried = self._carry(track, time_s)
                kept.append(carried)
                out.append(TrackedFace(carried.track_id, carried.face, carried=True))
        self._tracks = kept
        return out

    def _match(self, faces: Sequence[Face]) -> list[tuple[int, int]]:
        """Greedy pairs (track, face) by box overlap, largest first, above the threshold."""
        scores = [(box_overlap(track.face.box, face.box), track_number, face_number)
                  for track_number, track in enumerate(self._tracks) for face_number, face in enumerate(faces)]
        pairs, used_tracks, used_faces = [], set(), set()
        for overlap, track_number, face_number in sorted(scores, reverse=True):
            if overlap < self.settings.iou_threshold:
                break
            if track_number not in used_tracks and face_number not in used_faces:
                pairs.append((track_number, face_number))
                used_tracks.add(track_number)
                used_faces.add(face_number)
        return pairs

    def _smooth(self, track: _Track, face: Face, time_s: float) -> _Track:
        if not self.settings.smoothing:
            return replace(track, face=face, missed=0)
        scale = max(face.box[2] - face.box[0], 1.0)
        state = one_euro(track.state, face_vector(face), time_s, scale, self.settings)
        return replace(track, state=state, face=face_from_vector(state.value, face.score), missed=0)

    def _carry(self, track: _Track, time_s: float) -> _Track:
        """A missed track moved on by its smoothed rate (held still without smoothing)."""
        if track.state is None:
            return replace(track, missed=track.missed + 1)
        value = track.state.value + track.state.rate * (time_s - track.state.time_s)
        state = FilterState(value, track.state.rate, time_s)
        return replace(track, state=state, face=face_from_vector(value, track.face.score), missed=track.missed + 1)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def mean_movement_px(points_per_frame: Sequence[np.ndarray]) -> float:
    """Jitter: the mean distance each point moves from one frame to the next (points Nx2 per frame)."""
    steps = [np.linalg.norm(np.asarray(b) - np.asarray(a), axis=-1).mean()
             for a, b in zip(points_per_frame, points_per_frame[1:])]
    return float(np.mean(steps)) if steps else 0.0


def pasted_region_corners(matrix: np.ndarray, size_px: int) -> np.ndarray:
    """Where the four corners of an aligned crop land in the frame (the pasted face region), 4x2."""
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    corners = np.array([[0, 0, 1], [size_px, 0, 1], [size_px, size_px, 1], [0, size_px, 1]], np.float64)
    return corners @ inverse.T
