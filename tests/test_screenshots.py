"""The README's screenshots, taken in a real browser (Chromium) on the app with a stand-in restorer.

The app runs from ``tests/stand_in_app.py``: the trained RetinaFace MobileNet-0.25 finds the faces of real
test photos, and each face is "restored" by a stand-in that returns the face it is given and pasted through a
mask of the whole crop. So the screenshots show the interface on real faces, not GPEN's restoration, and the
tests check that the faces come back as they went in (within a few levels, from the warp there and back).

The shots go to a temporary folder; with ``UPDATE_SCREENSHOTS=1`` to ``docs/screenshots``, which the README
shows: English (single, face_boxes, batch, settings) and Chinese (single_zh, batch_zh).
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from app_process import AppProcess, start_app
from browser_pages import expect, open_page, require_browser, screenshot
from photos import PHOTOS, read_photo
from PIL import Image
from stand_in_app import DETECTOR, stand_in_models
from trained_detector import trained_detector_file

from gpen.detection import FaceDetector

SINGLE_PHOTO = "portrait_small.jpg"          # a child and an adult
GROUP_PHOTO = "lowres_portrait.jpg"          # four men standing
BATCH_PHOTOS = ["portrait_small.jpg", "portrait_png.png", "lowres_portrait.jpg", "group_old_photo.jpg"]
FACE_COUNTS = {"portrait_small.jpg": 2, "portrait_png.png": 3, "lowres_portrait.jpg": 4, "group_old_photo.jpg": 2}
# The stand-in returns each face unchanged; what is left is resampling (photo → rotated 512 crop → photo, which
# smooths a photo's grain: up to 6 levels on average on a grainy face) and, for JPEG results, encoding. Both
# sides are compared after a blur of the grain's size: measured, the faces then differ by 0.2-0.7 levels on
# average (99th percentile 2), and the tests' random GPEN's by 35-77 (99th percentile 95-200).
COMPARED_BLUR_SIGMA_PX = 1.5
MEAN_FACE_DIFFERENCE_LEVELS = 2.0
P99_FACE_DIFFERENCE_LEVELS = 8.0
SHOTS = {"single.png", "face_boxes.png", "batch.png", "settings.png", "single_zh.png", "batch_zh.png"}
MAX_SHOT_BYTES = 400_000
SHOT_COLOURS = 256       # a palette PNG: about a third of the bytes of a full-colour one


@pytest.fixture(autouse=True, scope="module")
def browser_available() -> None:
    require_browser()


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory) -> Path:
    return trained_detector_file(tmp_path_factory.getbasetemp() / "trained_detector")


@pytest.fixture(scope="module")
def app(tmp_path_factory, detector_file) -> AppProcess:
    folder = tmp_path_factory.mktemp("stand_in_app")
    models = stand_in_models(folder / "models", detector_file)
    (folder / "settings.json").write_text(json.dumps({"device": "cpu", "detector": DETECTOR}))
    running = start_app(folder, models, program="tests/stand_in_app.py")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def detector(detector_file) -> FaceDetector:
    return FaceDetector.from_file(detector_file, torch.device("cpu"))


def assert_faces_unchanged(detector: FaceDetector, name: str, result: np.ndarray) -> None:
    """Each face of the photo ``name`` is in ``result`` as it was in the photo, within a few levels (both
    blurred by ``COMPARED_BLUR_SIGMA_PX``)."""
    photo = read_photo(name)
    assert result.shape == photo.shape, name
    faces = detector.detect(photo)
    assert len(faces) == FACE_COUNTS[name], name
    difference = np.abs(blurred(result) - blurred(photo))
    for face in faces:
        x1, y1, x2, y2 = (max(int(round(value)), 0) for value in face.box)
        in_face = difference[y1:y2, x1:x2]
        assert in_face.mean() < MEAN_FACE_DIFFERENCE_LEVELS, (name, face.box, in_face.mean())
        assert np.percentile(in_face, 99) < P99_FACE_DIFFERENCE_LEVELS, (name, face.box, np.percentile(in_face, 99))


def blurred(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), COMPARED_BLUR_SIGMA_PX)


def take(page, path: Path) -> None:
    """The page as ``browser_pages.screenshot`` takes it, saved again in ``SHOT_COLOURS`` colours."""
    screenshot(page, path)
    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(SHOT_COLOURS, method=Image.Quantize.FASTOCTREE,
                                                dither=Image.Dither.FLOYDSTEINBERG)
    palette.save(path, optimize=True)


def read_result(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def enhance_one_photo(page, name: str) -> None:
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / name))
    expect(page.locator("#single-picked input[type=checkbox]")).to_have_count(FACE_COUNTS[name])
    page.locator("#single-enhance").click()
    expect(page.locator("#single-faces textarea")).to_have_value(str(FACE_COUNTS[name]))
    expect(page.locator("#single-slider img")).to_have_count(2)


def single_tab(page, detector: FaceDetector, tmp_path: Path) -> None:
    """Restore ``SINGLE_PHOTO`` and check the downloaded result shows its faces unchanged."""
    enhance_one_photo(page, SINGLE_PHOTO)
    with page.expect_download() as download_info:
        page.locator("#single-download a[download]").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert_faces_unchanged(detector, SINGLE_PHOTO, read_result(saved.read_bytes()))


def batch_tab(page, detector: FaceDetector, tmp_path: Path, tab: str, summary: str) -> None:
    """Restore ``BATCH_PHOTOS`` in the Batch tab (named ``tab``) and check the gallery, the summary and the
    results in the ZIP."""
    page.get_by_role("tab", name=tab).click()
    page.locator("#batch-input input[type=file]").set_input_files([str(PHOTOS / name) for name in BATCH_PHOTOS])
    page.locator("#batch-enhance").click()
    expect(page.locator("#batch-zip")).to_be_visible()
    expect(page.locator("#batch-gallery img")).to_have_count(len(BATCH_PHOTOS))
    expect(page.locator("#batch-table [role=row].virtual-row")).to_have_count(len(BATCH_PHOTOS))
    expect(page.locator("#batch-summary")).to_contain_text(summary)
    with page.expect_download() as download_info:
        page.locator("#batch-zip a[download]").click()
    archive = tmp_path / "results.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as results:
        for name in BATCH_PHOTOS:
            assert_faces_unchanged(detector, name, read_result(results.read(name)))


def test_single_tab_in_english(app, browser, detector, screenshots, tmp_path):
    page = open_page(browser, app.url)
    single_tab(page, detector, tmp_path)
    assert page.locator("#single-device textarea").input_value().startswith("cpu")
    take(page, screenshots / "single.png")
    page.context.close()


def test_face_boxes_are_numbered_on_a_group_photo(app, browser, screenshots):
    page = open_page(browser, app.url)
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / GROUP_PHOTO))
    expect(page.locator("#single-face-preview img")).to_be_visible()
    boxes = page.locator("#single-picked input[type=checkbox]")
    expect(boxes).to_have_count(FACE_COUNTS[GROUP_PHOTO])
    assert all(boxes.nth(number).is_checked() for number in range(FACE_COUNTS[GROUP_PHOTO]))
    take(page, screenshots / "face_boxes.png")
    page.context.close()


def test_batch_tab_in_english(app, browser, detector, screenshots, tmp_path):
    page = open_page(browser, app.url)
    faces = sum(FACE_COUNTS.values())
    batch_tab(page, detector, tmp_path, "Batch", f"{len(BATCH_PHOTOS)} restored ({faces} faces)")
    take(page, screenshots / "batch.png")
    page.context.close()


def test_settings_tab_in_english(app, browser, screenshots):
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Settings").click()
    expect(page.locator("#settings-status")).to_contain_text(f"on cpu (fp32), batch size 4, detector {DETECTOR}")
    take(page, screenshots / "settings.png")
    page.context.close()


def test_single_and_batch_tabs_in_chinese(app, browser, detector, screenshots, tmp_path):
    page = open_page(browser, app.url, locale="zh-CN")
    expect(page.locator("#single-enhance")).to_have_text("修复")
    single_tab(page, detector, tmp_path)
    take(page, screenshots / "single_zh.png")
    faces = sum(FACE_COUNTS.values())
    batch_tab(page, detector, tmp_path, "批量处理", f"已修复 {len(BATCH_PHOTOS)} 张（{faces} 张人脸）")
    take(page, screenshots / "batch_zh.png")
    page.context.close()


def test_the_screenshots_were_written(screenshots):
    for name in SHOTS:
        assert 10_000 < (screenshots / name).stat().st_size < MAX_SHOT_BYTES, name


def test_the_face_check_fails_on_the_random_restorer(detector):
    """The check above can fail: the tests' random GPEN (what the screenshots showed before) does not pass it."""
    from doubles import WholeFaceParser

    from gpen.arch import build_generator
    from gpen.engine import Engine, EngineConfig
    from tiny_models import TINY_GPEN_CONFIG, tiny_gpen_state_dict

    restorer = build_generator(TINY_GPEN_CONFIG)
    restorer.load_state_dict(tiny_gpen_state_dict())
    engine = Engine(EngineConfig(device="cpu"), restorer=restorer, detector=detector, parser=WholeFaceParser())
    result = engine.enhance_one(read_photo(SINGLE_PHOTO))
    assert result.face_count == FACE_COUNTS[SINGLE_PHOTO]
    with pytest.raises(AssertionError):
        assert_faces_unchanged(detector, SINGLE_PHOTO, result.image)
