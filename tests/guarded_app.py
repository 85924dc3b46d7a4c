"""The guarded app the web security tests attack: it runs with every ``GRADIO_*`` variable that would open
it further set, and its web proxy is a recorder, so any request it makes to the internet is caught. Raw
HTTP helpers for the attacks: files by exact path, uploads under any name, calls by name or by number."""
from __future__ import annotations

import http.client
import http.server
import json
import os
import secrets
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import web_calls
from app_process import AppProcess, start_app
from page_events import PageOutcome, follow

MAX_FILE_BYTES = 1024 ** 2          # the apps below run with --max-file-size 1mb


MAX_BATCH_FILES = 3                 # ... and --max-batch-files 3


TIMEOUT_S = 60


OPENING_ENVIRONMENT = {"GRADIO_ANALYTICS_ENABLED": "True", "GRADIO_VIBE_MODE": "1", "GRADIO_MCP_SERVER": "True",
                       "GRADIO_RUN_HISTORY": "True", "GRADIO_SSR_MODE": "True", "GRADIO_SHARE": "True",
                       "GRADIO_LOCAL_DEV_MODE": "1"}


class Recorder(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that records every request it gets. The apps use it as their web proxy
    (so any request to the internet lands here) and the tests name it as an "internal" address."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _RecordingHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    def _record(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        self.send_error(403)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_OPTIONS = do_CONNECT = do_PATCH = _record

    def log_message(self, *args: Any) -> None:
        pass


def start_guarded_app(folder: Path, models: Path, recorder: Recorder, *args: str) -> AppProcess:
    """``start_app`` with the app's web proxy set to the recorder, its temporary folder inside ``folder``
    (so the request folders can be found) and ``OPENING_ENVIRONMENT`` set."""
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    # urllib builds its shared opener, with the proxies of the environment, on first use: build it now, so
    # that start_app's polling inside the block below does not keep the recorder as this process's proxy
    urllib.request.install_opener(urllib.request.build_opener())
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            patch.setenv(name, recorder.url)
        patch.setenv("NO_PROXY", "127.0.0.1,localhost")
        patch.setenv("no_proxy", "127.0.0.1,localhost")
        patch.setenv("TMPDIR", str(folder / "tmp"))
        for name, value in OPENING_ENVIRONMENT.items():
            patch.setenv(name, value)
        return start_app(folder, models, *args)


def request_folders(app: AppProcess) -> list[Path]:
    """The app's per-request result folders (under its temporary folder)."""
    return [path for root in (app.log_file.parent / "tmp").glob("gpen-webui-*") for path in root.iterdir()]


def traces(app: AppProcess) -> set[Path]:
    """Everything a request could leave behind once it gets past validation: result folders under
    outputs and request folders with their files."""
    found = set(app.outputs.rglob("*")) if app.outputs.exists() else set()
    for folder in request_folders(app):
        found |= {folder, *folder.rglob("*")}
    return found


def engine_builds(app: AppProcess) -> int:
    return app.log().count("engine swapped")


def get_raw(app: AppProcess, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no client normalises its dots or decodes its escapes)."""
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=TIMEOUT_S)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def read_stream(url: str) -> str:
    """The text of a server-sent event stream (Gradio ends an error stream without closing it properly)."""
    text = ""
    try:
        with httpx.stream("GET", url, timeout=TIMEOUT_S) as stream:
            for chunk in stream.iter_text():
                text += chunk
    except httpx.RemoteProtocolError:
        pass
    return text


def upload_raw(app: AppProcess, name: str, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST one file to Gradio's upload route under the file name ``name``, as any HTTP client can."""
    boundary = secrets.token_hex(8)
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return httpx.post(app.url + "gradio_api/upload", content=body, timeout=TIMEOUT_S,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})})


def file_data(path: str, **fields: Any) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, **fields}


def call_raw(app: AppProcess, endpoint: str, data: list[Any]) -> tuple[str, Any]:
    """Call a public endpoint through Gradio's plain HTTP API; returns (event, data): ``complete`` or ``error``."""
    response = httpx.post(f"{app.url}gradio_api/call/{endpoint}", json={"data": data}, timeout=TIMEOUT_S)
    response.raise_for_status()
    event_id = response.json()["event_id"]
    result = read_stream(f"{app.url}gradio_api/call/{endpoint}/{event_id}")
    events = [line.removeprefix("event: ") for line in result.splitlines() if line.startswith("event: ")]
    payloads = [line.removeprefix("data: ") for line in result.splitlines() if line.startswith("data: ")]
    return events[-1], json.loads(payloads[-1])


def api_arguments(endpoint: str, upload: dict[str, Any]) -> list[Any]:
    """The positional arguments of ``/enhance`` (with ``face_indices``) or ``/enhance_batch`` with defaults, for
    one file."""
    if endpoint == "enhance":
        return [upload, 100, "natural", "all", 0, False, None, None]
    return [[upload], 100, "natural", "all", 0, False, None]


def page_dependency(app: AppProcess, api_name: str) -> dict[str, Any]:
    """The page's description of one of its events (its number, what triggers it)."""
    config = httpx.get(app.url + "config", timeout=TIMEOUT_S).json()
    return next(item for item in config["dependencies"] if item["api_name"] == api_name)


def page_event(app: AppProcess, api_name: str, data: list[Any]) -> PageOutcome:
    """Run one of the page's own events the way the browser does: by number, through the queue."""
    dependency = page_dependency(app, api_name)
    session = secrets.token_hex(8)
    joined = httpx.post(app.url + "gradio_api/queue/join", timeout=TIMEOUT_S,
                        json={"data": data, "fn_index": dependency["id"], "session_hash": session,
                              "event_data": None, "trigger_id": dependency["targets"][0][0]})
    joined.raise_for_status()
    return follow(app, session, TIMEOUT_S)


def zip_of(path: Path, photos: list[Path]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for number, photo in enumerate(photos):
            archive.write(photo, f"folder/{number}.jpg")
    return path


def oversized(path: Path) -> Path:
    path.write_bytes(os.urandom(2 * MAX_FILE_BYTES))
    return path


def write_photo(path: Path, size: tuple[int, int] = (96, 72)) -> Path:
    """A small real photo (the test portrait, scaled) as JPEG."""
    return web_calls.write_photo(path, size)
