"""Raw HTTP calls to a running app, as a browser or a script would make them, and the app the request-limit
tests share (``limited_app`` in conftest: ``--max-file-size 2mb --read-timeout 2``).

The tests print the measurements the hardening issue asked for on lines starting with ``FIGURE`` (shown
with ``pytest -s``)."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
from app_process import AppProcess, start_app_with_tiny_models
from page_events import TIMEOUT_S
from photos import PHOTOS
from PIL import Image

READ_TIMEOUT_S = 2            # the module's app drops connections that stall this long


MAX_FILE_BYTES = 2 << 20      # ... and runs with --max-file-size 2mb


MIB = 1 << 20


def start(folder: Path, *args: str, env: dict[str, str] | None = None) -> AppProcess:
    """The app over the tiny models, its temporary folder (where its request folders go) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    return start_app_with_tiny_models(folder, *args, env={"TMPDIR": str(folder / "tmp"), **(env or {})})


def uploads_folder(app: AppProcess) -> Path:
    return app.log_file.parent / "gradio"


def partial_uploads(app: AppProcess) -> list[Path]:
    """Gradio's temporary upload files with something in them (``tmp…`` directly in its upload folder):
    finished uploads are moved into folders of their own. (Gradio also leaves an empty ``tmp…`` file
    there for each batch file it hands over; those are not uploads.)"""
    return [path for path in uploads_folder(app).glob("tmp*") if path.is_file() and path.stat().st_size > 0]


def write_photo(path: Path, size: tuple[int, int] = (120, 90)) -> Path:
    with Image.open(PHOTOS / "portrait_small.jpg") as source:
        source.convert("RGB").resize(size).save(path, quality=85)
    return path


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of (field, file name or None, content) parts, and its content type."""
    boundary = secrets.token_hex(8)
    body = b""
    for field, name, content in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{name}"' if name is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(app: AppProcess, files: list[tuple[str, bytes]]) -> httpx.Response:
    body, content_type = multipart([("files", name, content) for name, content in files])
    return httpx.post(app.url + "gradio_api/upload", content=body, headers={"Content-Type": content_type},
                      timeout=TIMEOUT_S)


def file_data(path: str, name: str | None = None) -> dict[str, Any]:
    return {"path": path, "orig_name": name or Path(path).name, "meta": {"_type": "gradio.FileData"}}


@dataclass
class Answer:
    status: str       # the status line
    text: str
    sent_bytes: int


def post_stream(port: int, path: str, content_type: str, chunks: Iterator[bytes],
                size_bytes: int | None = None) -> Answer:
    """POST the chunks (with ``Content-Length: size_bytes``, or chunked without it), stopping when the
    server answers or closes the connection; returns the answer and how much was sent."""
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as connection:
        length = "Transfer-Encoding: chunked" if size_bytes is None else f"Content-Length: {size_bytes}"
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
                           f"{length}\r\n\r\n".encode())
        try:
            for chunk in chunks:
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if size_bytes is None else chunk)
                sent += len(chunk)
            if size_bytes is None:
                connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass           # the server answered and closed the connection: the rest is never read
        with contextlib.suppress(OSError):
            while len(answer) < 4096 and (received := connection.recv(4096)):
                answer += received
    status, _, text = answer.decode(errors="replace").partition("\r\n")
    return Answer(status, text.partition("\r\n\r\n")[2], sent)


def zeros(size_bytes: int) -> Iterator[bytes]:
    block = bytes(MIB)
    for _ in range(size_bytes // MIB):
        yield block


def upload_head(port: int, total_bytes: int, name: str = "slow.jpg") -> tuple[bytes, bytes]:
    """The start of an upload request declaring ``total_bytes`` of file, and 200 kB of its file."""
    boundary = secrets.token_hex(8)
    part = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(part) + total_bytes + len(tail)}\r\n\r\n").encode()
    return head, part + os.urandom(200 << 10)


def wait_until(check: Callable[[], bool], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def fill(disk: Path) -> None:
    """Fill ``disk`` to the last byte."""
    with open(disk / "filler", "wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(bytes(64 << 10))
    with contextlib.suppress(OSError):
        for number in range(1000):
            (disk / f"filler-{number}").write_bytes(b"x" * 512)


def disk_used_bytes(disk: Path) -> int:
    usage = shutil.disk_usage(disk)
    return usage.total - usage.free


def says_the_disk_is_full(message: str) -> bool:
    return any(words in message.lower() for words in ("no space left", "disk full", "disk is full"))


def shows_no_server_detail(message: str, *places: Path) -> bool:
    return not any(str(place) in message for place in places) and "Errno" not in message \
        and "/tmp/" not in message and "Traceback" not in message
