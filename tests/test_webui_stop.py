"""The Batch tab's Stop button, in a real browser: the photos in flight are finished, every result so far
is kept in the folder and the ZIP, and the rest are reported "stopped"."""
from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from app_process import AppProcess, start_app_with_tiny_models
from browser_pages import expect, open_page
from photos import PHOTOS

PHOTO_COUNT = 60


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> AppProcess:
    running = start_app_with_tiny_models(tmp_path_factory.mktemp("stop_app"))
    yield running
    running.stop()


def results_written(outputs: Path) -> list[Path]:
    return sorted(outputs.glob("*/*.jpg")) if outputs.is_dir() else []


def test_stop_keeps_the_results_so_far_and_marks_the_rest_stopped(app, browser, tmp_path):
    photos = []
    for number in range(PHOTO_COUNT):
        photos.append(tmp_path / f"family_{number:02d}.jpg")
        shutil.copy(PHOTOS / "portrait_small.jpg", photos[-1])
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-input input[type=file]").set_input_files([str(photo) for photo in photos])
    expect(page.locator("#batch-input")).to_contain_text("family_59")
    page.locator("#batch-enhance").click()
    deadline = time.monotonic() + 120
    while len(results_written(app.outputs)) < 2:
        assert time.monotonic() < deadline, app.log()
        time.sleep(0.05)
    page.locator("#batch-stop").click()
    expect(page.locator("#batch-summary")).to_contain_text("not processed (stopped)", timeout=60_000)

    [folder] = [path for path in app.outputs.iterdir() if path.is_dir()]
    report = json.loads((folder / "report.json").read_text())
    statuses = [row["status"] for row in report]
    assert len(report) == PHOTO_COUNT and set(statuses) == {"ok", "stopped"}, statuses
    done = [row for row in report if row["status"] == "ok"]
    assert 2 <= len(done) < PHOTO_COUNT
    assert sorted(path.name for path in folder.glob("*.jpg")) == sorted(Path(row["output"]).name for row in done)
    expect(page.locator("#batch-summary")).to_contain_text(f"{len(done)} restored")
    expect(page.locator("#batch-summary")).to_contain_text(f"{PHOTO_COUNT - len(done)} not processed (stopped)")
    expect(page.locator("#batch-gallery img")).to_have_count(len(done))
    rows = page.locator("#batch-table [role=row].virtual-row")
    expect(rows.filter(has_text="stopped").first).to_be_visible()
    with page.expect_download() as download_info:
        page.locator("#batch-zip a[download]").click()
    archive = tmp_path / "results.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as results:
        assert sorted(results.namelist()) == sorted([Path(row["output"]).name for row in done] + ["report.json"])
    page.context.close()


def test_stop_without_a_batch_running_does_nothing(app, browser):
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-stop").click()
    expect(page.locator("#batch-summary")).to_have_text("")
    page.context.close()


def test_the_stop_button_in_chinese(app, browser):
    page = open_page(browser, app.url, locale="zh-CN")
    page.get_by_role("tab", name="批量处理").click()
    expect(page.locator("#batch-stop")).to_have_text("停止")
    page.context.close()
