"""Files over the guarded app's HTTP routes: nothing outside the app's own areas can be read, listed or
written, other people's results cannot be guessed, and oversized uploads and batches over the file limit are
refused before anything is kept or processed."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Iterator
from urllib.parse import quote, unquote, urlsplit

import gradio
import httpx
import pytest
from app_process import REPO, AppProcess
from gradio_client import Client, handle_file
from guarded_app import (
    MAX_BATCH_FILES,
    MAX_FILE_BYTES,
    TIMEOUT_S,
    api_arguments,
    call_raw,
    engine_builds,
    file_data,
    get_raw,
    oversized,
    read_stream,
    request_folders,
    traces,
    upload_raw,
    write_photo,
    zip_of,
)
from photos import PHOTOS
from web_calls import uploads_folder


@pytest.fixture(scope="module")
def secret_files(guarded_app, guarded_client, tmp_path_factory) -> dict[str, Path]:
    """Files the app holds that no request may read: its own and the system's, and results kept by path."""
    photo = write_photo(tmp_path_factory.mktemp("secret") / "kept.jpg")
    guarded_client.predict([handle_file(str(photo))], api_name="/enhance_batch")
    return {
        "system file": Path("/etc/passwd"),
        "process environment": Path("/proc/self/environ"),
        "model file": guarded_app.models / "GPEN-BFR-512.pth",
        "settings file": guarded_app.settings_file,
        "batch result in outputs": next(guarded_app.outputs.rglob("*.png")),
        "result in a request folder": next(path for folder in request_folders(guarded_app)
                                           for path in folder.rglob("*.png")),
        "gradio's hash seed": Path(gradio.__file__).parent / "hash_seed.txt",
        "app source": REPO / "app.py",
    }


# ---- files outside the app's own areas -----------------------------------------------------------


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
def test_file_routes_serve_nothing_outside_the_upload_folder(guarded_app, secret_files, secret, form):
    path = secret_files[secret]
    assert path.exists(), path
    status, body = get_raw(guarded_app, URL_FORMS[form](path, uploads_folder(guarded_app)))
    assert status in (403, 404), (secret, form, status)
    assert len(body) < 1000


def test_folders_are_never_listed(guarded_app, guarded_client, tmp_path):
    result, _ = Client(guarded_app.url, verbose=False, download_files=False).predict(
        handle_file(str(write_photo(tmp_path / "listed.jpg"))), api_name="/enhance")
    result_path = Path(unquote(urlsplit(result["url"]).path.split("file=", 1)[1]))
    for folder in (result_path.parent, uploads_folder(guarded_app), guarded_app.outputs, guarded_app.models,
                   request_folders(guarded_app)[0]):
        for target in (f"/gradio_api/file={folder}", f"/gradio_api/file={folder}/"):
            assert get_raw(guarded_app, target)[0] in (403, 404), target


def escaped_files(guarded_app: AppProcess, token: str) -> list[Path]:
    """Files whose name holds ``token`` anywhere in the tests' temporary folders or in /tmp, outside the
    app's own areas (uploads, request folders, outputs)."""
    own = (uploads_folder(guarded_app), guarded_app.log_file.parent / "tmp", guarded_app.outputs)
    places = [*guarded_app.log_file.parent.parent.rglob(f"*{token}*"), *Path("/tmp").glob(f"*{token}*")]
    return [path for path in places if not any(path.is_relative_to(area) for area in own)]


@pytest.mark.parametrize("name", ["../../{token}.jpg", "/tmp/{token}.jpg", "..", "sub/../../{token}.jpg",
                                  "..\\..\\{token}.jpg", "%2e%2e%2f{token}.jpg", "../"])
def test_upload_names_cannot_place_files_outside_the_upload_folder(guarded_app, name):
    token = f"escape-{secrets.token_hex(4)}"
    response = upload_raw(guarded_app, name.format(token=token), (PHOTOS / "lowres_portrait2.jpg").read_bytes())
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        [stored] = response.json()
        assert Path(stored).resolve().parent.parent == uploads_folder(guarded_app).resolve()
        assert Path(stored).name not in ("", ".", "..")
    assert escaped_files(guarded_app, token) == []


