"""A batch whose client goes away stops soon and keeps what it did (``webui.clients``)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from gradio_client import Client, handle_file
from page_events import TIMEOUT_S, join, page_config, page_inputs
from web_calls import file_data, upload, write_photo

# ---- a batch whose client goes away --------------------------------------------------------------


BATCH_PHOTOS = 150


def test_a_batch_stops_soon_after_its_client_goes_away_and_keeps_what_it_did(limited_app, tmp_path):
    photos = [write_photo(tmp_path / f"p{number:03d}.jpg").read_bytes() for number in range(BATCH_PHOTOS)]
    stored = upload(limited_app, [(f"p{number:03d}.jpg", data) for number, data in enumerate(photos)]).json()
    config = page_config(limited_app)
    data = page_inputs(config, "page_enhance_batch")
    data[0] = [file_data(path) for path in stored]
    folders_before = set(limited_app.outputs.glob("batch-*"))
    session = join(limited_app, config, "page_enhance_batch", data)
    done_when_left = 0
    stream_url = f"{limited_app.url}gradio_api/queue/data?session_hash={session}"
    with httpx.stream("GET", stream_url, timeout=TIMEOUT_S) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                progress = (message.get("progress_data") or [{}])[0] if message.get("msg") == "progress" else {}
                if (progress.get("index") or 0) >= 8 and progress.get("length") == BATCH_PHOTOS:
                    done_when_left = progress["index"]
                    break
    left = time.monotonic()        # the stream is closed: the client has gone
    report = None
    while time.monotonic() - left < TIMEOUT_S:
        new = [folder / "report.json" for folder in set(limited_app.outputs.glob("batch-*")) - folders_before]
        if new and new[0].is_file():
            report = new[0]
            break
        time.sleep(0.1)
    stopped_s = time.monotonic() - left
    assert report is not None, "the batch did not stop within a minute of its client going away"
    rows = json.loads(report.read_text())
    finished = [row for row in rows if row["status"] == "ok"]
    print(f"FIGURE disconnected batch: client left after {done_when_left} of {BATCH_PHOTOS} photos; the batch "
          f"stopped {stopped_s:.1f} s later with {len(finished)} restored and kept, "
          f"{len(rows) - len(finished)} not processed")
    assert len(rows) == BATCH_PHOTOS
    assert done_when_left <= len(finished) < BATCH_PHOTOS - 20
    assert all(Path(row["output"]).is_file() for row in finished)
    assert all("not processed" in row["error"] for row in rows if row["status"] != "ok")
    assert stopped_s < 30
    # whoever waits behind it is served now
    result, _ = Client(limited_app.url, verbose=False).submit(handle_file(str(write_photo(tmp_path / "next.jpg"))),
                                                      api_name="/enhance").result(timeout=TIMEOUT_S)
    assert Path(result).is_file()
    assert "its client went away" in limited_app.log()
