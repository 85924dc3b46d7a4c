"""Uploads (``webui.uploads``): a ZIP that lists one stored file many times is refused, a sound one with
repeated photos unpacks, and an upload that fills the disk is refused plainly and leaves nothing."""
from __future__ import annotations

import io
import os
import struct
import time
import zipfile
import zlib

from gradio_client import Client, handle_file
from page_events import TIMEOUT_S
from PIL import Image
from small_disk import tmpfs
from web_calls import MIB, disk_used_bytes, shows_no_server_detail, start, upload, write_photo

# ---- a ZIP that claims one stored file many times ------------------------------------------------


def overlapping_zip(photo: bytes, count: int) -> bytes:
    """A ZIP that stores ``photo`` once (as ``photo.png``) and lists it ``count`` times: every entry of
    its directory points at the same stored file, under the same name, so each one reads back whole."""
    crc = zlib.crc32(photo)
    name = b"photo.png"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(photo), len(photo), len(name), 0)
    directory = b""
    for _ in range(count):
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(photo), len(photo),
                                 len(name), 0, 0, 0, 0, 0, 0) + name
    stored = local + name + photo
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(directory), len(stored), 0)
    return stored + directory + end


def test_a_zip_that_lists_one_stored_file_many_times_is_refused(limited_app, tmp_path):
    buffer = io.BytesIO()
    write_photo(tmp_path / "small.jpg", (64, 48))
    Image.open(tmp_path / "small.jpg").save(buffer, format="PNG")
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(overlapping_zip(buffer.getvalue(), 1000))
    with zipfile.ZipFile(archive) as opened:     # the trap is live: every entry reads back as the photo
        assert len(opened.infolist()) == 1000 and opened.read(opened.infolist()[-1]) == buffer.getvalue()
    started = time.monotonic()
    job = Client(limited_app.url, verbose=False).submit([handle_file(str(archive))], api_name="/enhance_batch")
    results, report = job.result(timeout=TIMEOUT_S)
    seconds = time.monotonic() - started
    print(f"FIGURE overlapping ZIP ({archive.stat().st_size / 1024:.0f} KB, 1000 entries over one stored PNG): "
          f"{len(results)} results, report {report}, {seconds:.1f} s")
    assert results == []
    [row] = report
    assert row["input"] == "bomb.zip" and row["status"] == "failed"
    assert "overlap" in row["error"] and "nothing was taken" in row["error"]


def test_a_sound_zip_of_the_same_photo_under_several_names_still_unpacks(limited_app, tmp_path):
    photo = write_photo(tmp_path / "same.jpg", (96, 72)).read_bytes()
    archive = tmp_path / "album.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        for number in range(3):
            writer.writestr(f"{number}.jpg", photo)
    client = Client(limited_app.url, verbose=False)
    results, report = client.predict([handle_file(str(archive))], api_name="/enhance_batch")
    assert [row["status"] for row in report] == ["ok"] * 3 and len(results) == 3


# ---- a full disk ---------------------------------------------------------------------------------


def test_an_upload_that_fills_the_disk_is_refused_plainly_and_leaves_nothing(tmp_path):
    with tmpfs(tmp_path / "uploads", "3m") as disk:
        app = start(tmp_path / "app", "--max-file-size", "20mb", env={"GRADIO_TEMP_DIR": str(disk)})
        try:
            empty = disk_used_bytes(disk)
            response = upload(app, [("big.jpg", os.urandom(5 * MIB))])
            assert response.status_code == 507, (response.status_code, response.text[:300])
            assert "no room left" in response.text and shows_no_server_detail(response.text, disk)
            assert list(disk.glob("tmp*")) == [] and disk_used_bytes(disk) - empty < 64 << 10
            for number in range(3):            # later uploads are not blocked by what the failed one left
                response = upload(app, [(f"{number}.jpg", write_photo(tmp_path / f"{number}.jpg").read_bytes())])
                assert response.status_code == 200, response.text[:300]
            assert "Traceback" not in app.log()          # the log has the detail, as a plain line
            assert "the disk is full" in app.log()
        finally:
            app.stop()
