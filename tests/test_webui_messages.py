"""What users see (``webui.messages``): no server paths or errno codes in messages, a short 4xx (not a
traceback) for malformed calls, and file names shown as text."""
from __future__ import annotations

import time
import zipfile

import httpx
import pytest
from gradio_client import Client, handle_file
from page_events import TIMEOUT_S, follow, join, page_config, page_event, page_inputs
from small_disk import tmpfs
from web_calls import (
    file_data,
    fill,
    says_the_disk_is_full,
    shows_no_server_detail,
    start,
    upload,
    uploads_folder,
    write_photo,
)

# ---- what users see ------------------------------------------------------------------------------


def test_a_file_that_is_not_an_image_is_explained_without_server_paths(limited_app):
    [stored] = upload(limited_app, [("empty.jpg", b"")]).json()
    config = page_config(limited_app)
    data = page_inputs(config, "page_enhance")
    data[0] = file_data(stored)
    outcome = follow(limited_app, join(limited_app, config, "page_enhance", data))
    assert not outcome.success and "cannot be used" in outcome.error and "empty.jpg" in outcome.error
    assert "preprocess" not in outcome.error and str(uploads_folder(limited_app)) not in outcome.error
    assert shows_no_server_detail(outcome.error), outcome.error
    event = httpx.post(limited_app.url + "gradio_api/call/enhance", timeout=TIMEOUT_S,
                       json={"data": [file_data(stored), 100, "natural", "all", 0, False, None, None]}
                       ).json()["event_id"]
    answer = httpx.get(f"{limited_app.url}gradio_api/call/enhance/{event}", timeout=TIMEOUT_S).text
    assert "cannot be used" in answer and str(uploads_folder(limited_app)) not in answer


MALFORMED = {
    "unknown event number": (b'{"data": [], "fn_index": 99999, "session_hash": "abc"}', 404),
    "JSON 100000 deep": (b"[" * 100_000 + b"]" * 100_000, 400),
    "JSON 500 deep": (b'{"data": ' + b"[" * 500 + b"]" * 500 + b', "fn_index": 0, "session_hash": "abc"}', 400),
}


@pytest.mark.parametrize("route", ["/gradio_api/queue/join", "/gradio_api/run/page_load"])
@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_calls_get_a_short_4xx_not_a_traceback(limited_app, case, route):
    body, status = MALFORMED[case]
    tracebacks = limited_app.log().count("Traceback")
    response = httpx.post(limited_app.url + route.lstrip("/"), content=body, timeout=TIMEOUT_S,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert len(response.text) < 300 and "Traceback" not in response.text
    time.sleep(0.2)
    assert limited_app.log().count("Traceback") == tracebacks


def test_file_names_are_shown_as_text_not_markup(limited_app, tmp_path):
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr('<img src="x" onerror="alert(1)">.jpg', b"not a photo")
        writer.writestr("<details open>.jpg", b"not a photo either")
    [stored] = upload(limited_app, [("names.zip", archive.read_bytes())]).json()
    outcome = page_event(limited_app, "page_enhance_batch", {0: [file_data(stored)]})
    assert outcome.success, outcome.error
    [warning] = [notice for notice in outcome.notices if "failed" in notice]
    assert "&lt;img" in warning and "&lt;details" in warning
    assert "<img" not in warning and "<details" not in warning


def test_a_full_disk_during_a_job_is_told_without_server_paths(tmp_path):
    with tmpfs(tmp_path / "outputs", "2m") as outputs, tmpfs(tmp_path / "requests", "4m") as requests:
        fill(outputs)
        app = start(tmp_path / "app", env={"GPEN_OUTPUTS_DIR": str(outputs), "TMPDIR": str(requests)})
        try:
            photo = write_photo(tmp_path / "photo.jpg", (160, 120))
            client = Client(app.url, verbose=False)
            results, report = client.predict([handle_file(str(photo))], api_name="/enhance_batch")
            print(f"FIGURE a batch on a full disk: {report}")
            assert [row["status"] for row in report] == ["failed"]
            assert says_the_disk_is_full(report[0]["error"])
            assert shows_no_server_detail(report[0]["error"], outputs, requests), report
            fill(requests)
            with pytest.raises(Exception) as raised:
                client.predict(handle_file(str(photo)), api_name="/enhance")
            message = str(raised.value)
            print(f"FIGURE a single photo on a full disk: {message}")
            assert says_the_disk_is_full(message), message
            assert shows_no_server_detail(message, outputs, requests), message
        finally:
            app.stop()
