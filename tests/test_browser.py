"""The web app in a real browser (Debian's Chromium driven by Playwright): what a person sees and does.

The pages looked at are saved to each test's temporary folder (with the tests' random models every face
there is noise): the README's screenshots are taken by ``tests/test_screenshots.py``.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from app_process import AppProcess, app_behind_a_refusing_proxy, start_app, start_app_with_tiny_models
from browser_pages import expect, open_page, require_browser, screenshot
from photos import PHOTOS

from gpen import registry
from webui import options as controls


@pytest.fixture(autouse=True, scope="module")
def browser_available() -> None:
    require_browser()


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> AppProcess:
    running = start_app_with_tiny_models(tmp_path_factory.mktemp("browser_app"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory) -> AppProcess:
    folder = tmp_path_factory.mktemp("browser_empty_app")
    (folder / "models").mkdir()
    running = start_app(folder, folder / "models")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def unreachable_app(tmp_path_factory) -> AppProcess:
    """No model files, downloading on, and every download refused by a web proxy on 127.0.0.1 (404)."""
    with app_behind_a_refusing_proxy(tmp_path_factory.mktemp("browser_unreachable_app")) as running:
        yield running


def lines_of(locator) -> list[str]:
    """The lines a person sees in an element, as the browser lays them out."""
    return [line.strip() for line in locator.inner_text().splitlines() if line.strip()]


def enhance_one_photo(page, photo: Path) -> None:
    page.locator("#single-input input[type=file]").set_input_files(str(photo))
    expect(page.locator("#single-input img").first).to_be_visible()
    page.locator("#single-enhance").click()
    expect(page.locator("#single-faces textarea")).not_to_have_value("")


def test_single_photo_is_restored_compared_and_downloaded(app, browser, tmp_path):
    page = open_page(browser, app.url)
    enhance_one_photo(page, PHOTOS / "portrait_small.jpg")
    assert int(page.locator("#single-faces textarea").input_value()) > 0
    assert page.locator("#single-device textarea").input_value().startswith("cpu")
    assert float(page.locator("#single-seconds textarea").input_value()) > 0
    expect(page.locator("#single-slider img")).to_have_count(2)
    expect(page.locator("#single-notice")).to_be_hidden()
    with page.expect_download() as download_info:
        page.locator("#single-download a[download]").click()
    saved = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(saved)
    assert saved.name == "portrait_small_restored.jpg"   # the input's own format
    from PIL import Image
    assert Image.open(saved).size == Image.open(PHOTOS / "portrait_small.jpg").size
    screenshot(page, tmp_path / "single.png")
    page.context.close()


def test_the_faces_are_shown_numbered_and_only_the_ticked_ones_are_restored(app, browser, tmp_path):
    page = open_page(browser, app.url)
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / "portrait_small.jpg"))
    preview = page.locator("#single-face-preview img")
    expect(preview).to_be_visible()
    boxes = page.locator("#single-picked input[type=checkbox]")
    expect(boxes.first).to_be_checked()
    count = boxes.count()
    assert count >= 2 and all(boxes.nth(number).is_checked() for number in range(count))
    plain = preview.get_attribute("src")
    page.locator("#single-landmarks input[type=checkbox]").check()
    expect(preview).not_to_have_attribute("src", plain)        # drawn again, with the landmarks
    screenshot(page, tmp_path / "single_faces.png")
    boxes.first.uncheck()
    page.locator("#single-enhance").click()
    expect(page.locator("#single-faces textarea")).to_have_value(str(count - 1))
    for number in range(count):
        boxes.nth(number).uncheck()
    page.locator("#single-enhance").click()
    # (the screenshot above hid the toasts; the error is there all the same)
    expect(page.locator(".toast-message-text.error")).to_contain_text("Tick at least one face to restore")
    page.context.close()


def test_photo_without_faces_is_returned_with_a_visible_notice(app, browser):
    page = open_page(browser, app.url)
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / "lowres_portrait2.jpg"))
    expect(page.locator("#single-input img").first).to_be_visible()
    page.locator("#single-advanced").click()
    min_face = page.locator("#single-min-face input[type=number]")
    min_face.fill("2000")
    min_face.press("Tab")       # the number is taken when the field loses focus, before Enhance is pressed
    expect(min_face).to_have_value("2000")
    page.locator("#single-enhance").click()
    expect(page.locator("#single-faces textarea")).not_to_have_value("")
    assert page.locator("#single-faces textarea").input_value() == "0"
    expect(page.locator("#single-notice")).to_contain_text("No face was found")
    expect(page.locator("#single-slider img")).to_have_count(2)
    page.context.close()


def test_batch_restores_good_photos_and_reports_the_bad_one(app, browser, tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes((PHOTOS / "portrait_small.jpg").read_bytes()[:3000])
    names = ["portrait_small.jpg", "lowres_portrait.jpg", "lowres_portrait2.jpg"]
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-input input[type=file]").set_input_files([str(PHOTOS / name) for name in names]
                                                                   + [str(corrupt)])
    expect(page.locator("#batch-input")).to_contain_text("broken")
    if controls.has_modes():   # the mode sets the quality controls to its preset
        page.locator("#batch-advanced").click()
        page.locator("#batch-mode input").click()
        page.get_by_role("option", name="Strong").click()
        for name, value in controls.mode_values("strong").items():
            control = page.locator(f"#batch-{name.replace('_', '-')} input").first
            if isinstance(value, bool):
                expect(control).to_be_checked(checked=value)
            else:
                expect(control).to_have_value(f"{value:g}")
    page.locator("#batch-enhance").click()
    expect(page.locator("#batch-zip")).to_be_visible()
    expect(page.locator("#batch-gallery img")).to_have_count(3)
    rows = page.locator("#batch-table [role=row].virtual-row")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("broken.jpg")         # failed files come first
    expect(rows.nth(0)).to_contain_text("failed")
    expect(rows.nth(0)).to_contain_text("truncated or corrupt")
    for index, name in enumerate(names, start=1):
        expect(rows.nth(index)).to_contain_text(name)
        expect(rows.nth(index)).to_contain_text("restored")
    expect(page.locator("#batch-summary")).to_contain_text("3 restored")
    with page.expect_download() as download_info:
        page.locator("#batch-zip a[download]").click()
    archive = tmp_path / "results.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as results:
        assert sorted(results.namelist()) == sorted([Path(name).name for name in names] + ["report.json"])
        report = json.loads(results.read("report.json"))
    assert [row["status"] for row in report] == ["ok", "ok", "ok", "failed"]
    screenshot(page, tmp_path / "batch.png")
    page.context.close()


def test_file_names_in_notices_are_shown_as_text(app, browser, tmp_path):
    """Gradio renders notices as (sanitised) HTML: a ZIP member's name must not become markup."""
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr('<img src="x" id="injected">.jpg', b"not a photo")
        writer.writestr("<details open>.jpg", b"not a photo either")
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Batch").click()
    page.locator("#batch-input input[type=file]").set_input_files(str(archive))
    expect(page.locator("#batch-input")).to_contain_text("names")
    page.locator("#batch-enhance").click()
    notice = page.get_by_test_id("toast-body").filter(has_text="failed")
    expect(notice).to_contain_text('<img src="x" id="injected">.jpg')
    expect(notice).to_contain_text("<details open>.jpg")
    expect(page.locator("#injected")).to_have_count(0)
    expect(page.get_by_test_id("toast-body").locator("img, details")).to_have_count(0)
    page.context.close()


