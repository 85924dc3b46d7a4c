"""Soak: 1000 photos through the command line, watching its memory and its temporary folder.

The real test photos, downscaled to 200 px and copied to 1000 files, go through ``python -m gpen``
with the tiny test models. While it runs, its resident memory (``VmRSS`` and its high-water mark
``VmHWM`` from ``/proc/PID/status``), the number of results written and the size of its temporary
folder (``TMPDIR``, a fresh folder) are sampled every half second. After the warm-up (the first 10 %
of the photos) the resident memory must stay within 10 % of the peak reached by then: the
high-water mark, which also catches peaks between samples, may not grow by more than 10 %, nor may
the floor (the least resident memory, held between batches, where a leak shows first) from just
after the warm-up to the end of the run. The temporary folder must not grow. Every result must be there and the report must hold 1000 "ok" rows.

Run with ``pytest -m slow tests/test_soak.py -s`` to see the figures (they are also written to
``soak.json`` in the test's temporary folder and shown in any failure message).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from PIL import Image

import tiny_models
from gpen.inputs import RESULTS_MANIFEST
from photos import PHOTOS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PHOTO_COUNT = 1000
LONG_SIDE_PX = 200   # small enough that the tiny grid detector finds one face per photo
SAMPLE_EVERY_S = 0.5
WARM_UP_FRACTION = 0.10
RSS_GROWTH_LIMIT = 0.10
TIMEOUT_S = 540


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_bytes: int
    peak_rss_bytes: int
    results: int
    temp_bytes: int


def resident_bytes(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of a running process, or None once it has gone."""
    values = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    values[line[:5]] = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (values["VmRSS"], values["VmHWM"]) if len(values) == 2 else None


def mib(value: float) -> float:
    return round(value / 2**20, 1)


def folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass   # removed while we looked
    return total


def count_results(folder: Path) -> int:
    try:
        return sum(1 for entry in os.scandir(folder) if not entry.name.startswith("."))
    except FileNotFoundError:
        return 0


def write_photos(folder: Path) -> None:
    """The real photos at 200 px on the long side, copied to ``PHOTO_COUNT`` JPEG files."""
    folder.mkdir()
    sources = []
    for path in sorted(PHOTOS.iterdir()):
        with Image.open(path) as image:
            photo = image.convert("RGB")
        scale = LONG_SIDE_PX / max(photo.size)
        small = folder / f"source_{path.stem}.jpg"
        photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS).save(
            small, quality=90)
        sources.append(small.read_bytes())
        small.unlink()
    for index in range(PHOTO_COUNT):
        (folder / f"photo_{index:04d}.jpg").write_bytes(sources[index % len(sources)])


