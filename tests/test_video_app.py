"""Videos in the web app: ``/enhance_video`` over HTTP and the Video tab in a real browser (Debian's
Chromium driven by Playwright, with the browser tests' helpers)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from app_process import AppProcess, start_app
from browser_pages import expect, open_page, screenshot
from video_clips import audio_packets, frame_times, pan_frames, still_frames, write_clip
from video_models import DETECTOR, trained_models_folder


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> AppProcess:
    folder = tmp_path_factory.mktemp("video_app")
    models = trained_models_folder(folder / "models", tmp_path_factory.getbasetemp() / "trained_detector")
    (folder / "tmp").mkdir()    # the app's request folders, where results are written, go under it
    running = start_app(folder, models, "--detector", DETECTOR, env={"TMPDIR": str(folder / "tmp")})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "family.mp4", pan_frames(8, (150, 220), (170, 220)),
                      tone_hz=440.0)


def test_the_api_restores_a_video(app, clip):
    result, info = Client(app.url, verbose=False).predict(handle_file(str(clip)), 23, True, api_name="/enhance_video")
    assert Path(result).name == "family_restored.mp4"
    assert info["frames"] == 8 and info["faces"] >= 1 and "quality 23" in info["note"]
    assert frame_times(Path(result)) == pytest.approx(frame_times(clip), abs=1e-6)
    assert audio_packets(Path(result)) == audio_packets(clip)


@pytest.mark.parametrize("name", ["page_enhance_video", "page_stop_video"])
def test_the_video_tab_events_are_not_public(app, name):
    with pytest.raises(ValueError, match="Cannot find a function"):
        Client(app.url, verbose=False).predict(api_name=f"/{name}")


def test_the_api_explains_a_bad_video(app, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(Exception, match="not a readable video"):
        Client(app.url, verbose=False).predict(handle_file(str(bad)), api_name="/enhance_video")


def test_the_video_tab_restores_previews_and_downloads(app, browser, clip, tmp_path):
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-input input[type=file]").set_input_files(str(clip))
    expect(page.locator("#video-input")).to_contain_text("family")
    page.locator("#video-enhance").click()
    expect(page.locator("#video-summary")).to_contain_text("8 frames restored")
    expect(page.locator("#video-result video")).to_be_visible()
    with page.expect_download() as download_info:
        page.locator("#video-download a[download]").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert saved.name == "family_restored.mp4" and len(frame_times(saved)) == 8
    screenshot(page, tmp_path / "video.png")
    page.context.close()


def test_stop_abandons_the_video(app, browser, tmp_path):
    long_clip = write_clip(tmp_path / "long.mp4", still_frames(400, noise=1.0))
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-input input[type=file]").set_input_files(str(long_clip))
    expect(page.locator("#video-input")).to_contain_text("long")
    page.locator("#video-enhance").click()
    expect(page.locator("#video-summary")).to_contain_text(re.compile(r"frame \d+ of 400, about \d+ s left"))
    page.locator("#video-stop").click()
    expect(page.get_by_text("Stopped. No result was kept.")).to_be_visible()
    expect(page.locator("#video-download")).to_be_hidden()
    page.context.close()
    request_folders = app.outputs.parent / "tmp"
    assert list(request_folders.glob("gpen-webui-*"))
    assert not [path.name for path in request_folders.rglob("long_restored*")]


def test_the_video_tab_in_chinese(app, browser):
    page = open_page(browser, app.url, locale="zh-CN")
    page.get_by_role("tab", name="视频").click()
    expect(page.locator("#video-enhance")).to_have_text("修复视频")
    expect(page.locator("#video-stop")).to_have_text("停止")
    page.context.close()
