"""The command line as a real process on the real test photos."""
from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_process import REPO, cli_environment, results_in, run_cli
from photos import PHOTOS


def digests(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def test_folder_of_real_photos_is_restored_and_inputs_untouched(models_folder, tmp_path):
    before = digests(PHOTOS)
    out = tmp_path / "out"
    result = run_cli(models_folder, str(PHOTOS), "-o", str(out), "--report", str(tmp_path / "report.json"), "-q")
    assert result.returncode == 0, result.stderr
    assert digests(PHOTOS) == before
    rows = json.loads((tmp_path / "report.json").read_text())
    assert [Path(row["input"]).name for row in rows] == sorted(before)
    assert all(row["status"] == "ok" and row["faces"] > 0 and row["seconds"] > 0 for row in rows)
    assert results_in(out) == sorted(before)
    assert "7 restored" in result.stderr


def test_bad_files_are_listed_and_the_batch_goes_on(models_folder, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(PHOTOS / "lowres_portrait2.jpg", inputs / "good.jpg")
    (inputs / "text.jpg").write_text("not a photo")
    (inputs / "empty.png").write_bytes(b"")
    (inputs / "cut.jpg").write_bytes((PHOTOS / "portrait_small.jpg").read_bytes()[:5000])
    out = tmp_path / "out"
    result = run_cli(models_folder, str(inputs), str(tmp_path / "missing.jpg"), "-o", str(out),
                     "--report", str(tmp_path / "r.json"), "-q")
    assert result.returncode == 1
    rows = {Path(row["input"]).name: row for row in json.loads((tmp_path / "r.json").read_text())}
    assert rows["good.jpg"]["status"] == "ok"
    for name in ("text.jpg", "empty.png", "cut.jpg", "missing.jpg"):
        assert rows[name]["status"] == "failed" and rows[name]["error"]
        assert name in result.stderr
    assert results_in(out) == ["good.jpg"]


def test_shared_stems_do_not_collide_and_ext_converts(models_folder, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(PHOTOS / "lowres_portrait2.jpg", inputs / "a.jpg")
    shutil.copy(PHOTOS / "portrait_png.png", inputs / "a.png")
    result = run_cli(models_folder, str(inputs / "a.*"), "-o", str(tmp_path / "out"), "--ext", "webp", "-q")
    assert result.returncode == 0, result.stderr
    assert results_in(tmp_path / "out") == ["a_jpg.webp", "a_png.webp"]


def test_aligned_mode_outputs_model_size_crops(models_folder, tmp_path):
    from PIL import Image

    result = run_cli(models_folder, str(PHOTOS / "aligned_face_512.png"), "-o", str(tmp_path), "--aligned", "-q")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "aligned_face_512.png").size == (64, 64)   # the tiny test model's size


@pytest.mark.parametrize("args", [["--batch-size", "0"], ["--strength", "-5"], ["--device", "cuda:9"], []])
def test_bad_usage_exits_2(models_folder, tmp_path, args):
    needs_output = [] if not args else ["-o", str(tmp_path)]
    result = run_cli(models_folder, str(PHOTOS), *needs_output, *args)
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_missing_model_with_downloads_off_names_file_folder_and_url(tmp_path):
    result = run_cli(tmp_path, str(PHOTOS / "lowres_portrait2.jpg"), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert "GPEN-BFR-512.pth" in result.stderr and str(tmp_path) in result.stderr and "https://" in result.stderr


def test_killed_run_resumes_with_skip_existing(models_folder, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for copy in range(4):
        for photo in PHOTOS.iterdir():
            shutil.copy(photo, inputs / f"{copy}_{photo.name}")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "gpen", str(inputs), "-o", str(out), "-q", "--batch-size", "1"],
                               cwd=REPO, env=cli_environment(models_folder), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240

    def finished() -> int:   # complete results only: a temporary file being written starts with "."
        return sum(not path.name.startswith(".") for path in out.glob("*")) if out.is_dir() else 0
    while time.monotonic() < deadline and finished() < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished_before = {path.name for path in out.iterdir() if not path.name.startswith(".")}
    total = len(list(inputs.iterdir()))
    assert 3 <= len(finished_before) < total, "the run was not interrupted halfway"
    result = run_cli(models_folder, str(inputs), "-o", str(out), "--skip-existing", "-q",
                     "--report", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "r.json").read_text())
    skipped = {Path(row["output"]).name for row in rows if row["status"] == "skipped"}
    assert skipped == finished_before, (sorted(skipped ^ finished_before), [r for r in rows if r["status"] != "ok"])
    names = results_in(out)
    assert len(names) == total and not any(name.startswith(".") for name in names)   # no temporary left
    from PIL import Image
    for name in names:
        with Image.open(out / name) as image:
            image.load()   # every result is a complete image
