"""What the web app says about model files (issue 12 §4): a missing file with every address on its own line,
a failed download (real HTTP against 127.0.0.1) with what to do, kept in the status panel until the file
is there, settings that wait for their model's files, and "Reload model" saying what it loaded. In
English and Chinese, in this process and through the running app."""
from __future__ import annotations

import dataclasses
import json
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
import tiny_models
import torch
from app_process import start_app
from local_http import NotFound, proxy_environment, serve_on_loopback
from page_events import input_index, output_index, page_config, page_event

from gpen import registry
from webui.settings import Settings

CHINESE = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9"})   # a request from a Chinese browser
STATUS = 9                      # the status panel's place among the Settings tab's outputs
APPLY_ARGUMENTS = ("cpu", "auto", 4, "GPEN-BFR-256", "retinaface-r50", "png", 95, False, 100)


def make_handlers(folder: Path, tmp_path: Path):
    from webui.engine_holder import EngineHolder
    from webui.files import RequestFolders
    from webui.handlers import Handlers

    holder = EngineHolder(Settings().with_values(device="cpu"), models_folder=folder)
    holder.load()
    return Handlers(holder, RequestFolders(tmp_path / "requests"), tmp_path / "settings.json")


def status_of(handlers, language: str = "en") -> str:
    return handlers.settings.settings_view(language)[STATUS]


@pytest.fixture
def folder_512(models_folder, tmp_path) -> Path:
    """The tiny GPEN-BFR-512 with its detector and parser, and nothing for GPEN-BFR-256."""
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    return folder


# ---- a missing file: every address on a line of its own ------------------------------------------------


@pytest.mark.parametrize("no_download", ["", "1"])
def test_the_status_panel_shows_the_whole_reason_with_each_address_on_its_own_line(tmp_path, monkeypatch,
                                                                                   no_download):
    monkeypatch.setenv("GPEN_NO_DOWNLOAD", no_download)
    handlers = make_handlers(tmp_path / "empty", tmp_path)
    urls = registry.get_spec("GPEN-BFR-512").urls
    assert len(urls) >= 2
    for language, loaded, missing, turned_off in (
            ("en", "**Loaded:** nothing yet: ", "GPEN-BFR-512.pth is not in", "downloading is turned off"),
            ("zh-CN", "**已加载：** 尚未加载：", "模型文件 GPEN-BFR-512.pth 不在", "下载功能已关闭")):
        lines = status_of(handlers, language).splitlines()
        [reason] = [line for line in lines if line.startswith(f"- {loaded}")]
        assert missing in reason and str(tmp_path / "empty") in reason
        assert (turned_off in reason) == (no_download == "1")
        start = lines.index(reason)
        assert lines[start + 1:start + 1 + len(urls)] == [f"    - {url}" for url in urls]


# ---- settings that wait for their model's files, and what Reload says ----------------------------------


def test_settings_whose_model_files_are_missing_are_saved_and_wait_while_the_engine_runs(folder_512, tmp_path,
                                                                                         capsys):
    handlers = make_handlers(folder_512, tmp_path)
    with pytest.warns(UserWarning) as warned:
        handlers.settings.apply_settings(None, *APPLY_ARGUMENTS)
    assert str(warned[-1].message) == (
        "Settings saved. GPEN-BFR-512 keeps running until then. GPEN-BFR-256 will be loaded once its files are "
        "in the model folder: GPEN-BFR-256.pth. Press “Download missing model files”, or put the files there by "
        "hand and press “Reload model”. The app also starts with these settings next time.")
    assert json.loads(handlers.settings.settings_file.read_text())["model"] == "GPEN-BFR-256"
    state = handlers.holder.state()
    assert state.loaded and state.model_name == "GPEN-BFR-512" and state.waiting
    status = status_of(handlers)
    assert "**Loaded:** GPEN-BFR-512 on cpu (fp32), batch size 4, detector retinaface-r50" in status
    assert "**Chosen, not loaded yet:** GPEN-BFR-256, detector retinaface-r50: waiting for GPEN-BFR-256.pth." in status
    assert "**已选择，尚未加载：** GPEN-BFR-256" in status_of(handlers, "zh-CN")

    with pytest.warns(UserWarning) as warned:
        handlers.settings.reload_model(None)
    assert str(warned[-1].message).startswith("Could not load GPEN-BFR-256, so GPEN-BFR-512 keeps running: "
                                              "model file GPEN-BFR-256.pth is not in models.")
    assert handlers.holder.state().model_name == "GPEN-BFR-512"

    torch.save(tiny_models.tiny_gpen_state_dict(), folder_512 / "GPEN-BFR-256.pth")
    capsys.readouterr()
    handlers.settings.reload_model(CHINESE)
    assert capsys.readouterr().out.strip() == "已加载 GPEN-BFR-256，设备 cpu（fp32），人脸检测器 retinaface-r50。"
    handlers.settings.reload_model(None)
    assert capsys.readouterr().out.strip() == "Loaded GPEN-BFR-256 on cpu (fp32), detector retinaface-r50."
    state = handlers.holder.state()
    assert state.model_name == "GPEN-BFR-256" and not state.waiting
    assert "Chosen, not loaded yet" not in status_of(handlers)


