"""Many clients at once against the app on 127.0.0.1 (tiny models), each with its own ``gradio_client``
in its own thread: every client gets exactly its own results and none is lost. And a client over the
queue limit is told the app is busy, while the jobs already accepted complete.

Each client's photos carry its marks: the file name (client and photo number) and the image size (width
from the photo number, height from the client number), which the full-resolution result keeps. A result
that went to the wrong client, or a lost or doubled one, shows up as a wrong, missing or extra mark.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import tiny_models
from app_process import AppProcess, start_app
from gradio_client import Client, handle_file
from gradio_client.utils import QueueError, Status
from gpen.inputs import RESULTS_MANIFEST
from photos import PHOTOS
from PIL import Image

TIMEOUT_S = 600


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("load_models")
    tiny_models.make_tiny_models(folder)
    return folder


@pytest.fixture(scope="module")
def app(tmp_path_factory, models) -> Iterator[AppProcess]:
    running = start_app(tmp_path_factory.mktemp("load_app"), models)
    yield running
    running.stop()


@dataclass(frozen=True)
class Mark:
    """Which client sent a photo, and which of its photos it is."""

    client: int
    photo: int

    @property
    def name(self) -> str:
        return f"client{self.client:02d}-photo{self.photo:02d}"

    def size(self, base_px: int) -> tuple[int, int]:
        return base_px + 4 * self.photo, base_px + 4 * self.client


def write_marked_photo(folder: Path, mark: Mark, base_px: int) -> Path:
    """The real test portrait scaled to the mark's size, saved under the mark's name."""
    path = folder / f"{mark.name}.jpg"
    with Image.open(PHOTOS / "portrait_small.jpg") as source:
        source.convert("RGB").resize(mark.size(base_px)).save(path, quality=90)
    return path


def received_marks(paths: list[str], base_px: int, suffix: str) -> list[Mark]:
    """The marks of the results a client received, read from their names; each result's size must match
    its name's mark (so a renamed result from another client is caught too)."""
    marks = []
    for path in paths:
        stem = Path(path).name.removesuffix(suffix + ".jpg")   # results keep the inputs' format
        client, photo = (int(part.removeprefix(prefix)) for part, prefix in zip(stem.split("-"), ("client", "photo")))
        mark = Mark(client, photo)
        with Image.open(path) as image:
            assert image.size == mark.size(base_px), (path, image.size)
        marks.append(mark)
    return marks


def run_client(url: str, number: int, photos: list[Path], endpoint: str, start: threading.Barrier,
               base_px: int) -> list[Mark]:
    """One client: its own ``Client``; each photo through ``/enhance``, or all of them in one ``/enhance_batch``."""
    client = Client(url, verbose=False)
    start.wait(TIMEOUT_S)
    if endpoint == "/enhance":
        paths = []
        for photo in photos:
            result, info = client.predict(handle_file(str(photo)), api_name="/enhance")
            assert info["file"] == Path(result).name and info["faces"] >= 1
            paths.append(result)
        return received_marks(paths, base_px, "_restored")
    results, report = client.predict([handle_file(str(photo)) for photo in photos], api_name="/enhance_batch")
    assert [row["input"] for row in report] == [photo.name for photo in photos]
    assert [row["status"] for row in report] == ["ok"] * len(photos), report
    return received_marks(results, base_px, "")


@pytest.mark.parametrize("clients, photos_per_client, base_px", [
    pytest.param(8, 10, 96, id="8 clients x 10 photos"),
    pytest.param(16, 30, 240, id="16 clients x 30 photos", marks=pytest.mark.slow),
])
def test_every_client_gets_exactly_its_own_results(app, tmp_path, clients, photos_per_client, base_px):
    folder = tmp_path / "photos"
    folder.mkdir()
    sent = {number: [Mark(number, photo) for photo in range(photos_per_client)] for number in range(clients)}
    files = {number: [write_marked_photo(folder, mark, base_px) for mark in marks] for number, marks in sent.items()}
    endpoints = {number: "/enhance" if number % 2 == 0 else "/enhance_batch" for number in range(clients)}
    kept_before = set(app.outputs.glob("batch-*"))
    start = threading.Barrier(clients + 1)
    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = {number: pool.submit(run_client, app.url, number, files[number], endpoints[number], start, base_px)
                   for number in range(clients)}
        start.wait(TIMEOUT_S)
        started = time.perf_counter()
        received = {number: future.result(TIMEOUT_S) for number, future in futures.items()}
        seconds = time.perf_counter() - started
    for number in range(clients):
        assert received[number] == sent[number], f"client {number} ({endpoints[number]})"
    # the batch clients' results are also kept on disk, each batch in its own folder with only its files
    new_folders = set(app.outputs.glob("batch-*")) - kept_before
    kept = sorted(sorted(path.name for path in batch.iterdir() if path.name != RESULTS_MANIFEST)
                  for batch in new_folders)
    assert kept == sorted(sorted([f"{mark.name}.jpg" for mark in sent[number]] + ["report.json"])
                          for number in range(clients) if endpoints[number] == "/enhance_batch")
    assert "Traceback" not in app.log()
    photos = clients * photos_per_client
    print(f"\n{clients} clients x {photos_per_client} photos ({base_px}+ px): {photos} photos in {seconds:.1f} s, "
          f"{photos / seconds:.1f} photos/s")


