"""Videos on the command line, as a real process: a folder mixing photos and videos, resume, the
quality option, and Ctrl-C in the middle of a video."""
from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import pytest

from cli_process import results_in, run_cli, start_cli
from gpen.atomic import TEMPORARY_MARK
from photos import PHOTOS
from video_clips import audio_packets, frame_times, pan_frames, still_frames, write_clip
from video_models import DETECTOR, trained_models_folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return trained_models_folder(tmp_path_factory.mktemp("video_cli_models"),
                                 tmp_path_factory.getbasetemp() / "trained_detector")


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PHOTOS / "portrait_small.jpg", folder)
    write_clip(folder / "clip.mp4", pan_frames(8, (150, 220), (170, 220)), tone_hz=440.0)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    return folder


def test_a_folder_of_photos_and_videos(models, mixed_folder, tmp_path):
    out, report = tmp_path / "out", tmp_path / "report.json"
    result = run_cli(models, str(mixed_folder), "-o", str(out), "--detector", DETECTOR, "--report", str(report),
                     "--video-quality", "23", "-q")
    assert result.returncode == 1, result.stderr          # one input failed
    rows = {Path(row["input"]).name: row for row in json.loads(report.read_text())}
    assert rows["portrait_small.jpg"]["status"] == "ok" and rows["portrait_small.jpg"]["faces"] == 2
    assert rows["clip.mp4"]["status"] == "ok" and rows["clip.mp4"]["faces"] >= 1
    assert "8 frames" in rows["clip.mp4"]["note"] and "quality 23" in rows["clip.mp4"]["note"]
    assert rows["broken.mp4"]["status"] == "failed" and "not a readable video" in rows["broken.mp4"]["error"]
    assert "broken.mp4" in result.stderr
    assert results_in(out) == ["clip.mp4", "portrait_small.jpg"]
    assert len(frame_times(out / "clip.mp4")) == 8
    assert audio_packets(out / "clip.mp4") == audio_packets(mixed_folder / "clip.mp4")

    written = (out / "clip.mp4").stat().st_mtime_ns
    again = run_cli(models, str(mixed_folder), "-o", str(out), "--detector", DETECTOR, "--report", str(report),
                    "--skip-existing", "-q")
    rows = {Path(row["input"]).name: row for row in json.loads(report.read_text())}
    assert rows["clip.mp4"]["output"].endswith("clip.mp4") and (out / "clip.mp4").stat().st_mtime_ns == written
    assert "earlier run" in rows["clip.mp4"]["note"] and again.returncode == 1


def test_the_video_quality_is_checked(models, mixed_folder, tmp_path):
    result = run_cli(models, str(mixed_folder), "-o", str(tmp_path / "out"), "--video-quality", "60")
    assert result.returncode == 2 and "from 0 to 51" in result.stderr


def test_ctrl_c_in_a_video_leaves_no_partial_file(models, tmp_path):
    source = write_clip(tmp_path / "long.mp4", still_frames(300, noise=1.0))
    out = tmp_path / "out"
    process = start_cli(models, str(source), "-o", str(out), "--detector", DETECTOR, "-q")
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(TEMPORARY_MARK in name for name in results_in(out))):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert results_in(out) == [], results_in(out)
    assert "interrupted" in stderr