def test_with_no_engine_running_the_message_says_none_is_loaded_until_the_files_are_there(tmp_path):
    handlers = make_handlers(tmp_path / "empty", tmp_path)
    with pytest.warns(UserWarning) as warned:
        handlers.settings.apply_settings(CHINESE, *APPLY_ARGUMENTS)
    assert str(warned[-1].message).startswith(
        "设置已保存。在此之前不会加载任何模型。模型文件夹中有了 GPEN-BFR-256 的文件（GPEN-BFR-256.pth, "
        "detection_Resnet50_Final.pth, parsing_parsenet.pth）后，就会加载它。")
    assert json.loads(handlers.settings.settings_file.read_text())["model"] == "GPEN-BFR-256"
    assert not handlers.holder.state().loaded


# ---- a failed download, told in full and kept in the status panel -------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("server", ["404", "closed port"])
def test_a_failed_download_says_what_failed_and_what_to_do_until_the_file_is_there(folder_512, models_folder,
                                                                                  tmp_path, monkeypatch, server):
    monkeypatch.delenv("GPEN_NO_DOWNLOAD", raising=False)
    (folder_512 / "GPEN-BFR-512.pth").unlink()
    with serve_on_loopback(NotFound) as base:
        base = base if server == "404" else f"http://127.0.0.1:{closed_port()}"
        urls = (f"{base}/first/GPEN-BFR-512.pth", f"{base}/mirror/GPEN-BFR-512.pth")
        spec = registry.get_spec("GPEN-BFR-512")
        monkeypatch.setitem(registry._SPECS, "gpen-bfr-512", dataclasses.replace(spec, urls=urls))
        handlers = make_handlers(folder_512, tmp_path)
        with pytest.warns(UserWarning) as warned:
            handlers.settings.download_models(None, lambda *args, **kwargs: None, "GPEN-BFR-512")
    reason = "HTTP 404 Not Found" if server == "404" else "cannot connect: [Errno 111] Connection refused"
    told = reason.replace("[Errno 111] ", "")                   # pop-ups leave errno codes out
    lines = str(warned[-1].message).split("<br>")
    assert lines[:3] == ["Downloading GPEN-BFR-512.pth failed:", f"- {urls[0]}: {told}", f"- {urls[1]}: {told}"]
    assert lines[3] == (f"What to do: check this machine's network connection, or its proxy (HTTPS_PROXY) if it "
                        f"reaches the internet through one, then press “Download missing model files” again. Or "
                        f"download the file by hand from {urls[0]} and save it as GPEN-BFR-512.pth in models, then "
                        f"press “Reload model”.")
    assert str(folder_512) not in str(warned[-1].message)      # no server paths in a pop-up
    chinese = "服务器返回 HTTP 404 错误" if server == "404" else "无法连接：连接被拒绝"
    for language, head, said in (("en", "**Last download failed:** Downloading GPEN-BFR-512.pth failed:", reason),
                                 ("zh-CN", "**上次下载失败：** 下载 GPEN-BFR-512.pth 失败：", chinese)):
        status = status_of(handlers, language).splitlines()
        start = status.index(f"- {head}")
        assert status[start + 1:start + 3] == [f"    - {urls[0]}: {said}", f"    - {urls[1]}: {said}"]
        assert "GPEN-BFR-512.pth" in status[start + 3] and str(folder_512) in status[start + 3]
    assert "**Last download failed:**" in status_of(handlers)          # still there on the next look
    shutil.copy(models_folder / "GPEN-BFR-512.pth", folder_512)        # put there by hand
    assert "**Last download failed:**" not in status_of(handlers)


