"""The web app over HTTP: the API endpoints with gradio_client, what is and is not served, start-up
without model files; and the UI layer's own pieces (settings file, ZIP unpacking, languages)."""
from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from app_process import AppProcess, start_app, start_app_with_tiny_models
from gradio_client import Client, handle_file
from bad_inputs import corrupt_file
from photos import PHOTOS
from PIL import Image

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from gpen import registry  # noqa: E402
from gpen.inputs import RESULTS_MANIFEST  # noqa: E402
from webui import options as controls  # noqa: E402
from webui.files import BatchLimits, collect_inputs  # noqa: E402
from webui.i18n import EN, ZH, language_of  # noqa: E402
from webui.settings import Settings, load_settings, save_settings  # noqa: E402

BATCH_PHOTOS = ("portrait_small.jpg", "lowres_portrait.jpg", "lowres_portrait2.jpg")


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> AppProcess:
    running = start_app_with_tiny_models(tmp_path_factory.mktemp("app"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app.url, verbose=False)


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory) -> AppProcess:
    folder = tmp_path_factory.mktemp("empty_app")
    models = folder / "models"
    models.mkdir()
    running = start_app(folder, models)
    yield running
    running.stop()


# ---- the API -------------------------------------------------------------------------------------

def test_enhance_endpoint_returns_the_full_size_result_and_its_info(client):
    result, info = client.predict(handle_file(str(PHOTOS / "portrait_small.jpg")), api_name="/enhance")
    with Image.open(result) as image:
        assert image.size == Image.open(PHOTOS / "portrait_small.jpg").size
        assert image.format == "JPEG"          # the input's own format, the default
    assert info["faces"] > 0
    assert info["device"] == "cpu" and info["model"] == "GPEN-BFR-512"
    assert info["seconds"] > 0 and info["notice"] is None


def test_enhance_endpoint_takes_strength_mode_and_adjustments(client):
    _, info = client.predict(handle_file(str(PHOTOS / "lowres_portrait2.jpg")), strength=50, mode="strong",
                             faces="largest", adjustments={"contrast": -20}, api_name="/enhance")
    assert info["options"]["strength"] == 0.5 and info["options"]["faces"] == "largest"
    assert info["faces"] == 1
    if controls.has_modes():
        assert info["options"]["contrast"] == -20
        assert info["options"]["denoise"] == controls.mode_values("strong")["denoise"]


def test_photo_without_faces_comes_back_with_a_notice(client):
    result, info = client.predict(handle_file(str(PHOTOS / "lowres_portrait2.jpg")), min_face_px=5000,
                                  api_name="/enhance")
    assert info["faces"] == 0
    assert "No face" in info["notice"]
    assert Image.open(result).size == Image.open(PHOTOS / "lowres_portrait2.jpg").size


def test_bad_input_is_a_clear_error(client, tmp_path):
    with pytest.raises(Exception, match="cannot be used") as raised:
        client.predict(handle_file(str(corrupt_file(tmp_path))), api_name="/enhance")
    assert "Traceback" not in str(raised.value)
    with pytest.raises(Exception, match="strength must be between 0 and 100"):
        client.predict(handle_file(str(PHOTOS / "lowres_portrait2.jpg")), strength=150, api_name="/enhance")


def test_find_faces_numbers_the_faces_and_enhance_restores_the_ones_picked(client):
    photo = handle_file(str(PHOTOS / "portrait_small.jpg"))
    preview, found = client.predict(photo, api_name="/find_faces")
    faces = found["faces"]
    assert len(faces) >= 2 and [face["index"] for face in faces] == list(range(1, len(faces) + 1))
    centres = [(face["box"][0] + face["box"][2]) / 2 for face in faces]
    assert centres == sorted(centres)                      # numbered left to right
    assert all(len(face["landmarks"]) == 5 and 0 < face["score"] <= 1 for face in faces)
    with Image.open(preview) as image, Image.open(PHOTOS / "portrait_small.jpg") as original:
        assert abs(image.size[0] / image.size[1] - original.size[0] / original.size[1]) < 0.01
    _, everyone = client.predict(photo, api_name="/enhance")
    _, picked = client.predict(photo, face_indices=[1, len(faces)], api_name="/enhance")
    assert everyone["faces"] == len(faces) and picked["faces"] == 2
    assert picked["options"]["face_numbers"] == [1, len(faces)]
    with pytest.raises(Exception, match=f"there is no face {len(faces) + 1}"):
        client.predict(photo, face_indices=[len(faces) + 1], api_name="/enhance")
    with pytest.raises(Exception, match="face_numbers must be"):
        client.predict(photo, face_indices=[0], api_name="/enhance")


