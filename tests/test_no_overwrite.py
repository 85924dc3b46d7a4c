"""No run overwrites or multiplies a file: the command line as a real process."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from gpen.inputs import RESULTS_MANIFEST
from photos import PHOTOS
from cli_process import results_in, run_cli, start_cli


def three_photos(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("portrait_small.jpg", "lowres_portrait.jpg", "lowres_portrait2.jpg"):
        shutil.copy(PHOTOS / name, folder / name)
    return folder


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_report_path_naming_an_input_is_refused_before_any_work(models_folder, tmp_path):
    inputs = three_photos(tmp_path / "in")
    victim = inputs / "portrait_small.jpg"
    before = sha256(victim)
    result = run_cli(models_folder, str(inputs), "-o", str(tmp_path / "out"), "--report", str(victim), "-q")
    assert result.returncode == 2 and "is one of the inputs" in result.stderr
    assert sha256(victim) == before and not (tmp_path / "out").exists()


def test_a_report_path_naming_any_other_existing_file_is_refused(models_folder, tmp_path):
    inputs = three_photos(tmp_path / "in")
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    result = run_cli(models_folder, str(inputs), "-o", str(tmp_path / "out"), "--report", str(notes), "-q")
    assert result.returncode == 2 and "is not an earlier report" in result.stderr
    assert notes.read_text() == "my notes" and not (tmp_path / "out").exists()


def test_results_written_into_the_input_folder_are_never_restored_again(models_folder, tmp_path):
    folder = three_photos(tmp_path / "album")
    counts = []
    for flags in ([], ["--skip-existing"], []):
        result = run_cli(models_folder, str(folder), "-o", str(folder), "-q", *flags)
        assert result.returncode == 0, result.stderr
        counts.append(len(results_in(folder)))
    assert counts == [6, 6, 6]            # 3 photos and their 3 results; never 3 -> 6 -> 12
    assert sorted(results_in(folder)) == sorted(
        [name for stem in ("lowres_portrait", "lowres_portrait2", "portrait_small")
         for name in (f"{stem}.jpg", f"{stem}_gpen.jpg")])
    assert (folder / RESULTS_MANIFEST).is_file()


def test_an_output_folder_that_cannot_be_written_is_found_before_any_work(models_folder, tmp_path):
    inputs = three_photos(tmp_path / "in")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    report = tmp_path / "report.json"
    result = run_cli(models_folder, str(inputs), "-o", str(blocker / "out"), "--report", str(report), "-q")
    assert result.returncode == 2 and "cannot be created or written" in result.stderr
    assert "restored" not in result.stderr and not report.exists()   # nothing was done
    if os.geteuid() != 0:    # root writes anywhere: a read-only folder only stops other users
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        result = run_cli(models_folder, str(inputs), "-o", str(locked), "-q")
        assert result.returncode == 2


def wait_for_results(folder: Path, count: int, process: subprocess.Popen, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if folder.is_dir() and sum(not path.name.startswith(".") for path in folder.iterdir()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} results in {folder} before the run ended or {timeout_s} s passed")


def many_photos(folder: Path, copies: int = 6) -> Path:
    folder.mkdir()
    for copy in range(copies):
        for photo in sorted(PHOTOS.iterdir()):
            shutil.copy(photo, folder / f"{copy}_{photo.name}")
    return folder


def test_ctrl_c_finishes_the_photos_in_progress_writes_the_report_and_exits_130(models_folder, tmp_path):
    inputs = many_photos(tmp_path / "in")
    out, report = tmp_path / "out", tmp_path / "report.json"
    process = start_cli(models_folder, str(inputs), "-o", str(out), "--report", str(report), "-q", "--batch-size", "1")
    wait_for_results(out, 2, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "stopping after the photos in progress" in stderr
    assert "restored" in stderr                                            # the summary
    rows = json.loads(report.read_text())
    assert len(rows) == len(list(inputs.iterdir()))
    done = [row for row in rows if row["status"] == "ok"]
    interrupted = [row for row in rows if row["error"] == "not processed: interrupted"]
    assert done and interrupted and len(done) + len(interrupted) == len(rows)
    assert sorted(Path(row["output"]).name for row in done) == results_in(out)   # every result complete


def test_a_second_ctrl_c_stops_at_once_and_leaves_no_partial_file(models_folder, tmp_path):
    inputs = many_photos(tmp_path / "in")
    out = tmp_path / "out"
    process = start_cli(models_folder, str(inputs), "-o", str(out), "-q", "--batch-size", "1")
    wait_for_results(out, 1, process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert "stopped at once" in stderr
    from PIL import Image
    for name in results_in(out):
        assert not name.startswith("."), name                             # no temporary file left
        with Image.open(out / name) as image:
            image.load()                                                  # every file is a complete image


def test_skip_existing_keeps_the_earlier_reports_rows(models_folder, tmp_path):
    inputs = three_photos(tmp_path / "in")
    out, report = tmp_path / "out", tmp_path / "report.json"
    assert run_cli(models_folder, str(inputs), "-o", str(out), "--report", str(report), "-q").returncode == 0
    first = {row["input"]: row for row in json.loads(report.read_text())}
    shutil.copy(PHOTOS / "portrait_png.png", inputs / "new.png")
    result = run_cli(models_folder, str(inputs), "-o", str(out), "--report", str(report), "--skip-existing", "-q")
    assert result.returncode == 0, result.stderr
    second = {row["input"]: row for row in json.loads(report.read_text())}
    for name, row in first.items():
        assert second[name]["status"] == "ok" and second[name]["faces"] == row["faces"] > 0
        assert second[name]["seconds"] == row["seconds"] and "earlier run" in second[name]["note"]
    assert second[str(inputs / "new.png")]["status"] == "ok" and second[str(inputs / "new.png")]["note"] is None