# ---- through the running app, in both languages ----------------------------------------------------------


def test_the_running_app_explains_a_failed_download_and_waiting_settings(models_folder, tmp_path):
    """The app's downloads go through a web proxy on 127.0.0.1 that answers 404 to everything."""
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    with serve_on_loopback(NotFound) as proxy:
        app = start_app(tmp_path, folder, env={**proxy_environment(proxy), "GPEN_NO_DOWNLOAD": ""})
        try:
            config = page_config(app)
            model = input_index(config, "page_apply", "settings-model")
            status = output_index(config, "page_load", "settings-status")
            applied = page_event(app, "page_apply", {model: "GPEN-BFR-256"})
            assert applied.success
            assert any(notice.startswith("Settings saved. GPEN-BFR-512 keeps running until then. GPEN-BFR-256 will "
                                         "be loaded once its files are in the model folder: GPEN-BFR-256.pth.")
                       for notice in applied.notices), applied.notices
            assert json.loads(app.settings_file.read_text())["model"] == "GPEN-BFR-256"

            download_model = input_index(config, "page_download", "settings-model")
            chinese = {"Accept-Language": "zh-CN,zh;q=0.9"}
            for headers, failed, what_to_do, refused in (
                    (None, "Downloading GPEN-BFR-256.pth failed:", "What to do:",
                     "cannot connect: Tunnel connection failed: 404 Not Found"),
                    (chinese, "下载 GPEN-BFR-256.pth 失败：", "解决办法：", "无法连接：代理拒绝了连接（HTTP 404）")):
                downloaded = page_event(app, "page_download", {download_model: "GPEN-BFR-256"}, headers)
                [notice] = [notice for notice in downloaded.notices if failed in notice]
                lines = notice.split("<br>")
                assert lines[0] == failed and lines[-1].startswith(what_to_do) and "HTTPS_PROXY" in lines[-1]
                url = registry.get_spec("GPEN-BFR-256").urls[0]
                assert f"- {url}: {refused}" in lines
                assert str(folder) not in notice

            for headers, phrases in ((None, ("**Last download failed:** Downloading GPEN-BFR-256.pth failed:",
                                             "**Loaded:** GPEN-BFR-512", "**Chosen, not loaded yet:** GPEN-BFR-256",
                                             f"\n    - {url}: cannot connect")),
                                     (chinese, ("**上次下载失败：** 下载 GPEN-BFR-256.pth 失败：", "**已加载：** GPEN-BFR-512",
                                                "**已选择，尚未加载：** GPEN-BFR-256", f"\n    - {url}: 无法连接"))):
                shown = page_event(app, "page_load", headers=headers).data[status]
                assert all(phrase in shown for phrase in phrases), shown
                assert str(folder) in shown

            reloaded = page_event(app, "page_reload")
            assert any(notice.startswith("Could not load GPEN-BFR-256, so GPEN-BFR-512 keeps running")
                       for notice in reloaded.notices), reloaded.notices
            torch.save(tiny_models.tiny_gpen_state_dict(), folder / "GPEN-BFR-256.pth")
            reloaded = page_event(app, "page_reload", headers=chinese)
            assert "已加载 GPEN-BFR-256，设备 cpu（fp32），人脸检测器 retinaface-r50。" in reloaded.notices, reloaded.notices
            shown = page_event(app, "page_load").data[status]
            assert "**Loaded:** GPEN-BFR-256" in shown and "Last download failed" not in shown
        finally:
            app.stop()