def test_enhance_batch_endpoint_reports_every_file_and_keeps_going(app, client, tmp_path):
    files = [handle_file(str(PHOTOS / name)) for name in BATCH_PHOTOS] + [handle_file(str(corrupt_file(tmp_path)))]
    results, report = client.predict(files, api_name="/enhance_batch")
    assert [row["input"] for row in report] == [*BATCH_PHOTOS, "broken.jpg"]
    assert [row["status"] for row in report] == ["ok", "ok", "ok", "failed"]
    assert all(row["faces"] > 0 for row in report[:3])
    assert "broken.jpg" in report[3]["error"] and "/gradio" not in report[3]["error"]
    assert sorted(Path(path).name for path in results) == sorted(BATCH_PHOTOS)   # each in its own format
    # the results also stay in a folder of their own under the outputs folder, under their own names
    [folder] = [path for path in app.outputs.iterdir() if path.name.startswith("batch-")]
    assert sorted(path.name for path in folder.iterdir() if path.name != RESULTS_MANIFEST) == sorted(
        [*BATCH_PHOTOS, "report.json"])


def test_enhance_batch_unpacks_a_zip_safely(client, tmp_path):
    archive = tmp_path / "family.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.write(PHOTOS / "lowres_portrait.jpg", "1970s/grandma.jpg")
        writer.write(PHOTOS / "lowres_portrait2.jpg", "1980s/grandma.jpg")
        writer.writestr("../../escape.jpg", b"not really")
        writer.writestr("notes.txt", "a text file")
        writer.writestr("__MACOSX/1970s/._grandma.jpg", b"resource fork")
    results, report = client.predict([handle_file(str(archive))], api_name="/enhance_batch")
    by_input = {row["input"]: row for row in report}
    assert by_input["family.zip/1970s/grandma.jpg"]["status"] == "ok"
    assert by_input["family.zip/1980s/grandma.jpg"]["status"] == "ok"
    assert by_input["family.zip/../../escape.jpg"]["error"] == "unsafe path inside the ZIP"
    assert by_input["family.zip/notes.txt"]["status"] == "skipped"
    assert len(report) == 4
    assert sorted(Path(path).name for path in results) == ["grandma.jpg", "grandma_2.jpg"]
    assert not (tmp_path.parent / "escape.jpg").exists()


# ---- what the server offers and refuses ------------------------------------------------------------

def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def upload(app: AppProcess, path: Path) -> str:
    boundary = "gpen-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(app.url + "gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())[0]


def test_model_files_results_and_settings_are_not_served(app, client):
    client.predict([handle_file(str(PHOTOS / "lowres_portrait2.jpg"))], api_name="/enhance_batch")
    uploaded = upload(app, PHOTOS / "lowres_portrait2.jpg")
    assert get(f"{app.url}gradio_api/file={uploaded}") == (200, (PHOTOS / "lowres_portrait2.jpg").read_bytes())
    secret_files = [app.models / "GPEN-BFR-512.pth", app.settings_file if app.settings_file.exists() else None,
                    *(path for path in app.outputs.rglob("*") if path.is_file())]
    for path in filter(None, secret_files):
        for url in (f"{app.url}gradio_api/file={path}", f"{app.url}file={path}"):
            status, body = get(url)
            assert status in (403, 404), (url, status)


def test_only_the_four_api_endpoints_are_public(app):
    info = json.loads(get(app.url + "gradio_api/info")[1])
    assert sorted(info["named_endpoints"]) == ["/enhance", "/enhance_batch", "/enhance_video", "/find_faces"]
    config = json.loads(get(app.url + "config")[1])
    assert config["analytics_enabled"] is False
    assert config["max_file_size"] == 500 * 1024 ** 2


