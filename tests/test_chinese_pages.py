"""A Chinese browser reads every message in Chinese, the engine's too (issue 12 §3): a bad file, a decompression
bomb, missing model files, a failed download, and settings that are refused or must wait. Real app, real
Chromium; the check is ``english_sentences`` over every pop-up, the status panel and the batch report."""
from __future__ import annotations

import pytest
from app_process import AppProcess, app_behind_a_refusing_proxy, start_app_with_tiny_models
from bad_inputs import bomb_png
from browser_pages import expect, open_page
from english_text import english_sentences
from photos import PHOTOS

CHINESE = "zh-CN"


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> AppProcess:
    running = start_app_with_tiny_models(tmp_path_factory.mktemp("chinese_app"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def unreachable_app(tmp_path_factory) -> AppProcess:
    with app_behind_a_refusing_proxy(tmp_path_factory.mktemp("chinese_unreachable_app")) as running:
        yield running


def popups(page, level: str) -> list[str]:
    """The text of each pop-up of ``level`` (error, warning, info) on the page, its title included."""
    return [popup.inner_text() for popup in page.locator(f".toast-body.{level}").all()]


def assert_chinese(texts: list[str]) -> None:
    for shown in texts:
        assert english_sentences(shown) == [], shown
        assert not any(title in shown for title in ("Error", "Warning", "Info")), shown   # Gradio's own titles


def test_bad_files_and_a_bomb_in_a_batch_are_explained_in_chinese(app, browser, tmp_path):
    broken = tmp_path / "损坏的照片.jpg"
    broken.write_bytes((PHOTOS / "portrait_small.jpg").read_bytes()[:3000])
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_png())
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    page = open_page(browser, app.url, locale=CHINESE)
    page.get_by_role("tab", name="批量处理").click()
    page.locator("#batch-input input[type=file]").set_input_files(
        [str(PHOTOS / "portrait_small.jpg"), str(broken), str(bomb), str(empty)])
    expect(page.locator("#batch-input")).to_contain_text("bomb")
    page.locator("#batch-enhance").click()
    expect(page.locator("#batch-summary")).to_contain_text("已修复 1 张")
    rows = page.locator("#batch-table [role=row].virtual-row")
    expect(rows).to_have_count(4)
    table = page.locator("#batch-table").inner_text()
    for said in ("文件不完整或已损坏", "解压炸弹", "文件是空的"):
        assert said in table, table
    warning = page.locator(".toast-body.warning").filter(has_text="损坏的照片.jpg")
    expect(warning.locator(".toast-title")).to_contain_text("警告")                # the title, too
    expect(warning).to_contain_text("无法读取 损坏的照片.jpg：文件不完整或已损坏")
    assert_chinese([table, page.locator("#batch-summary").inner_text(), *popups(page, "warning")])
    page.screenshot(path=str(tmp_path / "batch_zh_popups.png"), full_page=True)      # looked at, pop-ups and all
    page.context.close()


def test_a_photo_that_cannot_be_read_is_explained_in_chinese(app, browser, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((PHOTOS / "portrait_small.jpg").read_bytes()[:3000])
    page = open_page(browser, app.url, locale=CHINESE)
    page.locator("#single-input input[type=file]").set_input_files(str(broken))
    page.locator("#single-enhance").click()
    error = page.locator(".toast-body.error").filter(has_text="broken.jpg").last
    expect(error.locator(".toast-title")).to_contain_text("错误")
    expect(error).to_contain_text("无法读取 broken.jpg：文件不完整或已损坏")
    assert_chinese(popups(page, "error"))
    page.context.close()


def test_missing_models_a_failed_download_and_waiting_settings_are_told_in_chinese(unreachable_app, browser,
                                                                                   tmp_path):
    page = open_page(browser, unreachable_app.url, locale=CHINESE)
    page.locator("#single-input input[type=file]").set_input_files(str(PHOTOS / "lowres_portrait2.jpg"))
    expect(page.locator("#single-input img").first).to_be_visible()
    page.locator("#single-enhance").click()
    missing = page.locator(".toast-body.error").filter(has_text="GPEN-BFR-512.pth").last
    expect(missing).to_contain_text("模型文件 GPEN-BFR-512.pth 不在 models 中。请从以下任一地址下载")

    page.get_by_role("tab", name="设置").click()
    page.locator("#settings-download").click()
    failed = page.locator(".toast-body.warning").filter(has_text="GPEN-BFR-512.pth").last
    expect(failed).to_contain_text("无法连接：代理拒绝了连接（HTTP 404）")
    page.locator("#settings-model input").click()
    page.get_by_role("option", name="GPEN-BFR-256").click()
    page.locator("#settings-apply").click()
    waiting = page.locator(".toast-body.warning").filter(has_text="GPEN-BFR-256")
    expect(waiting).to_contain_text("设置已保存")
    status = page.locator("#settings-status")
    expect(status).to_contain_text("上次下载失败")
    assert_chinese([*popups(page, "error"), *popups(page, "warning"), status.inner_text()])
    page.screenshot(path=str(tmp_path / "settings_zh_popups.png"), full_page=True)
    page.context.close()


def test_settings_refused_are_told_in_chinese(app, browser):
    (app.models / "GPEN-BFR-256.pth").write_bytes(b"<html>404 Not Found</html>")    # an error page, saved
    page = open_page(browser, app.url, locale=CHINESE)
    page.get_by_role("tab", name="设置").click()
    page.locator("#settings-model input").click()
    page.get_by_role("option", name="GPEN-BFR-256").click()
    page.locator("#settings-apply").click()
    refused = page.locator(".toast-body.warning").filter(has_text="GPEN-BFR-256.pth").last
    expect(refused).to_contain_text("新设置无法应用，当前模型继续运行")
    expect(refused).to_contain_text("不是 PyTorch 模型文件")
    expect(refused.locator(".toast-title")).to_contain_text("警告")
    assert_chinese([*popups(page, "warning"), page.locator("#settings-status").inner_text()])
    page.context.close()


def test_a_server_open_to_the_network_says_in_chinese_why_its_settings_are_read_only(tmp_path, browser):
    running = start_app_with_tiny_models(tmp_path, "--host", "0.0.0.0")
    try:
        page = open_page(browser, running.url, locale=CHINESE)
        page.get_by_role("tab", name="设置").click()
        expect(page.locator("#settings-locked")).to_contain_text("此处的设置为只读")
        expect(page.locator("#settings-apply")).to_be_disabled()
        assert_chinese([page.locator("#settings-locked").inner_text(), page.locator("#settings-status").inner_text()])
        page.context.close()
    finally:
        running.stop()
