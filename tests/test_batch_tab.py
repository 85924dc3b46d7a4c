"""The Batch tab as a person follows it: a progress line that says where the batch stands, one bar, a
gallery of before | after pairs, the folder as a path to copy, a failure notice that stays, an upload list
that stays short, and no empty folder left when the models are missing."""
from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pytest
from app_process import AppProcess, start_app, start_app_with_tiny_models
from browser_pages import expect, loaded_image_size, open_page
from gradio_client import Client, handle_file
from photos import PHOTOS

from gpen.reports import FileReport
from webui.batch_progress import BatchProgress, clock
from webui.gallery import GAP_PX, before_after

PHOTO_COUNT = 24
PROGRESS = re.compile(r"(\d+) faces · \d+:\d\d elapsed · about \d+:\d\d left · now: (family_\d\d\.jpg|broken\.jpg)")
COUNT = re.compile(r"(\d+)/25 photos")


def test_clock_reads_minutes_and_hours():
    assert [clock(seconds) for seconds in (0, 59.4, 61, 3599, 3600, 7322)] == \
        ["0:00", "0:59", "1:01", "59:59", "1:00:00", "2:02:02"]


def test_progress_line_counts_done_faces_and_names_the_next_photo_in_both_languages():
    inputs = ["/up/a.jpg", "/up/b.jpg", "/up/c.jpg"]
    names = {path: path[4:] for path in inputs}
    english = BatchProgress(names, "en")
    assert english.line().startswith("0 faces · 0:00 elapsed") and english.done == (0, 3)
    assert english.line().endswith(" · now: a.jpg") and "left" not in english.line()
    line = english.record(FileReport("/up/a.jpg", "/out/a.jpg", "ok", faces=2))
    assert re.fullmatch(r"2 faces · 0:00 elapsed · about 0:00 left · now: b\.jpg", line), line
    english.record(FileReport("/up/c.jpg", None, "failed", error="corrupt"))
    assert english.line().endswith("now: b.jpg") and english.done == (2, 3)
    english.record(FileReport("/up/b.jpg", "/out/b.jpg", "ok", faces=1))
    assert "now:" not in english.line() and english.line().startswith("3 faces") and english.done == (3, 3)
    chinese = BatchProgress(names, "zh-CN")
    chinese.record(FileReport("/up/a.jpg", "/out/a.jpg", "ok", faces=2))
    assert re.fullmatch(r"2 张人脸 · 已用 0:00 · 约剩 0:00 · 正在处理：b\.jpg", chinese.line()), chinese.line()


def test_before_after_puts_both_photos_side_by_side_at_one_height():
    before = np.zeros((700, 464, 3), np.uint8)
    after = np.full((700, 464, 3), 200, np.uint8)
    pair = before_after(before, after, side_px=2000)
    assert pair.shape == (700, 2 * 464 + GAP_PX, 3)
    assert pair[:, :464].max() == 0 and (pair[:, 464:464 + GAP_PX] == 255).all() and (pair[:, -464:] == 200).all()
    small = before_after(before, after, side_px=300)
    assert max(small.shape[:2]) == 300 and small.shape[1] > small.shape[0]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> AppProcess:
    running = start_app_with_tiny_models(tmp_path_factory.mktemp("batch_tab_app"))
    yield running
    running.stop()


def test_a_batch_shows_where_it_stands_and_what_came_out(app, browser, tmp_path):
    photos = []
    for number in range(PHOTO_COUNT):
        photos.append(tmp_path / f"family_{number:02d}.jpg")
        shutil.copy(PHOTOS / "portrait_small.jpg", photos[-1])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((PHOTOS / "portrait_small.jpg").read_bytes()[:3000])
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-input input[type=file]").set_input_files([str(photo) for photo in photos] + [str(broken)])
    expect(page.locator("#batch-input")).to_contain_text("broken")
    assert page.locator("#batch-input").bounding_box()["height"] < 400    # 25 files, a short list that scrolls
    page.locator("#batch-enhance").click()

    progress = page.get_by_text(PROGRESS)
    expect(progress).to_be_visible()
    shown = page.locator("#batch-gallery").inner_text()
    faces, done = int(PROGRESS.search(shown).group(1)), int(COUNT.search(shown).group(1))
    assert 1 <= done < 25 and faces >= 4 * (done - 1), shown     # 4 faces a photo; one may be broken.jpg
    assert page.get_by_text(COUNT).count() == 1 and progress.count() == 1   # one progress bar, not one per output

    expect(page.locator("#batch-summary")).to_contain_text(f"{PHOTO_COUNT} restored", timeout=180_000)
    [folder] = [path for path in app.outputs.iterdir() if path.is_dir()]
    expect(page.locator("#batch-folder textarea, #batch-folder input").first).to_have_value(str(folder))
    expect(page.locator("#batch-folder button").first).to_be_visible()           # the copy button
    assert len(list(folder.glob("family_*.jpg"))) == PHOTO_COUNT
    gallery = page.locator("#batch-gallery img")
    expect(gallery).to_have_count(PHOTO_COUNT)
    width, height = loaded_image_size(gallery.first)
    assert width > 1.2 * height, (width, height)     # before | after: a portrait photo twice, side by side
    expect(page.locator("#batch-gallery")).to_contain_text("family_00.jpg")
    expect(page.locator("#batch-gallery")).to_contain_text("before | after")
    rows = page.locator("#batch-table [role=row].virtual-row")
    expect(rows.nth(0)).to_contain_text("broken.jpg")
    expect(rows.nth(0)).to_contain_text("Export or download it again.")          # the whole error
    notice = page.locator(".toast-body", has_text="1 of 25 files failed")
    expect(notice).to_contain_text("broken.jpg: the file is truncated or corrupt")
    time.sleep(12)                                                                # past a toast's 10 s
    expect(notice).to_be_visible()
    page.context.close()


def test_a_batch_without_model_files_leaves_no_empty_folder(tmp_path):
    (tmp_path / "models").mkdir()
    running = start_app(tmp_path, tmp_path / "models")
    try:
        client = Client(running.url, verbose=False)
        with pytest.raises(Exception, match="not ready"):
            client.predict([handle_file(str(PHOTOS / "lowres_portrait2.jpg"))], api_name="/enhance_batch")
        assert not running.outputs.exists() or list(running.outputs.iterdir()) == []
    finally:
        running.stop()
