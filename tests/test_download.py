"""Downloads against a real local HTTP server: success, HTTP errors, cut and stalled transfers, mirrors."""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from local_http import serve_on_loopback
from photos import PHOTOS

from bad_inputs import first_half
from gpen import cli, registry
from gpen.download import download_file
from gpen.engine import Engine, EngineConfig
from gpen.errors import DownloadError, ModelFileError

BODY = bytes(range(256)) * 400  # 100 KiB
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()
STALL_TIMEOUT_S = 0.5


class LocalServer:
    def __init__(self) -> None:
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/good.pth":
                    self._headers(len(BODY))
                    self.wfile.write(BODY)
                elif self.path == "/no-length.pth":  # HTTP/1.0, body ends when the connection closes
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(BODY)
                elif self.path == "/cut.pth":
                    self._headers(len(BODY))
                    self.wfile.write(BODY[: len(BODY) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                elif self.path == "/stall.pth":
                    self._headers(len(BODY))
                    self.wfile.flush()
                    server.stop.wait(10)
                else:
                    self.send_error(404)

            def _headers(self, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"

    def close(self) -> None:
        self.stop.set()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def server() -> Iterator[LocalServer]:
    local = LocalServer()
    yield local
    local.close()


def assert_nothing_left(folder: Path) -> None:
    assert list(folder.iterdir()) == []


def test_good_file(server: LocalServer, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    destination = tmp_path / "models" / "model.pth"  # the folder is created
    result = download_file(server.url("/good.pth"), destination, sha256=BODY_SHA256.upper(),
                           progress=lambda done, total: calls.append((done, total)))
    assert result == destination
    assert destination.read_bytes() == BODY
    assert list(destination.parent.iterdir()) == [destination]  # no temporary files left
    assert calls[0] == (0, len(BODY)) and calls[-1] == (len(BODY), len(BODY))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_body_without_length(server: LocalServer, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    destination = download_file([server.url("/no-length.pth")], tmp_path / "model.pth",
                                progress=lambda done, total: calls.append((done, total)))
    assert destination.read_bytes() == BODY
    assert calls[-1] == (len(BODY), None)


def test_not_found(server: LocalServer, tmp_path: Path) -> None:
    url = server.url("/missing.pth")
    with pytest.raises(DownloadError) as caught:
        download_file(url, tmp_path / "GPEN-BFR-512.pth")
    message = str(caught.value)
    assert "404" in message and url in message
    assert "GPEN-BFR-512.pth" in message and str(tmp_path) in message
    assert isinstance(caught.value, ModelFileError)
    assert caught.value.attempts == ((url, "HTTP 404 Not Found"),)
    assert message.splitlines()[1] == f"  - {url}: HTTP 404 Not Found"       # each address on its own line
    assert "Check the network connection, or the proxy (HTTPS_PROXY)" in message
    assert f"download it by hand from {url} and save it as GPEN-BFR-512.pth in {tmp_path}." in message
    assert_nothing_left(tmp_path)


def test_cut_transfer(server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"cut after {len(BODY) // 2} of {len(BODY)} bytes"):
        download_file(server.url("/cut.pth"), tmp_path / "model.pth")
    assert_nothing_left(tmp_path)


def test_checksum_mismatch(server: LocalServer, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(DownloadError) as caught:
        download_file(server.url("/good.pth"), tmp_path / "model.pth", sha256=wrong)
    message = str(caught.value)
    assert "checksum mismatch" in message and wrong in message and BODY_SHA256 in message
    assert_nothing_left(tmp_path)


def test_checksum_mismatch_keeps_an_existing_file(server: LocalServer, tmp_path: Path) -> None:
    destination = tmp_path / "model.pth"
    destination.write_bytes(b"old")
    with pytest.raises(DownloadError):
        download_file(server.url("/good.pth"), destination, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == [destination] and destination.read_bytes() == b"old"


def test_stalled_server_times_out(server: LocalServer, tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadError, match="timeout"):
        download_file(server.url("/stall.pth"), tmp_path / "model.pth", timeout_s=STALL_TIMEOUT_S)
    assert time.monotonic() - started < 2.0
    assert_nothing_left(tmp_path)


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot connect") as caught:
        download_file(f"http://127.0.0.1:{port}/model.pth", tmp_path / "model.pth", timeout_s=1.0)
    [(url, reason)] = caught.value.attempts
    assert url == f"http://127.0.0.1:{port}/model.pth" and "Connection refused" in reason
    assert_nothing_left(tmp_path)


def test_mirror_fallback(server: LocalServer, tmp_path: Path) -> None:
    urls = [server.url("/missing.pth"), server.url("/good.pth")]
    destination = download_file(urls, tmp_path / "model.pth", sha256=BODY_SHA256)
    assert destination.read_bytes() == BODY
    assert list(tmp_path.iterdir()) == [destination]


def test_every_failure_is_reported(server: LocalServer, tmp_path: Path) -> None:
    urls = [server.url("/missing.pth"), server.url("/cut.pth"), server.url("/good.pth")]
    with pytest.raises(DownloadError) as caught:
        download_file(urls, tmp_path / "model.pth", sha256="f" * 64)
    lines = str(caught.value).splitlines()
    assert any(urls[0] in line and "404" in line for line in lines)
    assert any(urls[1] in line and "cut after" in line for line in lines)
    assert any(urls[2] in line and "checksum mismatch" in line for line in lines)
    assert_nothing_left(tmp_path)

# ---- a failed download leaves nothing a later start could load -----------------------------------


@pytest.fixture
def model_server(models_folder: Path) -> Iterator[str]:
    """Serves the tiny restorer: ``/whole.pth`` all of it, ``/cut.pth`` half, then the connection closes."""
    body = (models_folder / "GPEN-BFR-512.pth").read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if self.path == "/whole.pth" else first_half(body))
            self.close_connection = True

    with serve_on_loopback(Handler) as url:
        yield url


@pytest.mark.parametrize(("path", "sha256", "reason"), [
    ("/cut.pth", None, "transfer cut after"),
    ("/whole.pth", "0" * 64, "checksum mismatch"),
])
def test_failed_download_leaves_no_file_so_a_later_start_never_loads_one(
        models_folder, model_server, tmp_path, monkeypatch, capsys, path, sha256, reason):
    monkeypatch.delenv("GPEN_NO_DOWNLOAD", raising=False)
    spec = registry.get_spec(registry.DEFAULT_RESTORER)
    monkeypatch.setitem(registry._SPECS, spec.name.lower(),
                        dataclasses.replace(spec, urls=(model_server + path,), sha256=sha256))
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    (folder / spec.file_name).unlink()

    code = cli.main([str(PHOTOS / "lowres_portrait2.jpg"), "-o", str(tmp_path / "out"), "--models-dir", str(folder),
                     "-q"])
    error = capsys.readouterr().err
    assert code == 1 and f"Could not download {spec.file_name}" in error and reason in error
    assert sorted(item.name for item in folder.iterdir()) == sorted(
        item.name for item in models_folder.iterdir() if item.name != spec.file_name)   # no partial file
    with pytest.raises(ModelFileError, match=f"{spec.file_name} is not in {folder}. Download it from") as caught:
        Engine(EngineConfig(models_folder=folder, download=False, device="cpu"))
    assert "turned off" not in str(caught.value)    # downloading is on; this caller only did not ask for it