def run_and_sample(command: list[str], env: dict[str, str], log: Path, out: Path,
                   temporary: Path) -> tuple[int | None, list[Sample]]:
    """Run the command (stderr to ``log``) and sample its memory, results and temporary files until it ends;
    its exit status (None if it ran past ``TIMEOUT_S``) and the samples."""
    started = time.monotonic()
    with log.open("wb") as stderr_file:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr_file)
    samples: list[Sample] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            memory = resident_bytes(process.pid)
            if memory is not None and process.poll() is None:
                samples.append(Sample(time.monotonic() - started, *memory, count_results(out),
                                      folder_bytes(temporary)))
            stop.wait(SAMPLE_EVERY_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        returncode: int | None = process.wait(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        process.kill()
        process.wait()
        stop.set()
        sampler.join()
    return returncode, samples


def soak_figures(samples: list[Sample], warm: Sample, seconds: float, temp_bytes_at_end: int) -> dict:
    """What the soak run measured: speed, resident memory over the run, and temporary files."""
    after = [sample for sample in samples if sample.seconds >= warm.seconds]
    early = [sample.rss_bytes for sample in after if sample.results < 2 * WARM_UP_FRACTION * PHOTO_COUNT]
    late = [sample.rss_bytes for sample in after if sample.results >= (1 - WARM_UP_FRACTION) * PHOTO_COUNT]
    return {
        "photos": PHOTO_COUNT,
        "seconds": round(seconds, 1),
        "photos_per_second": round(PHOTO_COUNT / seconds, 2),
        "samples": len(samples),
        "rss_mib_after_warm_up": mib(warm.rss_bytes),
        "peak_rss_mib_after_warm_up": mib(warm.peak_rss_bytes),
        "rss_mib_max_after_warm_up": mib(max(sample.rss_bytes for sample in after)),
        "rss_mib_min_after_warm_up": mib(min(sample.rss_bytes for sample in after)),
        "rss_mib_median_10_to_20_percent": mib(statistics.median(early)) if early else None,
        "rss_mib_median_last_10_percent": mib(statistics.median(late)) if late else None,
        "rss_mib_floor_10_to_20_percent": mib(min(early)) if early else None,
        "rss_mib_floor_last_10_percent": mib(min(late)) if late else None,
        "rss_bytes_floor_10_to_20_percent": min(early) if early else None,
        "rss_bytes_floor_last_10_percent": min(late) if late else None,
        "rss_mib_at_end": mib(samples[-1].rss_bytes),
        "peak_rss_mib_at_end": mib(samples[-1].peak_rss_bytes),
        "results_at_last_sample": samples[-1].results,
        "temp_bytes_after_warm_up": warm.temp_bytes,
        "temp_bytes_max": max(sample.temp_bytes for sample in samples),
        "temp_bytes_at_end": temp_bytes_at_end,
    }


def test_a_thousand_photos_run_in_steady_memory(tmp_path: Path) -> None:
    models = tmp_path / "models"
    tiny_models.make_tiny_models(models)
    photos, out, temporary = tmp_path / "in", tmp_path / "out", tmp_path / "tmp"
    write_photos(photos)
    temporary.mkdir()
    env = dict(os.environ, GPEN_MODELS_DIR=str(models), GPEN_NO_DOWNLOAD="1", TMPDIR=str(temporary))
    log = tmp_path / "stderr.txt"
    started = time.monotonic()
    returncode, samples = run_and_sample(
        [sys.executable, "-m", "gpen", str(photos), "-o", str(out), "-q", "--batch-size", "8",
         "--report", str(tmp_path / "report.json")], env, log, out, temporary)
    seconds = time.monotonic() - started
    stderr = log.read_bytes().decode("utf-8", "backslashreplace")

    warm = next((sample for sample in samples if sample.results >= WARM_UP_FRACTION * PHOTO_COUNT), None)
    assert warm is not None, f"never got past the warm-up; {len(samples)} samples\n{stderr}"
    figures = soak_figures(samples, warm, seconds, folder_bytes(temporary))
    (tmp_path / "soak.json").write_text(json.dumps({"figures": figures, "samples": [asdict(s) for s in samples]}))
    print("\nsoak figures:", json.dumps(figures, indent=2))

    assert returncode is not None, f"still running after {TIMEOUT_S} s: {figures}"
    assert returncode == 0, stderr
    rows = json.loads((tmp_path / "report.json").read_text())
    assert len(rows) == PHOTO_COUNT and all(row["status"] == "ok" for row in rows), figures
    results = sorted(path.name for path in out.iterdir() if path.name != RESULTS_MANIFEST)
    assert results == sorted(path.name for path in photos.iterdir()), "missing, extra or temporary results"
    assert all((out / name).stat().st_size > 0 for name in results)
    # The high-water mark bounds every resident size after the warm-up, sampled or not.
    assert samples[-1].peak_rss_bytes <= (1 + RSS_GROWTH_LIMIT) * warm.peak_rss_bytes, figures
    early, late = figures["rss_bytes_floor_10_to_20_percent"], figures["rss_bytes_floor_last_10_percent"]
    assert late and early and late <= (1 + RSS_GROWTH_LIMIT) * early, figures
    assert figures["temp_bytes_at_end"] <= warm.temp_bytes + (1 << 20), figures
    assert figures["temp_bytes_max"] <= 64 << 20, figures