def test_chinese_browser_gets_chinese_labels(app, browser, tmp_path):
    page = open_page(browser, app.url, locale="zh-CN")
    for label in ("单张照片", "批量处理", "设置"):
        expect(page.get_by_role("tab", name=label)).to_be_visible()
    expect(page.locator("#single-enhance")).to_have_text("修复")
    expect(page.locator("#intro")).to_contain_text("GPEN 人脸修复")
    enhance_one_photo(page, PHOTOS / "portrait_small.jpg")
    screenshot(page, tmp_path / "single_zh.png")
    page.get_by_role("tab", name="设置").click()
    expect(page.locator("#settings-status")).to_contain_text("已加载")
    page.context.close()


def test_settings_change_the_running_engine_and_are_saved(app, browser, tmp_path):
    page = open_page(browser, app.url)
    page.get_by_role("tab", name="Settings").click()
    status = page.locator("#settings-status")
    expect(status).to_contain_text("GPEN-BFR-512 on cpu (fp32), batch size 4, detector retinaface-r50")
    if "not available" in page.locator("#settings-device").inner_text():
        assert page.locator("#settings-device label:has(input[value=cuda])").evaluate(
            "label => getComputedStyle(label).pointerEvents") == "none"
    batch_size = page.locator("#settings-batch-size input[type=number]")
    batch_size.fill("8")
    batch_size.press("Enter")
    page.locator("#settings-model input").click()
    page.get_by_role("option", name="GPEN-BFR-256").click()
    page.locator("#settings-detector label:has(input[value='retinaface-mobile0.25'])").click()
    page.locator("#settings-format label:has(input[value=jpg])").click()
    page.locator("#settings-apply").click()
    expect(status).to_contain_text("GPEN-BFR-256 on cpu (fp32), batch size 8, detector retinaface-mobile0.25")
    saved = json.loads(app.settings_file.read_text())
    assert (saved["model"], saved["batch_size"], saved["detector"], saved["output_format"]) == \
        ("GPEN-BFR-256", 8, "retinaface-mobile0.25", "jpg")
    screenshot(page, tmp_path / "settings.png")
    # a new page shows the settings in force, and photos now come back as JPEG
    page.goto(app.url)
    enhance_one_photo(page, PHOTOS / "lowres_portrait2.jpg")
    expect(page.locator("#single-download a[download]")).to_have_attribute("download", "lowres_portrait2_restored.jpg")
    expect(page.locator("#single-device textarea")).to_have_value("cpu (fp32), GPEN-BFR-256")
    page.context.close()