def test_all_gpu_work_shares_one_queue_of_one(tmp_path):
    from webui.engine_holder import EngineHolder
    from webui.files import RequestFolders
    from webui.handlers import Handlers
    from webui.layout import GPU_QUEUE, build_ui

    demo = build_ui(Handlers(EngineHolder(Settings()), RequestFolders(tmp_path / "requests"), tmp_path / "s.json"))
    by_name = {fn.api_name: fn for fn in demo.fns.values()}
    gpu_events = ["enhance", "enhance_batch", "enhance_video", "find_faces", "page_enhance", "page_enhance_batch",
                  "page_enhance_video", "page_find_faces", "page_draw_faces", "page_apply", "page_reload"]
    for name in gpu_events:
        assert (by_name[name].concurrency_id, by_name[name].concurrency_limit) == (GPU_QUEUE, 1), name
    others = [fn.api_name for fn in demo.fns.values() if fn.concurrency_id == GPU_QUEUE]
    assert sorted(others) == sorted(gpu_events)


def test_the_app_listens_on_localhost_only(app):
    port = f"{app.port:04X}"
    listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if line.split()[1].endswith(":" + port) and line.split()[3] == "0A"]
    assert listening == [f"0100007F:{port}"]


def test_without_model_files_the_app_starts_and_enhance_explains(empty_app):
    client = Client(empty_app.url, verbose=False)
    with pytest.raises(Exception) as raised:
        client.predict(handle_file(str(PHOTOS / "lowres_portrait2.jpg")), api_name="/enhance")
    message = str(raised.value)
    assert "GPEN-BFR-512.pth" in message and "Settings" in message
    assert str(empty_app.models) not in message     # no server paths in messages: the Settings tab shows the folder
    assert "Traceback" not in message
    assert "no model loaded yet" in empty_app.log()
    assert "downloading is turned off (GPEN_NO_DOWNLOAD is set)" in message     # start_app sets it
    urls = registry.get_spec("GPEN-BFR-512").urls
    assert len(urls) >= 2 and all(f"<br>  - {url}<br>" in message for url in urls)   # a line each in the pop-up


# ---- the UI layer's own pieces ------------------------------------------------------------------------

def test_settings_survive_a_round_trip_and_bad_values_fall_back(tmp_path):
    path = tmp_path / "settings.json"
    assert load_settings(path) == Settings()
    chosen = Settings().with_values(device="cpu", batch_size=16, model="GPEN-BFR-256", detector="retinaface-mobile0.25",
                                        output_format="webp", quality=80)
    save_settings(chosen, path)
    assert load_settings(path) == chosen
    assert json.loads(path.read_text())["detector"] == "retinaface-mobile0.25"
    path.write_text(json.dumps({"batch_size": 999, "model": "GPEN-BFR-256", "colour": "red", "detector": "yolo"}))
    assert load_settings(path) == Settings().with_values(model="GPEN-BFR-256")
    path.write_text("{not json")
    assert load_settings(path) == Settings()


@pytest.mark.parametrize("header, language", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("zh-TW", "zh-CN"), ("en-US,en;q=0.9", "en"),
    ("fr-FR,zh;q=0.5", "zh-CN"), ("en;q=0.4,zh;q=0.6", "zh-CN"), ("", "en"), (None, "en"),
])
def test_language_follows_the_browser(header, language):
    assert language_of(header) == language


def test_status_names_the_gpu_and_its_memory(monkeypatch):
    from types import SimpleNamespace

    import torch

    from webui import status
    from webui.engine_holder import EngineState

    monkeypatch.setattr(status, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(name="NVIDIA Test GPU"))
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda index: (6 * 2**30, 8 * 2**30))
    state = EngineState(Settings(), True, "GPEN-BFR-512", "cuda", "bf16", 4)
    text = status.render_status(state, "en", Path("models"), Path("settings.json"), Path("outputs"))
    assert "NVIDIA Test GPU, 8.0 GB (6.0 GB free)" in text
    assert "GPEN-BFR-512 on cuda (bf16), batch size 4, detector retinaface-r50" in text


