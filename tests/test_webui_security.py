"""Attacks on the running app over HTTP, as a stranger who can reach it (or another web site open in the
same browser) would try them: out-of-range values, the page's own events called by name, cross-origin requests,
and a booby-trapped model file (files outside the app's own areas, other people's results, oversized
uploads and batches: ``test_webui_files.py``). Each is refused before anything is done, and nothing leaves the machine.

Covered elsewhere, not repeated here (``test_app.py``): the model file, the settings file and outputs by
their plain absolute path on ``/gradio_api/file=`` and ``/file=``; a ZIP member named ``../../escape.jpg``;
that ``/gradio_api/info`` lists only ``/enhance`` and ``/enhance_batch``; analytics off in ``/config``.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import tiny_models
import torch
from app_process import AppProcess
from gradio_client import Client, handle_file
from guarded_app import (
    TIMEOUT_S,
    api_arguments,
    engine_builds,
    file_data,
    get_raw,
    page_dependency,
    page_event,
    start_guarded_app,
    traces,
    upload_raw,
    write_photo,
)
from web_calls import uploads_folder

PAGE_EVENTS = ("page_enhance", "page_enhance_batch", "page_find_faces", "page_draw_faces", "page_forget_faces",
               "page_apply", "page_reload", "page_download", "page_load")


# ---- out-of-range values -------------------------------------------------------------------------


BAD_VALUES = {
    "strength -5": (dict(strength=-5), "strength must be between 0 and 100"),
    "strength 10^9": (dict(strength=1e9), "strength must be between 0 and 100"),
    "mode evil": (dict(mode="evil"), "mode must be one of"),
    "faces evil": (dict(faces="evil"), "faces must be one of"),
    "min_face_px -1": (dict(min_face_px=-1), "min_face_px must be"),
    "denoise 1000": (dict(adjustments={"denoise": 1000}), "denoise must be a number between 0 and 100"),
    "contrast -101": (dict(adjustments={"contrast": -101}), "contrast must be a number between -100 and 100"),
    "batch size 10^6": (dict(adjustments={"batch_size": 10 ** 6}), "unknown adjustment(s): batch_size"),
    "device cuda:9": (dict(adjustments={"device": "cuda:9"}), "unknown adjustment(s): device"),
    "10^4 unknown names": (dict(adjustments={f"x{number}": 1 for number in range(10 ** 4)}), "and 9995 more"),
    "adjustments not JSON": (dict(adjustments="{not json"), "adjustments must be a JSON object"),
    "adjustments a list": (dict(adjustments=[1, 2]), "adjustments must be a JSON object"),
}


@pytest.mark.parametrize("endpoint", ["/enhance", "/enhance_batch"])
@pytest.mark.parametrize("case", BAD_VALUES)
def test_out_of_range_values_are_refused_and_nothing_is_allocated(guarded_app, guarded_client, tmp_path, endpoint,
                                                                  case):
    arguments, message = BAD_VALUES[case]
    photo = handle_file(str(write_photo(tmp_path / "photo.jpg")))
    before, builds = traces(guarded_app), engine_builds(guarded_app)
    with pytest.raises(Exception) as raised:
        guarded_client.predict(photo if endpoint == "/enhance" else [photo], **arguments, api_name=endpoint)
    assert message in str(raised.value) and "Traceback" not in str(raised.value)
    assert len(str(raised.value)) < 2000
    assert traces(guarded_app) == before and engine_builds(guarded_app) == builds


@pytest.mark.parametrize("name", PAGE_EVENTS)
def test_the_page_events_cannot_be_called_by_name(guarded_app, guarded_client, name):
    with pytest.raises(ValueError, match="Cannot find a function"):
        guarded_client.predict(api_name=f"/{name}")
    # the page runs page_load (and page_forget_faces, which only empties the face preview) outside the queue, at
    # /gradio_api/run/<name>; queued events are refused there
    unqueued = name in ("page_load", "page_forget_faces")
    routes = ("call", "call/v2") if unqueued else ("call", "call/v2", "run", "api")
    for route in routes:
        response = httpx.post(f"{guarded_app.url}gradio_api/{route}/{name}", json={"data": []}, timeout=TIMEOUT_S)
        assert response.status_code == 404, (route, response.status_code, response.text)


SETTINGS = ["cpu", "auto", 4, "GPEN-BFR-512", "retinaface-r50", "png", 95, False, 100]


BAD_SETTINGS = {
    "batch size 10^6": (2, 10 ** 6, "greater than maximum value 64"),
    "batch size 0": (2, 0, "less than minimum value 1"),
    "device cuda:9": (0, "cuda:9", "not in the list of choices"),
    "precision fp4": (1, "fp4", "not in the list of choices"),
    "model /etc/passwd": (3, "/etc/passwd", "not in the list of choices"),
    "detector yolo": (4, "yolo", "not in the list of choices"),
    "format exe": (5, "exe", "not in the list of choices"),
    "quality 1000": (6, 1000, "greater than maximum value 100"),
    "10^9 megapixels": (8, 10 ** 9, "greater than maximum value"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_the_settings_event_refuses_out_of_range_values_without_rebuilding(guarded_app, case):
    index, value, message = BAD_SETTINGS[case]
    saved, builds = guarded_app.settings_file.read_bytes(), engine_builds(guarded_app)
    values = list(SETTINGS)
    values[index] = value
    outcome = page_event(guarded_app, "page_apply", values)
    assert not outcome.success and message in outcome.error, outcome
    assert guarded_app.settings_file.read_bytes() == saved and engine_builds(guarded_app) == builds


def test_the_settings_event_cannot_load_an_uploaded_checkpoint(guarded_app, tmp_path):
    checkpoint = tmp_path / "mine.pth"
    torch.save(tiny_models.tiny_gpen_state_dict(seed=1), checkpoint)
    [stored] = upload_raw(guarded_app, "mine.pth", checkpoint.read_bytes()).json()
    saved, builds = guarded_app.settings_file.read_bytes(), engine_builds(guarded_app)
    values = list(SETTINGS)
    values[3] = stored
    outcome = page_event(guarded_app, "page_apply", values)
    assert not outcome.success and "not in the list of choices" in outcome.error
    assert guarded_app.settings_file.read_bytes() == saved and engine_builds(guarded_app) == builds
    assert f"model file {stored}" not in guarded_app.log()


# ---- other web sites -----------------------------------------------------------------------------


def foreign_request(guarded_app: AppProcess, route: str, origin: str, stored_name: str) -> httpx.Response:
    headers = {"Origin": origin}
    if route == "upload":
        return upload_raw(guarded_app, stored_name, b"not really a photo", headers)
    if route == "call enhance":
        return httpx.post(f"{guarded_app.url}gradio_api/call/enhance", headers=headers, timeout=TIMEOUT_S,
                          json={"data": api_arguments("enhance", file_data("/etc/passwd"))})
    if route == "queue join":
        return httpx.post(f"{guarded_app.url}gradio_api/queue/join", headers=headers, timeout=TIMEOUT_S,
                          json={"data": SETTINGS, "fn_index": page_dependency(guarded_app, "page_apply")["id"],
                                "session_hash": "cross"})
    path = {"config": "config", "info": "gradio_api/info", "uploaded file": "gradio_api/file=" + stored_name}[route]
    return httpx.get(guarded_app.url + path, headers=headers, timeout=TIMEOUT_S)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1.evil.example"])
@pytest.mark.parametrize("route", ["config", "info", "uploaded file", "upload", "call enhance", "queue join"])
def test_requests_from_another_web_site_are_refused(guarded_app, tmp_path, route, origin):
    name = f"cross-{secrets.token_hex(4)}.jpg"
    [mine] = upload_raw(guarded_app, "own.jpg", write_photo(tmp_path / "own.jpg").read_bytes()).json()
    before, builds = traces(guarded_app), engine_builds(guarded_app)
    response = foreign_request(guarded_app, route, origin, mine if route == "uploaded file" else name)
    assert response.status_code == 403, (route, response.status_code, response.text[:200])
    assert response.headers.get("access-control-allow-origin") != origin
    assert "not allowed" in response.text
    assert list(uploads_folder(guarded_app).rglob(name)) == []
    assert traces(guarded_app) == before and engine_builds(guarded_app) == builds


def test_a_preflight_from_another_web_site_is_not_granted(guarded_app):
    response = httpx.options(guarded_app.url + "gradio_api/upload", timeout=TIMEOUT_S, headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_page_own_origin_is_served(guarded_app, tmp_path, host):
    origin = f"http://{host}:{guarded_app.port}"
    response = upload_raw(guarded_app, "own.jpg", write_photo(tmp_path / "own.jpg").read_bytes(),
                          {"Origin": origin, "Host": f"{host}:{guarded_app.port}"})
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == origin


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("LOCALHOST.", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("127.0.0.1.evil.example", False),
    ("localhost.evil.example", False), ("", False),
])
def test_which_host_names_count_as_this_computer_only(host, loopback):
    from webui.guard import is_loopback

    assert is_loopback(host) is loopback


def test_a_rebound_domain_name_is_refused(guarded_app):
    """DNS rebinding: evil.example made to resolve to 127.0.0.1 is "same origin" with itself."""
    host = f"evil.example:{guarded_app.port}"
    for path in ("config", "gradio_api/info"):
        response = httpx.get(guarded_app.url + path, headers={"Host": host, "Origin": f"http://{host}"},
                             timeout=TIMEOUT_S)
        assert response.status_code == 403 and "answers only at localhost" in response.text
        assert "dependencies" not in response.text and "named_endpoints" not in response.text


# ---- monitoring, analytics, run history, and what leaves the machine -----------------------------


def test_monitoring_run_history_and_code_editing_are_off_whatever_the_environment(guarded_app):
    assert get_raw(guarded_app, "/monitoring")[0] == 403
    assert get_raw(guarded_app, "/monitoring/summary")[0] == 403
    assert get_raw(guarded_app, f"/monitoring/{secrets.token_urlsafe(16)}")[0] == 403
    for path in ("/gradio_api/runs", "/gradio_api/run-history/records", "/gradio_api/mcp/sse", "/gradio_api/mcp/"):
        assert get_raw(guarded_app, path)[0] == 404, path
    assert get_raw(guarded_app, "/gradio_api/vibe-code")[0] == 403
    config = httpx.get(guarded_app.url + "config", timeout=TIMEOUT_S).json()
    assert (config["analytics_enabled"], config["run_history"], config["vibe_mode"], config["mcp_server"]) == (
        False, False, False, False)
    assert not config.get("ssr_mode") and not config.get("share_url")
    assert "gradio.live" not in guarded_app.log()


# ---- a booby-trapped model file ------------------------------------------------------------------


class _RunsACommand:
    """Unpickling this runs ``command``: what a malicious checkpoint does."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def save_trap(path: Path, marker: Path) -> Path:
    """A checkpoint with real tiny GPEN weights and a payload that touches ``marker`` when fully unpickled."""
    torch.save({"params_ema": tiny_models.tiny_gpen_state_dict(), "payload": _RunsACommand(f"touch {marker}")},
               path)
    return path