def test_without_model_files_the_page_shows_what_is_missing_and_enhance_explains(empty_app, browser):
    page = open_page(browser, empty_app.url)
    expect(page.locator("#models-banner")).to_contain_text("not ready")
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / "lowres_portrait2.jpg"))
    expect(page.locator("#single-input img").first).to_be_visible()
    page.locator("#single-enhance").click()
    expect(page.get_by_text("GPEN-BFR-512.pth is not in")).to_be_visible()
    expect(page.locator("#single-faces textarea")).to_have_value("")
    page.get_by_role("tab", name="Settings").click()
    files = page.locator("#settings-model-files")
    for name in ("GPEN-BFR-512.pth", "detection_Resnet50_Final.pth", "parsing_parsenet.pth"):
        expect(files.locator("tr", has_text=name)).to_contain_text("missing")
    expect(page.locator("#settings-status")).to_contain_text(str(empty_app.models))
    expect(page.locator("#settings-download")).to_be_visible()
    page.context.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_missing_files_and_a_failed_download_are_told_an_address_a_line(unreachable_app, browser, locale):
    english = locale == "en-US"
    urls = registry.get_spec("GPEN-BFR-512").urls
    assert len(urls) >= 2
    page = open_page(browser, unreachable_app.url, locale=locale)
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / "lowres_portrait2.jpg"))
    expect(page.locator("#single-input img").first).to_be_visible()
    page.locator("#single-enhance").click()
    # (finding the faces of the new photo fails in the same way, so there may be two such pop-ups)
    popup = page.locator(".toast-message-text.error").filter(has_text="GPEN-BFR-512.pth").last
    expect(popup).to_contain_text("The model files are not ready" if english else "模型文件尚未就绪")
    expect(popup).to_contain_text("GPEN-BFR-512.pth is not in models. Download it from one of these addresses"
                                  if english else "模型文件 GPEN-BFR-512.pth 不在 models 中。请从以下任一地址下载")
    assert [line for line in lines_of(popup) if "://" in line] == [f"- {url}" for url in urls]   # a line each
    assert "turned off" not in popup.inner_text()

    page.get_by_role("tab", name="Settings" if english else "设置").click()
    page.locator("#settings-download").click()
    warning = page.locator(".toast-message-text.warning").filter(has_text="GPEN-BFR-512.pth").last
    expect(warning).to_contain_text("Downloading GPEN-BFR-512.pth failed:" if english else "下载 GPEN-BFR-512.pth 失败：")
    tried = [line for line in lines_of(warning) if line.startswith("- ")]
    reason = "cannot connect: Tunnel connection failed: 404 Not Found" if english else "无法连接：代理拒绝了连接（HTTP 404）"
    assert tried == [f"- {url}: {reason}" for url in urls]
    expect(warning).to_contain_text("HTTPS_PROXY")

    page.reload()        # the failure stays in the status panel, not only in the pop-up that goes away
    page.get_by_role("tab", name="Settings" if english else "设置").click()
    status = page.locator("#settings-status")
    expect(status).to_contain_text("Last download failed:" if english else "上次下载失败：")
    expect(status).to_contain_text("nothing yet" if english else "尚未加载")
    expect(status.locator("li li", has_text="404")).to_have_count(len(urls))
    for url in urls:      # the reason nothing is loaded, with each address as an item of its own
        expect(status.locator("li li", has_text=url).first).to_have_text(url)
    expect(status.locator("li li", has_text="HTTPS_PROXY")).to_contain_text(str(unreachable_app.models))
    page.context.close()

