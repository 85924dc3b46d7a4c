"""Attacks on the running app over HTTP, as a stranger who can reach it (or another web site open in the
same browser) would try them: files outside the app's own areas, other people's results, oversized
uploads and batches, out-of-range values, the page's own events called by name, cross-origin requests,
and a booby-trapped model file. Each is refused before anything is done, and nothing leaves the machine.

Covered elsewhere, not repeated here (``test_app.py``): the model file, the settings file and outputs by
their plain absolute path on ``/gradio_api/file=`` and ``/file=``; a ZIP member named ``../../escape.jpg``;
that ``/gradio_api/info`` lists only ``/enhance`` and ``/enhance_batch``; analytics off in ``/config``.
"""
from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import os
import secrets
import threading
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, unquote, urlsplit

import gradio
import httpx
import pytest
import tiny_models
import torch
from app_process import REPO, AppProcess, start_app
from gradio_client import Client, handle_file
from page_events import PageOutcome, follow
from photos import PHOTOS
from PIL import Image

MAX_FILE_BYTES = 1024 ** 2          # the apps below run with --max-file-size 1mb
MAX_BATCH_FILES = 3                 # ... and --max-batch-files 3
TIMEOUT_S = 60
# Set in the app's environment: each would open the app further if Gradio were left to read it.
OPENING_ENVIRONMENT = {"GRADIO_ANALYTICS_ENABLED": "True", "GRADIO_VIBE_MODE": "1", "GRADIO_MCP_SERVER": "True",
                       "GRADIO_RUN_HISTORY": "True", "GRADIO_SSR_MODE": "True", "GRADIO_SHARE": "True",
                       "GRADIO_LOCAL_DEV_MODE": "1"}
PAGE_EVENTS = ("page_enhance", "page_enhance_batch", "page_apply", "page_reload", "page_download", "page_load")


# ---- a recorder for requests that must never be made ----------------------------------------------------

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


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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


@pytest.fixture(scope="module")
def app(tmp_path_factory, recorder) -> Iterator[AppProcess]:
    folder = tmp_path_factory.mktemp("guarded_app")
    models = folder / "models"
    tiny_models.make_tiny_models(models)
    settings = {"device": "cpu", "precision": "auto", "batch_size": 4, "model": "GPEN-BFR-512",
                "output_format": "png", "quality": 95, "max_pixels": 100_000_000}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    running = start_guarded_app(folder, models, recorder, "--max-file-size", "1mb",
                                "--max-batch-files", str(MAX_BATCH_FILES))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(app) -> Client:
    return Client(app.url, verbose=False)


# ---- helpers ------------------------------------------------------------------------------------------

def uploads_folder(app: AppProcess) -> Path:
    return app.log_file.parent / "gradio"


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


def write_photo(path: Path, size: tuple[int, int] = (96, 72)) -> Path:
    """A small real photo (the test portrait, scaled) as JPEG."""
    with Image.open(PHOTOS / "portrait_small.jpg") as source:
        source.convert("RGB").resize(size).save(path, quality=90)
    return path


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
    """The positional arguments of ``/enhance`` or ``/enhance_batch`` with defaults, for one file."""
    return [upload if endpoint == "enhance" else [upload], 100, "natural", "all", 0, False, None]


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


@pytest.fixture(scope="module")
def secret_files(app, client, tmp_path_factory) -> dict[str, Path]:
    """Files the app holds that no request may read: its own and the system's, and results kept by path."""
    photo = write_photo(tmp_path_factory.mktemp("secret") / "kept.jpg")
    client.predict([handle_file(str(photo))], api_name="/enhance_batch")
    return {
        "system file": Path("/etc/passwd"),
        "process environment": Path("/proc/self/environ"),
        "model file": app.models / "GPEN-BFR-512.pth",
        "settings file": app.settings_file,
        "batch result in outputs": next(app.outputs.rglob("*.png")),
        "result in a request folder": next(path for folder in request_folders(app) for path in folder.rglob("*.png")),
        "gradio's hash seed": Path(gradio.__file__).parent / "hash_seed.txt",
        "app source": REPO / "app.py",
    }


