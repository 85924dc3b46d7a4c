"""Request bodies that are not uploads are capped before they are read into memory (``webui.bodies``),
an upload's form fields too, and ordinary uploads and calls still pass."""
from __future__ import annotations

import contextlib
import secrets
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from gradio_client import Client, handle_file
from web_calls import MIB, partial_uploads, post_stream, upload, write_photo, zeros

# ---- measuring the app's memory ------------------------------------------------------------------


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakMemory:
    """The most memory (resident set) a process used during the block, above what it used before:
    its peak is reset where Linux allows it, and sampled every 5 ms as well."""

    def __init__(self, pid: int):
        self.pid = pid
        self.before_kib = self.peak_kib = 0
        self._done = threading.Event()

    def __enter__(self) -> PeakMemory:
        self.before_kib = memory_kib(self.pid, "VmRSS")
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")     # resets VmHWM to the current RSS
        self.peak_kib = self.before_kib
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak_kib = max(self.peak_kib, memory_kib(self.pid, "VmRSS"))

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)
        self._done.set()
        self._sampler.join()
        self.peak_kib = max(self.peak_kib, memory_kib(self.pid, "VmHWM"), memory_kib(self.pid, "VmRSS"))

    @property
    def growth_mib(self) -> float:
        return (self.peak_kib - self.before_kib) / 1024


# ---- oversized bodies ----------------------------------------------------------------------------


BODY_ROUTES = ["/gradio_api/queue/join", "/gradio_api/call/enhance", "/gradio_api/run/page_load", "/gradio_api/cancel"]


OVERSIZED_BYTES = 300 * MIB


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
@pytest.mark.parametrize("route", BODY_ROUTES)
def test_an_oversized_body_is_refused_before_it_is_read_into_memory(limited_app, route, transfer):
    with PeakMemory(limited_app.process.pid) as memory:
        answer = post_stream(limited_app.port, route, "application/octet-stream", zeros(OVERSIZED_BYTES),
                             OVERSIZED_BYTES if transfer == "content-length" else None)
    print(f"FIGURE oversized body {OVERSIZED_BYTES >> 20} MB to {route} ({transfer}): {answer.status!r}, "
          f"{answer.sent_bytes >> 20} MB sent, RSS {memory.before_kib / 1024:.0f} MB before, peak "
          f"{memory.peak_kib / 1024:.0f} MB (+{memory.growth_mib:.0f} MB)")
    assert " 413 " in answer.status, answer
    assert answer.sent_bytes < OVERSIZED_BYTES
    assert memory.growth_mib < 48


def test_an_upload_form_field_that_is_not_a_file_is_capped(limited_app):
    """Gradio keeps an upload's other form fields in memory, whatever their size."""
    boundary = secrets.token_hex(8)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="photo.jpg"\r\n\r\n'
            f'{"x" * 1000}\r\n--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n').encode()

    def chunks() -> Iterator[bytes]:
        yield head
        yield from (b"a" * MIB for _ in range(128))
        yield f"\r\n--{boundary}--\r\n".encode()

    with PeakMemory(limited_app.process.pid) as memory:
        answer = post_stream(limited_app.port, "/gradio_api/upload", f"multipart/form-data; boundary={boundary}",
                             chunks())
    assert " 413 " in answer.status and "form field" in answer.text, answer
    assert memory.growth_mib < 48
    deadline = time.monotonic() + 10
    while partial_uploads(limited_app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert partial_uploads(limited_app) == []


def test_ordinary_uploads_and_calls_still_pass(limited_app, tmp_path):
    photos = [write_photo(tmp_path / f"{number}.jpg").read_bytes() for number in range(3)]
    response = upload(limited_app, [(f"{number}.jpg", data) for number, data in enumerate(photos)])
    assert response.status_code == 200 and len(response.json()) == 3
    result, info = Client(limited_app.url, verbose=False).predict(handle_file(str(write_photo(tmp_path / "one.jpg"))),
                                                          api_name="/enhance")
    assert Path(result).is_file() and info["faces"] >= 0