@pytest.mark.parametrize("detector, wanted, not_wanted", [
    ("retinaface-r50", "detection_Resnet50_Final.pth", "detection_mobilenet0.25_Final.pth"),
    ("retinaface-mobile0.25", "detection_mobilenet0.25_Final.pth", "detection_Resnet50_Final.pth"),
])
def test_the_model_files_table_marks_the_chosen_detector_as_needed(tmp_path, detector, wanted, not_wanted):
    from webui import status

    table = status.render_model_files("GPEN-BFR-512", "en", tmp_path, detector)
    rows = {line.split("`")[1]: line for line in table.splitlines() if line.startswith("| `")}
    assert "| yes |" in rows[wanted] and "| yes |" not in rows[not_wanted]
    assert [spec.file_name for spec in registry.missing_models("GPEN-BFR-512", tmp_path, detector)] == \
        ["GPEN-BFR-512.pth", wanted, "parsing_parsenet.pth"]


def test_every_string_has_a_chinese_translation():
    assert set(EN) == set(ZH)


def zip_with(path: Path, members: dict[str, bytes], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as writer:
        for name, data in members.items():
            writer.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            writer.writestr(info, "/etc/passwd")
    return path


def test_zip_unpacking_is_contained_and_limited(tmp_path):
    photo = (PHOTOS / "lowres_portrait2.jpg").read_bytes()
    archive = zip_with(tmp_path / "in.zip", {"a.jpg": photo, "/abs.jpg": photo, "dir/../../up.jpg": photo,
                                             "C:/win.jpg": photo, "b.png": b"x" * 10, "c.jpg": photo,
                                             ".hidden.jpg": photo, "doc.pdf": b"%PDF"}, links=("link.jpg",))
    work = tmp_path / "work"
    inputs, rows = collect_inputs([archive], work, BatchLimits(max_files=2, max_unpacked_bytes=10 ** 7))
    assert [item.name for item in inputs] == ["in.zip/a.jpg", "in.zip/b.png"]
    reasons = {row.input: row.error for row in rows}
    assert reasons["in.zip//abs.jpg"] == reasons["in.zip/dir/../../up.jpg"] == "unsafe path inside the ZIP"
    assert reasons["in.zip/C:/win.jpg"] == "unsafe path inside the ZIP"
    assert reasons["in.zip/link.jpg"] == "a link, not a file"
    assert reasons["in.zip/c.jpg"] == "too many files in this batch"
    assert reasons["in.zip/doc.pdf"] == "not an image file"
    assert all(path.is_relative_to(work) for path in work.rglob("*"))
    assert not any(path.is_symlink() for path in work.rglob("*"))


def test_zip_unpacking_stops_at_the_size_limit_whatever_the_zip_declares(tmp_path):
    archive = zip_with(tmp_path / "big.zip", {"one.jpg": b"\0" * 600_000, "two.jpg": b"\0" * 600_000})
    inputs, rows = collect_inputs([archive], tmp_path / "work", BatchLimits(max_unpacked_bytes=1_000_000))
    assert [item.name for item in inputs] == ["big.zip/one.jpg"]
    assert rows[0].input == "big.zip/two.jpg" and "more than" in rows[0].error


def test_controls_become_engine_options():
    options = controls.build_options(40, None, "center", 32, False)
    assert (options.strength, options.faces, options.min_face_px, options.aligned) == (0.4, "center", 32.0, False)
    with pytest.raises(ValueError):
        controls.build_options(101, None, None, None, None)
    with pytest.raises(ValueError, match="unknown adjustment"):
        controls.build_options(50, None, None, None, None, {"glow": 3})
    for adjustment in controls.available_adjustments():
        preset = controls.mode_values(controls.mode_names()[-1])
        options = controls.build_options(50, controls.mode_names()[-1], None, None, None)
        assert getattr(options, adjustment.name) == preset.get(adjustment.name, getattr(options, adjustment.name))