def test_a_client_file_named_with_dot_dots_stays_in_the_upload_folder(guarded_app, guarded_client, tmp_path):
    token = f"escape-{secrets.token_hex(4)}"
    photo = write_photo(tmp_path / f"..\\..\\{token}.jpg")
    result, info = guarded_client.predict(handle_file(str(photo)), api_name="/enhance")
    assert Path(result).is_file() and "/" not in info["file"]
    assert [path for path in escaped_files(guarded_app, token) if path != photo] == []


@pytest.mark.parametrize("endpoint", ["enhance", "enhance_batch"])
@pytest.mark.parametrize("secret", ["system file", "model file", "settings file", "batch result in outputs",
                                    "result in a request folder", "app source"])
def test_api_calls_cannot_name_a_server_file_as_their_input(guarded_app, secret_files, endpoint, secret):
    before = traces(guarded_app)
    response = httpx.post(f"{guarded_app.url}gradio_api/call/{endpoint}", timeout=TIMEOUT_S,
                          json={"data": api_arguments(endpoint, file_data(str(secret_files[secret])))})
    assert response.status_code == 400 and "must be uploaded to this app first" in response.text
    assert str(secret_files[secret].parent) not in response.text      # Gradio's own refusal names folders
    assert traces(guarded_app) == before


@pytest.mark.parametrize("endpoint", ["enhance", "enhance_batch"])
@pytest.mark.parametrize("address", ["{recorder}/internal.jpg", "HTTPS://localhost:1/internal.jpg",
                                     " http://10.0.0.1/internal.jpg"])
def test_api_calls_cannot_make_the_server_fetch_an_address(guarded_app, recorder, endpoint, address):
    """Gradio would download it (and ask Google's DNS about names that resolve to private addresses)."""
    address = address.format(recorder=recorder.url)
    before = traces(guarded_app)
    response = httpx.post(f"{guarded_app.url}gradio_api/call/{endpoint}", timeout=TIMEOUT_S,
                          json={"data": api_arguments(endpoint, file_data(address))})
    assert response.status_code == 400 and "does not download files" in response.text
    for route in ("/gradio_api/file=", "/gradio_api/file/"):
        assert get_raw(guarded_app, route + quote(address, safe=":/"))[0] == 403
    assert recorder.requests == []
    assert traces(guarded_app) == before


def test_an_original_name_with_dot_dots_names_nothing_outside(guarded_app, tmp_path):
    token = f"escape-{secrets.token_hex(4)}"
    [stored] = upload_raw(guarded_app, "plain.jpg", write_photo(tmp_path / "plain.jpg").read_bytes()).json()
    arguments = api_arguments("enhance", file_data(stored, orig_name=f"../../{token}.jpg"))
    event, data = call_raw(guarded_app, "enhance", arguments)
    assert event == "complete", data
    assert "/" not in data[1]["file"]
    assert escaped_files(guarded_app, token) == []


# ---- other sessions' results ---------------------------------------------------------------------


def test_a_result_url_cannot_be_guessed_from_a_neighbour(guarded_app, tmp_path):
    first = Client(guarded_app.url, verbose=False, download_files=False)
    result, info = first.predict(handle_file(str(write_photo(tmp_path / "mine.jpg", (88, 66)))), api_name="/enhance")
    served = Path(unquote(urlsplit(result["url"]).path.split("file=", 1)[1]))
    content = httpx.get(result["url"], timeout=TIMEOUT_S).content
    assert served.name == info["file"] == "mine_restored.png" and len(content) > 0
    # the folder name is 256 bits, keyed with a secret seed: not derivable from the content alone
    folder = served.parent.name
    assert len(folder) == 64 and set(folder) <= set("0123456789abcdef")
    assert folder != hashlib.sha256(content).hexdigest()
    assert served.parent.parent == uploads_folder(guarded_app)
    # another client guessing: change one character anywhere, and nothing is there
    flipped = "0" if folder[-1] != "0" else "1"
    neighbours = [served.parent.with_name(folder[:-1] + flipped) / served.name,
                  served.parent.with_name(("f" if folder[0] != "f" else "e") + folder[1:]) / served.name,
                  served.with_name("nine_restored.png"), served.with_name("mine_restored.jpg"), served.parent]
    for neighbour in neighbours:
        assert get_raw(guarded_app, f"/gradio_api/file={neighbour}")[0] in (403, 404), neighbour
    # nor can another client read someone's job by guessing its event id or session
    event_id = httpx.post(f"{guarded_app.url}gradio_api/call/enhance", timeout=TIMEOUT_S, json={
        "data": api_arguments("enhance", file_data(str(served)))}).json()["event_id"]
    guessed = event_id[:-1] + ("0" if event_id[-1] != "0" else "1")
    answer = read_stream(f"{guarded_app.url}gradio_api/call/enhance/{guessed}")
    assert "file=" not in answer and "404" in answer
    answer = read_stream(f"{guarded_app.url}gradio_api/queue/data?session_hash={secrets.token_hex(6)}")
    assert "session_not_found" in answer and "file=" not in answer
    assert "file=" in read_stream(f"{guarded_app.url}gradio_api/call/enhance/{event_id}")    # the owner's answer


