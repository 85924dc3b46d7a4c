"""At start, the temporary folders of killed instances are removed (``webui.instances``); those of running
instances are kept."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from gradio_client import Client, handle_file
from page_events import TIMEOUT_S
from web_calls import start, wait_until, write_photo

# ---- temporary folders of killed instances -------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_at_start_the_temporary_folders_of_killed_instances_are_removed(tmp_path):
    from webui.instances import new_instance_folder

    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    first = start(tmp_path / "first", env={"TMPDIR": str(shared)})
    try:
        photos = [write_photo(tmp_path / f"{number}.jpg", (1600, 1200)) for number in range(40)]
        archive = tmp_path / "photos.zip"
        with zipfile.ZipFile(archive, "w") as writer:
            for photo in photos:
                writer.write(photo, photo.name)
        client = Client(first.url, verbose=False)
        client.predict(handle_file(str(photos[0])), api_name="/enhance")
        client.submit([handle_file(str(archive))], api_name="/enhance_batch")
        [killed] = list(shared.glob("gpen-webui-*"))
        # killed in the middle of the batch, with its photos unpacked and some restored
        assert wait_until(lambda: len([path for path in first.outputs.glob("batch-*/*")
                                       if path.name != "report.json"]) >= 2, TIMEOUT_S)
        size_bytes = folder_bytes(killed)
        assert size_bytes > 0
    finally:
        first.process.kill()           # SIGKILL: no clean-up of its own
        first.process.wait(timeout=30)
    assert killed.is_dir()
    not_ours = shared / "gpen-webui-not-ours"        # no owner file: not made by this app
    (not_ours / "keep").mkdir(parents=True)
    (not_ours / "keep" / "photo.jpg").write_bytes(b"someone else's")
    garbled = shared / "gpen-webui-garbled"
    garbled.mkdir()
    (garbled / ".owner.json").write_text("not json")
    alive = new_instance_folder(shared)                 # this test process is alive
    reused = new_instance_folder(shared)                # its process id now names another process
    (reused / ".owner.json").write_text(json.dumps({"pid": os.getpid(), "started": "1"}))
    other = shared / "another-program"
    other.mkdir()

    second = start(tmp_path / "second", env={"TMPDIR": str(shared)})
    try:
        removed_lines = [line for line in second.log().splitlines() if "no longer running" in line]
        print(f"FIGURE temporary folders removed at start: {len(removed_lines)}: " + "; ".join(removed_lines)
              + f" (the killed instance's held {size_bytes / 2**20:.1f} MB)")
        assert not killed.exists() and not reused.exists()
        assert not_ours.is_dir() and (not_ours / "keep" / "photo.jpg").is_file()
        assert garbled.is_dir() and alive.is_dir() and other.is_dir()
        assert any(str(killed) in line for line in removed_lines) and len(removed_lines) == 2
        assert len(list(shared.glob("gpen-webui-*"))) == 4     # the three kept, and the new instance's own
    finally:
        second.stop()