# ---- files outside the app's own areas -------------------------------------------------------------------

URL_FORMS = {
    "absolute": lambda path, uploads: f"/gradio_api/file={path}",
    "percent-encoded": lambda path, uploads: f"/gradio_api/file={quote(str(path), safe='')}",
    "dot-dots from the upload folder":
        lambda path, uploads: f"/gradio_api/file={uploads}{'/..' * len(uploads.parts)}{path}",
    "encoded dot-dots": lambda path, uploads: f"/gradio_api/file={uploads}{'%2F%2E%2E' * len(uploads.parts)}"
                                              f"{quote(str(path), safe='')}",
    "relative to the app folder": lambda path, uploads: f"/gradio_api/file={os.path.relpath(path, REPO)}",
    "legacy route": lambda path, uploads: f"/gradio_api/file/{path}",
}
SECRET_NAMES = ("system file", "process environment", "model file", "settings file", "batch result in outputs",
                "result in a request folder", "gradio's hash seed", "app source")


@pytest.mark.parametrize("form", URL_FORMS)
@pytest.mark.parametrize("secret", SECRET_NAMES)
def test_file_routes_serve_nothing_outside_the_upload_folder(app, secret_files, secret, form):
    path = secret_files[secret]
    assert path.exists(), path
    status, body = get_raw(app, URL_FORMS[form](path, uploads_folder(app)))
    assert status in (403, 404), (secret, form, status)
    assert len(body) < 1000


def test_folders_are_never_listed(app, client, tmp_path):
    result, _ = Client(app.url, verbose=False, download_files=False).predict(
        handle_file(str(write_photo(tmp_path / "listed.jpg"))), api_name="/enhance")
    result_path = Path(unquote(urlsplit(result["url"]).path.split("file=", 1)[1]))
    for folder in (result_path.parent, uploads_folder(app), app.outputs, app.models, request_folders(app)[0]):
        for target in (f"/gradio_api/file={folder}", f"/gradio_api/file={folder}/"):
            assert get_raw(app, target)[0] in (403, 404), target


def escaped_files(app: AppProcess, token: str) -> list[Path]:
    """Files whose name holds ``token`` anywhere in the tests' temporary folders or in /tmp, outside the
    app's own areas (uploads, request folders, outputs)."""
    own = (uploads_folder(app), app.log_file.parent / "tmp", app.outputs)
    places = [*app.log_file.parent.parent.rglob(f"*{token}*"), *Path("/tmp").glob(f"*{token}*")]
    return [path for path in places if not any(path.is_relative_to(area) for area in own)]


@pytest.mark.parametrize("name", ["../../{token}.jpg", "/tmp/{token}.jpg", "..", "sub/../../{token}.jpg",
                                  "..\\..\\{token}.jpg", "%2e%2e%2f{token}.jpg", "../"])
def test_upload_names_cannot_place_files_outside_the_upload_folder(app, name):
    token = f"escape-{secrets.token_hex(4)}"
    response = upload_raw(app, name.format(token=token), (PHOTOS / "lowres_portrait2.jpg").read_bytes())
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        [stored] = response.json()
        assert Path(stored).resolve().parent.parent == uploads_folder(app).resolve()
        assert Path(stored).name not in ("", ".", "..")
    assert escaped_files(app, token) == []


def test_a_client_file_named_with_dot_dots_stays_in_the_upload_folder(app, client, tmp_path):
    token = f"escape-{secrets.token_hex(4)}"
    photo = write_photo(tmp_path / f"..\\..\\{token}.jpg")
    result, info = client.predict(handle_file(str(photo)), api_name="/enhance")
    assert Path(result).is_file() and "/" not in info["file"]
    assert [path for path in escaped_files(app, token) if path != photo] == []


@pytest.mark.parametrize("endpoint", ["enhance", "enhance_batch"])
@pytest.mark.parametrize("secret", ["system file", "model file", "settings file", "batch result in outputs",
                                    "result in a request folder", "app source"])