# ---- the queue limit ------------------------------------------------------------------------------------

QUEUE_SIZE = 2


@pytest.fixture(scope="module")
def small_queue_app(tmp_path_factory, models) -> Iterator[AppProcess]:
    running = start_app(tmp_path_factory.mktemp("small_queue_app"), models, "--queue-size", str(QUEUE_SIZE))
    yield running
    running.stop()


def upload(app: AppProcess, path: Path) -> str:
    boundary = secrets.token_hex(8)
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    response = httpx.post(app.url + "gradio_api/upload", content=body, timeout=60,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    response.raise_for_status()
    return response.json()[0]


def join(app: AppProcess, stored: str) -> httpx.Response:
    """Ask for ``/enhance`` of an uploaded photo through Gradio's plain HTTP API (answers at once)."""
    data = [{"path": stored, "meta": {"_type": "gradio.FileData"}}, 100, "natural", "all", 0, False, None, None]
    return httpx.post(f"{app.url}gradio_api/call/enhance", json={"data": data}, timeout=60)


def outcome(app: AppProcess, event_id: str) -> str:
    """The last event of a job's stream: ``complete`` or ``error``."""
    text = ""
    try:
        with httpx.stream("GET", f"{app.url}gradio_api/call/enhance/{event_id}", timeout=TIMEOUT_S) as stream:
            for chunk in stream.iter_text():
                text += chunk
    except httpx.RemoteProtocolError:
        pass
    return [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")][-1]


def test_a_client_over_the_queue_limit_is_told_the_app_is_busy(small_queue_app, tmp_path):
    app = small_queue_app
    busy = [write_marked_photo(tmp_path, Mark(0, number), 400) for number in range(16)]
    single = write_marked_photo(tmp_path, Mark(1, 0), 96)
    stored = upload(app, single)
    # hold the one device queue with a slow batch, and wait until it runs
    holder = Client(app.url, verbose=False).submit([handle_file(str(path)) for path in busy], api_name="/enhance_batch")
    deadline = time.monotonic() + TIMEOUT_S
    while holder.status().code not in (Status.PROCESSING, Status.PROGRESS) and time.monotonic() < deadline:
        time.sleep(0.05)
    # the queue holds QUEUE_SIZE waiting jobs; more are turned away at once
    accepted = [join(app, stored) for _ in range(QUEUE_SIZE)]
    assert [response.status_code for response in accepted] == [200] * QUEUE_SIZE
    refused = join(app, stored)
    assert refused.status_code == 503
    assert json.loads(refused.text)["detail"] == f"Queue is full. Max size is {QUEUE_SIZE} and size is {QUEUE_SIZE}."
    with pytest.raises(QueueError, match="Queue is full! Please try again."):
        Client(app.url, verbose=False).predict(handle_file(str(single)), api_name="/enhance")
    # nor can a job go round the queue: Gradio's direct routes refuse queued events
    for route in ("run", "api"):
        direct = httpx.post(f"{app.url}gradio_api/{route}/enhance", timeout=60, json={
            "data": [{"path": stored, "meta": {"_type": "gradio.FileData"}}, 100, "natural", "all", 0, False, None,
                     None]})
        assert direct.status_code == 404 and "join the queue" in direct.text
    assert not holder.done(), "the batch holding the queue finished before the test was over; make it longer"
    # ...while every accepted job completes
    _, report = holder.result(TIMEOUT_S)
    assert [row["status"] for row in report] == ["ok"] * len(busy)
    assert [outcome(app, response.json()["event_id"]) for response in accepted] == ["complete"] * QUEUE_SIZE
    # and once the queue has room again, a new job is taken
    _, info = Client(app.url, verbose=False).predict(handle_file(str(single)), api_name="/enhance")
    assert info["file"] == f"{Mark(1, 0).name}_restored.jpg"
