"""The command line as a real process on the real test photos."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tiny_models
from bad_inputs import CASE_IDS, CASES, assert_nothing_lost, check_pixels, output_for, read_report, sky_png
from cli_process import REPO, CliRun, cli_environment, results_in, run_cli, start_cli
from gpen import registry
from gpen.inputs import RESULTS_MANIFEST
from photos import PHOTOS

GIB = 1 << 30


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

# ---- a folder of every bad input -----------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(bad_inputs, models_folder, tmp_path_factory) -> tuple[CliRun, list[dict], Path]:
    """One CLI run (progress bar on) over the folder of every case."""
    folder, _ = bad_inputs
    work = tmp_path_factory.mktemp("cli_run")
    run = run_cli(models_folder, str(folder), "-o", str(work / "out"), "--report", str(work / "report.json"),
                  "--batch-size", "8")
    assert "Traceback" not in run.stderr, run.stderr
    return run, read_report(work / "report.json"), work / "out"


def test_cli_run_goes_on_past_every_bad_file_and_loses_nothing(bad_inputs, cli_run):
    run, rows, out = cli_run
    assert run.returncode == 1, run.stderr   # some inputs failed
    failed = sum(not case.ok for case in CASES)
    assert f"{len(CASES) - failed} restored" in run.stderr and f"{failed} failed" in run.stderr
    assert_nothing_lost(*bad_inputs, out, rows, len(CASES))
    # A 24-megapixel photo is 72 MB, but the test detector reports about 8 faces covering all of it, so
    # pasting needs several hundred MB. Measured peaks of this run (models included): 1.46-1.92 GiB on
    # a quiet machine, up to 2.59 GiB under a full parallel test load (thread timing of the pipelined
    # stages, malloc arenas). The bound catches a return of the 4 GiB blow-up that banded pasting fixed.
    assert run.peak_rss_bytes < 3 * GIB, f"peak RSS {run.peak_rss_bytes / GIB:.2f} GiB"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cli_result_for_each_input(bad_inputs, cli_run, case):
    folder, _ = bad_inputs
    run, rows, _ = cli_run
    row = next(row for row in rows if Path(row["input"]).name == case.name)
    if case.ok:
        assert row["status"] == "ok" and row["error"] is None and row["faces"] > 0
        check_pixels(case, output_for(case, row), folder / case.name)
    else:
        assert row["status"] == "failed" and row["output"] is None
        assert case.reason in row["error"] and str(folder / case.name) in row["error"]
        assert f"failed: Cannot read {folder / case.name}: " in run.stderr


# ---- no faces, and CUDA asked for without a GPU: one run with a detector that finds nothing ------


@pytest.fixture(scope="module")
def blind_run(models_folder, tmp_path_factory) -> tuple[CliRun, list[dict], Path, Path]:
    blind = tmp_path_factory.mktemp("blind_models")
    for path in models_folder.iterdir():
        shutil.copy(path, blind / path.name)
    detector = blind / registry.get_spec(registry.DEFAULT_DETECTOR).file_name
    torch.save(tiny_models.tiny_detector_state_dict(finds="none"), detector)
    work = tmp_path_factory.mktemp("blind_run")
    photos = work / "in"
    photos.mkdir()
    (photos / "sky.png").write_bytes(sky_png())
    shutil.copy(PHOTOS / "portrait_png.png", photos / "portrait.png")
    run = run_cli(blind, str(photos), "-o", str(work / "out"), "--report", str(work / "report.json"),
                  "--device", "cuda", "-q")
    return run, read_report(work / "report.json"), photos, work / "out"


def test_photo_without_faces_is_a_success_and_comes_back_unchanged(blind_run):
    run, rows, photos, out = blind_run
    assert run.returncode == 0, run.stderr
    assert [row["status"] for row in rows] == ["no_faces", "no_faces"]
    assert "0 restored (0 faces), 2 without faces" in run.stderr
    for name in ("sky.png", "portrait.png"):
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(photos / name)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cli_cuda_without_gpu_says_so_and_finishes_on_the_cpu(blind_run):
    run, rows, _, _ = blind_run
    assert run.returncode == 0
    assert "note: CUDA was asked for but no CUDA GPU is available; running on the CPU instead." in run.stderr
    assert "on cpu" in run.stderr and len(rows) == 2

# ---- no run overwrites or multiplies a file ------------------------------------------------------


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
    interrupted = [row for row in rows if row["status"] == "stopped" and row["error"] == "not processed: interrupted"]
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