def test_api_calls_cannot_name_a_server_file_as_their_input(app, secret_files, endpoint, secret):
    before = traces(app)
    response = httpx.post(f"{app.url}gradio_api/call/{endpoint}", timeout=TIMEOUT_S,
                          json={"data": api_arguments(endpoint, file_data(str(secret_files[secret])))})
    assert response.status_code == 400 and "must be uploaded to this app first" in response.text
    assert str(secret_files[secret].parent) not in response.text      # Gradio's own refusal names folders
    assert traces(app) == before


@pytest.mark.parametrize("endpoint", ["enhance", "enhance_batch"])
@pytest.mark.parametrize("address", ["{recorder}/internal.jpg", "HTTPS://localhost:1/internal.jpg",
                                     " http://10.0.0.1/internal.jpg"])
def test_api_calls_cannot_make_the_server_fetch_an_address(app, recorder, endpoint, address):
    """Gradio would download it (and ask Google's DNS about names that resolve to private addresses)."""
    address = address.format(recorder=recorder.url)
    before = traces(app)
    response = httpx.post(f"{app.url}gradio_api/call/{endpoint}", timeout=TIMEOUT_S,
                          json={"data": api_arguments(endpoint, file_data(address))})
    assert response.status_code == 400 and "does not download files" in response.text
    for route in ("/gradio_api/file=", "/gradio_api/file/"):
        assert get_raw(app, route + quote(address, safe=":/"))[0] == 403
    assert recorder.requests == []
    assert traces(app) == before


def test_an_original_name_with_dot_dots_names_nothing_outside(app, tmp_path):
    token = f"escape-{secrets.token_hex(4)}"
    [stored] = upload_raw(app, "plain.jpg", write_photo(tmp_path / "plain.jpg").read_bytes()).json()
    event, data = call_raw(app, "enhance", api_arguments("enhance", file_data(stored, orig_name=f"../../{token}.jpg")))
    assert event == "complete", data
    assert "/" not in data[1]["file"]
    assert escaped_files(app, token) == []


# ---- other sessions' results -------------------------------------------------------------------------------

def test_a_result_url_cannot_be_guessed_from_a_neighbour(app, tmp_path):
    first = Client(app.url, verbose=False, download_files=False)
    result, info = first.predict(handle_file(str(write_photo(tmp_path / "mine.jpg", (88, 66)))), api_name="/enhance")
    served = Path(unquote(urlsplit(result["url"]).path.split("file=", 1)[1]))
    content = httpx.get(result["url"], timeout=TIMEOUT_S).content
    assert served.name == info["file"] == "mine_restored.png" and len(content) > 0
    # the folder name is 256 bits, keyed with a secret seed: not derivable from the content alone
    folder = served.parent.name
    assert len(folder) == 64 and set(folder) <= set("0123456789abcdef")
    assert folder != hashlib.sha256(content).hexdigest()
    assert served.parent.parent == uploads_folder(app)
    # another client guessing: change one character anywhere, and nothing is there
    flipped = "0" if folder[-1] != "0" else "1"
    neighbours = [served.parent.with_name(folder[:-1] + flipped) / served.name,
                  served.parent.with_name(("f" if folder[0] != "f" else "e") + folder[1:]) / served.name,
                  served.with_name("nine_restored.png"), served.with_name("mine_restored.jpg"), served.parent]
    for neighbour in neighbours:
        assert get_raw(app, f"/gradio_api/file={neighbour}")[0] in (403, 404), neighbour
    # nor can another client read someone's job by guessing its event id or session
    event_id = httpx.post(f"{app.url}gradio_api/call/enhance", timeout=TIMEOUT_S, json={
        "data": api_arguments("enhance", file_data(str(served)))}).json()["event_id"]
    guessed = event_id[:-1] + ("0" if event_id[-1] != "0" else "1")
    answer = read_stream(f"{app.url}gradio_api/call/enhance/{guessed}")
    assert "file=" not in answer and "404" in answer
    answer = read_stream(f"{app.url}gradio_api/queue/data?session_hash={secrets.token_hex(6)}")
    assert "session_not_found" in answer and "file=" not in answer
    assert "file=" in read_stream(f"{app.url}gradio_api/call/enhance/{event_id}")    # the owner's answer