@pytest.fixture(scope="module")
def trapped_app(tmp_path_factory, recorder) -> Iterator[tuple[AppProcess, Path]]:
    folder = tmp_path_factory.mktemp("trapped_app")
    models = folder / "models"
    paths = tiny_models.make_tiny_models(models)
    marker = folder / "marker"
    save_trap(paths["restorer"], marker)
    running = start_guarded_app(folder, models, recorder)
    yield running, marker
    running.stop()


def test_a_booby_trapped_model_file_is_refused_and_never_run(trapped_app, tmp_path):
    guarded_app, marker = trapped_app
    assert "refused: it holds Python objects other than tensors" in guarded_app.log()
    status = page_event(guarded_app, "page_load", [])
    shown = json.dumps(status.data, ensure_ascii=False)
    assert status.success and "nothing yet" in shown and "was refused" in shown and "not ready" in shown
    with pytest.raises(Exception) as raised:
        Client(guarded_app.url, verbose=False).predict(handle_file(str(write_photo(tmp_path / "photo.jpg"))),
                                               api_name="/enhance")
    message = str(raised.value)
    assert "GPEN-BFR-512.pth" in message and "refused" in message and "could run code" in message
    assert "Traceback" not in message
    reload = page_event(guarded_app, "page_reload", [])
    assert any("refused" in notice for notice in reload.notices), reload
    assert not marker.exists()
    assert not guarded_app.outputs.exists() or not any(guarded_app.outputs.iterdir())
    # the trap is live: the same kind of file, loaded the unsafe way, runs its command
    control = tmp_path / "control_marker"
    torch.load(save_trap(tmp_path / "trap.pth", control), weights_only=False)
    assert control.exists()


# ---- last: nothing left the machine (this file runs after test_webui_files.py, which shares the recorder) 


def test_nothing_left_the_machine(guarded_app, trapped_app, recorder):
    """Both apps ran with their web proxy pointed at the recorder: analytics, update checks, tunnels and
    any server-side fetch would have landed there. The tests above also named it as an internal address."""
    assert recorder.requests == []