# ---- size and count limits -----------------------------------------------------------------------


def oversized_uploads(guarded_app: AppProcess) -> list[Path]:
    return [path for path in uploads_folder(guarded_app).rglob("*")
            if path.is_file() and path.stat().st_size > MAX_FILE_BYTES]


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_an_oversized_upload_is_refused_and_nothing_is_kept(guarded_app, transfer):
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

    before = traces(guarded_app)
    response = httpx.post(guarded_app.url + "gradio_api/upload", timeout=TIMEOUT_S,
                          content=head + payload + tail if transfer == "content-length" else chunks(),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert f"maximum allowed size of {MAX_FILE_BYTES} bytes" in response.text
    assert list(uploads_folder(guarded_app).rglob(name)) == []
    assert not oversized_uploads(guarded_app)
    assert traces(guarded_app) == before


@pytest.mark.parametrize("endpoint", ["/enhance", "/enhance_batch"])
def test_gradio_client_uploads_over_the_limit_are_refused(guarded_app, tmp_path, endpoint):
    big = oversized(tmp_path / "big.jpg")
    argument = handle_file(str(big)) if endpoint == "/enhance" else [handle_file(str(big))]
    before = traces(guarded_app)
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {MAX_FILE_BYTES} bytes"):
        Client(guarded_app.url, verbose=False).predict(argument, api_name=endpoint)
    careless = Client(guarded_app.url, verbose=False)          # a client that skips its own check meets the server's
    careless.config["max_file_size"] = None
    with pytest.raises(Exception, match="413 Request Entity Too Large"):
        careless.predict(argument, api_name=endpoint)
    assert traces(guarded_app) == before
    assert not oversized_uploads(guarded_app)


@pytest.mark.parametrize("packing", ["files", "one zip", "two zips", "files and a zip"])
def test_a_batch_over_the_file_limit_is_refused_before_processing(guarded_app, guarded_client, tmp_path, packing):
    photos = [write_photo(tmp_path / f"{number}.jpg", (64, 48)) for number in range(MAX_BATCH_FILES + 1)]
    uploads = {"files": photos,
               "one zip": [zip_of(tmp_path / "all.zip", photos)],
               "two zips": [zip_of(tmp_path / "a.zip", photos[:2]), zip_of(tmp_path / "b.zip", photos[2:])],
               "files and a zip": [*photos[:2], zip_of(tmp_path / "rest.zip", photos[2:])]}[packing]
    before, builds = traces(guarded_app), engine_builds(guarded_app)
    with pytest.raises(Exception, match=f"holds {MAX_BATCH_FILES + 1} photos, more than the {MAX_BATCH_FILES}") \
            as raised:
        guarded_client.predict([handle_file(str(path)) for path in uploads], api_name="/enhance_batch")
    assert "Traceback" not in str(raised.value)
    assert traces(guarded_app) == before and engine_builds(guarded_app) == builds


def test_a_batch_at_the_file_limit_runs(guarded_app, guarded_client, tmp_path):
    photos = [write_photo(tmp_path / f"{number}.jpg", (64, 48)) for number in range(MAX_BATCH_FILES)]
    results, report = guarded_client.predict([handle_file(str(path)) for path in photos], api_name="/enhance_batch")
    assert [row["status"] for row in report] == ["ok"] * MAX_BATCH_FILES and len(results) == MAX_BATCH_FILES