# ---- size and count limits ---------------------------------------------------------------------------------

def oversized_uploads(app: AppProcess) -> list[Path]:
    return [path for path in uploads_folder(app).rglob("*") if path.is_file() and path.stat().st_size > MAX_FILE_BYTES]


def oversized(path: Path) -> Path:
    path.write_bytes(os.urandom(2 * MAX_FILE_BYTES))
    return path


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_an_oversized_upload_is_refused_and_nothing_is_kept(app, transfer):
    name = f"big-{secrets.token_hex(4)}.png"
    boundary = secrets.token_hex(8)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    payload = os.urandom(2 * MAX_FILE_BYTES)

    def chunks() -> Iterator[bytes]:   # no Content-Length: the size is only known by reading
        yield head
        for start in range(0, len(payload), 65536):
            yield payload[start:start + 65536]
        yield tail

    before = traces(app)
    response = httpx.post(app.url + "gradio_api/upload", timeout=TIMEOUT_S,
                          content=head + payload + tail if transfer == "content-length" else chunks(),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert f"maximum allowed size of {MAX_FILE_BYTES} bytes" in response.text
    assert list(uploads_folder(app).rglob(name)) == []
    assert not oversized_uploads(app)
    assert traces(app) == before


@pytest.mark.parametrize("endpoint", ["/enhance", "/enhance_batch"])
def test_gradio_client_uploads_over_the_limit_are_refused(app, tmp_path, endpoint):
    big = oversized(tmp_path / "big.jpg")
    argument = handle_file(str(big)) if endpoint == "/enhance" else [handle_file(str(big))]
    before = traces(app)
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_FILE_BYTES} bytes"):
        Client(app.url, verbose=False).predict(argument, api_name=endpoint)
    careless = Client(app.url, verbose=False)          # a client that skips its own check meets the server's
    careless.config["max_file_size"] = None
    with pytest.raises(Exception, match="413 Request Entity Too Large"):
        careless.predict(argument, api_name=endpoint)
    assert traces(app) == before
    assert not oversized_uploads(app)


def zip_of(path: Path, photos: list[Path]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for number, photo in enumerate(photos):
            archive.write(photo, f"folder/{number}.jpg")
    return path


@pytest.mark.parametrize("packing", ["files", "one zip", "two zips", "files and a zip"])
def test_a_batch_over_the_file_limit_is_refused_before_processing(app, client, tmp_path, packing):
    photos = [write_photo(tmp_path / f"{number}.jpg", (64, 48)) for number in range(MAX_BATCH_FILES + 1)]
    uploads = {"files": photos,
               "one zip": [zip_of(tmp_path / "all.zip", photos)],
               "two zips": [zip_of(tmp_path / "a.zip", photos[:2]), zip_of(tmp_path / "b.zip", photos[2:])],
               "files and a zip": [*photos[:2], zip_of(tmp_path / "rest.zip", photos[2:])]}[packing]
    before, builds = traces(app), engine_builds(app)
    with pytest.raises(Exception, match=f"holds {MAX_BATCH_FILES + 1} photos, more than the {MAX_BATCH_FILES}") \
            as raised:
        client.predict([handle_file(str(path)) for path in uploads], api_name="/enhance_batch")
    assert "Traceback" not in str(raised.value)
    assert traces(app) == before and engine_builds(app) == builds


def test_a_batch_at_the_file_limit_runs(app, client, tmp_path):
    photos = [write_photo(tmp_path / f"{number}.jpg", (64, 48)) for number in range(MAX_BATCH_FILES)]
    results, report = client.predict([handle_file(str(path)) for path in photos], api_name="/enhance_batch")
    assert [row["status"] for row in report] == ["ok"] * MAX_BATCH_FILES and len(results) == MAX_BATCH_FILES


# ---- out-of-range values -----------------------------------------------------------------------------------

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
def test_out_of_range_values_are_refused_and_nothing_is_allocated(app, client, tmp_path, endpoint, case):
    arguments, message = BAD_VALUES[case]
    photo = handle_file(str(write_photo(tmp_path / "photo.jpg")))
    before, builds = traces(app), engine_builds(app)
    with pytest.raises(Exception) as raised:
        client.predict(photo if endpoint == "/enhance" else [photo], **arguments, api_name=endpoint)
    assert message in str(raised.value) and "Traceback" not in str(raised.value)
    assert len(str(raised.value)) < 2000
    assert traces(app) == before and engine_builds(app) == builds


@pytest.mark.parametrize("name", PAGE_EVENTS)
def test_the_page_events_cannot_be_called_by_name(app, client, name):
    with pytest.raises(ValueError, match="Cannot find a function"):
        client.predict(api_name=f"/{name}")
    # the page runs page_load outside the queue, at /gradio_api/run/page_load; queued events are refused there
    routes = ("call", "call/v2") if name == "page_load" else ("call", "call/v2", "run", "api")
    for route in routes:
        response = httpx.post(f"{app.url}gradio_api/{route}/{name}", json={"data": []}, timeout=TIMEOUT_S)
        assert response.status_code == 404, (route, response.status_code, response.text)


# device, precision, batch size, model, detector, format, quality, strip metadata, largest input in megapixels
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
def test_the_settings_event_refuses_out_of_range_values_without_rebuilding(app, case):
    index, value, message = BAD_SETTINGS[case]
    saved, builds = app.settings_file.read_bytes(), engine_builds(app)
    values = list(SETTINGS)
    values[index] = value
    outcome = page_event(app, "page_apply", values)
    assert not outcome.success and message in outcome.error, outcome
    assert app.settings_file.read_bytes() == saved and engine_builds(app) == builds


def test_the_settings_event_cannot_load_an_uploaded_checkpoint(app, tmp_path):
    checkpoint = tmp_path / "mine.pth"
    torch.save(tiny_models.tiny_gpen_state_dict(seed=1), checkpoint)
    [stored] = upload_raw(app, "mine.pth", checkpoint.read_bytes()).json()
    saved, builds = app.settings_file.read_bytes(), engine_builds(app)
    values = list(SETTINGS)
    values[3] = stored
    outcome = page_event(app, "page_apply", values)
    assert not outcome.success and "not in the list of choices" in outcome.error
    assert app.settings_file.read_bytes() == saved and engine_builds(app) == builds
    assert f"model file {stored}" not in app.log()


# ---- other web sites ---------------------------------------------------------------------------------------

def foreign_request(app: AppProcess, route: str, origin: str, stored_name: str) -> httpx.Response:
    headers = {"Origin": origin}
    if route == "upload":
        return upload_raw(app, stored_name, b"not really a photo", headers)
    if route == "call enhance":
        return httpx.post(f"{app.url}gradio_api/call/enhance", headers=headers, timeout=TIMEOUT_S,
                          json={"data": api_arguments("enhance", file_data("/etc/passwd"))})
    if route == "queue join":
        return httpx.post(f"{app.url}gradio_api/queue/join", headers=headers, timeout=TIMEOUT_S,
                          json={"data": SETTINGS, "fn_index": page_dependency(app, "page_apply")["id"],
                                "session_hash": "cross"})
    path = {"config": "config", "info": "gradio_api/info", "uploaded file": "gradio_api/file=" + stored_name}[route]
    return httpx.get(app.url + path, headers=headers, timeout=TIMEOUT_S)


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1.evil.example"])
@pytest.mark.parametrize("route", ["config", "info", "uploaded file", "upload", "call enhance", "queue join"])
def test_requests_from_another_web_site_are_refused(app, tmp_path, route, origin):
    name = f"cross-{secrets.token_hex(4)}.jpg"
    [mine] = upload_raw(app, "own.jpg", write_photo(tmp_path / "own.jpg").read_bytes()).json()
    before, builds = traces(app), engine_builds(app)
    response = foreign_request(app, route, origin, mine if route == "uploaded file" else name)
    assert response.status_code == 403, (route, response.status_code, response.text[:200])
    assert response.headers.get("access-control-allow-origin") != origin
    assert "not allowed" in response.text
    assert list(uploads_folder(app).rglob(name)) == []
    assert traces(app) == before and engine_builds(app) == builds


def test_a_preflight_from_another_web_site_is_not_granted(app):
    response = httpx.options(app.url + "gradio_api/upload", timeout=TIMEOUT_S, headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_page_own_origin_is_served(app, tmp_path, host):
    origin = f"http://{host}:{app.port}"
    response = upload_raw(app, "own.jpg", write_photo(tmp_path / "own.jpg").read_bytes(),
                          {"Origin": origin, "Host": f"{host}:{app.port}"})
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


def test_a_rebound_domain_name_is_refused(app):
    """DNS rebinding: evil.example made to resolve to 127.0.0.1 is "same origin" with itself."""
    host = f"evil.example:{app.port}"
    for path in ("config", "gradio_api/info"):
        response = httpx.get(app.url + path, headers={"Host": host, "Origin": f"http://{host}"}, timeout=TIMEOUT_S)
        assert response.status_code == 403 and "answers only at localhost" in response.text
        assert "dependencies" not in response.text and "named_endpoints" not in response.text


# ---- monitoring, analytics, run history, and what leaves the machine -----------------------------------

def test_monitoring_run_history_and_code_editing_are_off_whatever_the_environment(app):
    assert get_raw(app, "/monitoring")[0] == 403
    assert get_raw(app, "/monitoring/summary")[0] == 403
    assert get_raw(app, f"/monitoring/{secrets.token_urlsafe(16)}")[0] == 403
    for path in ("/gradio_api/runs", "/gradio_api/run-history/records", "/gradio_api/mcp/sse", "/gradio_api/mcp/"):
        assert get_raw(app, path)[0] == 404, path
    assert get_raw(app, "/gradio_api/vibe-code")[0] == 403
    config = httpx.get(app.url + "config", timeout=TIMEOUT_S).json()
    assert (config["analytics_enabled"], config["run_history"], config["vibe_mode"], config["mcp_server"]) == (
        False, False, False, False)
    assert not config.get("ssr_mode") and not config.get("share_url")
    assert "gradio.live" not in app.log()


# ---- a booby-trapped model file ----------------------------------------------------------------------------

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
    app, marker = trapped_app
    assert "refused: it holds Python objects other than tensors" in app.log()
    status = page_event(app, "page_load", [])
    shown = json.dumps(status.data, ensure_ascii=False)
    assert status.success and "nothing yet" in shown and "was refused" in shown and "not ready" in shown
    with pytest.raises(Exception) as raised:
        Client(app.url, verbose=False).predict(handle_file(str(write_photo(tmp_path / "photo.jpg"))),
                                               api_name="/enhance")
    message = str(raised.value)
    assert "GPEN-BFR-512.pth" in message and "refused" in message and "could run code" in message
    assert "Traceback" not in message
    reload = page_event(app, "page_reload", [])
    assert any("refused" in notice for notice in reload.notices), reload
    assert not marker.exists()
    assert not app.outputs.exists() or not any(app.outputs.iterdir())
    # the trap is live: the same kind of file, loaded the unsafe way, runs its command
    control = tmp_path / "control_marker"
    torch.load(save_trap(tmp_path / "trap.pth", control), weights_only=False)
    assert control.exists()


def test_nothing_left_the_machine(app, trapped_app, recorder):
    """Both apps ran with their web proxy pointed at the recorder: analytics, update checks, tunnels and
    any server-side fetch would have landed there. The tests above also named it as an internal address."""
    assert recorder.requests == []
