"""The batch run (``gpen.batch.process_files``) with stand-in parts whose effect is known: every bad input
gets its row and loses nothing, and faults (out of memory, a full disk, a device error) fail only the photos
they touch or stop the run cleanly with every finished result intact."""
from __future__ import annotations

import dataclasses
import errno
import io
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from bad_inputs import CASES, as_rows, assert_nothing_lost, check_pixels, output_for, sha256_of, write_photos
from doubles import DeviceFault, IdentityRestorer, OutOfMemoryOnBlack, face_at, stand_in_engine
from PIL import Image
from small_disk import tmpfs

from gpen import stage_workers
from gpen.batch import process_files
from gpen.errors import ImageWriteError
from gpen.images import load_image
from gpen.reports import write_report


@pytest.fixture(params=["in turn", "overlapped"])
def stages(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test twice: the stages in turn (a CPU) and overlapped on worker threads (a GPU's path)."""
    if request.param == "overlapped":
        monkeypatch.setattr(stage_workers, "overlaps", lambda device: True)
    return request.param


# ---- every bad input -----------------------------------------------------------------------------


def test_api_process_files_gives_each_input_its_result_and_loses_nothing(bad_inputs, tmp_path, stages):
    folder, digests = bad_inputs
    paths = [folder / case.name for case in CASES]
    reports = process_files(stand_in_engine(), paths, tmp_path / "out")
    assert [report.input for report in reports] == [str(path) for path in paths]
    assert_nothing_lost(folder, digests, tmp_path / "out", as_rows(reports), len(CASES))
    for case, report in zip(CASES, reports):
        if not case.ok:
            assert report.status == "failed" and case.reason in report.error
            assert str(folder / case.name) in report.error
            continue
        assert report.status == "ok" and report.faces == 1, report
        output = output_for(case, dataclasses.asdict(report))
        check_pixels(case, output, folder / case.name)
        # Identity restorer: the result is the decoded input (upright, in RGB) up to resampling
        # inside the face and JPEG re-encoding, whatever the file's mode or orientation.
        expected = load_image(folder / case.name).rgb.astype(int)
        got = np.asarray(Image.open(output).convert("RGB")).astype(int)
        assert np.abs(got - expected).mean() < 3.0, case.name


# ---- out of memory -------------------------------------------------------------------------------


def test_out_of_memory_splits_down_to_one_face_and_fails_only_that_photo(tmp_path, stages):
    paths = write_photos(tmp_path / "in", 3)
    Image.new("RGB", (160, 120)).save(tmp_path / "in" / "black.png")
    paths.insert(1, tmp_path / "in" / "black.png")
    digests = sha256_of(tmp_path / "in")
    faces = [face_at(10, 10, 60), face_at(80, 30, 70)]   # two faces per photo: 8 crops in one batch
    flaky = OutOfMemoryOnBlack(IdentityRestorer(128), limit=2)
    reports = process_files(stand_in_engine(flaky, faces, batch_size=8), paths, tmp_path / "out")
    reference = process_files(stand_in_engine(None, faces, batch_size=1), paths, tmp_path / "reference")

    assert flaky.batch_sizes[0] == 8 and 1 in flaky.batch_sizes          # split 8 -> 4 -> 2 -> 1
    black = reports[1]
    assert black.status == "failed" and black.output is None
    assert "out of memory on cpu even for a single face" in black.error
    assert not (tmp_path / "out" / "black.png").exists()
    for report, same in zip(reports, reference):
        if report is not black:
            assert report.status == "ok" and report.faces == 2
            assert np.array_equal(np.asarray(Image.open(report.output)), np.asarray(Image.open(same.output)))
    assert_nothing_lost(tmp_path / "in", digests, tmp_path / "out", as_rows(reports), 4)


# ---- a full disk ---------------------------------------------------------------------------------


class DiskFillsUp:
    """Stands in for PIL's ``Image.save`` (``install``): ``room`` saves succeed, then every save
    writes a little and fails with ENOSPC, as a real full disk does."""

    def __init__(self, room: int):
        self.room, self.attempts = room, 0
        self.lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_save = Image.Image.save

        def save(image: Image.Image, handle: io.RawIOBase, *args: object, **kwargs: object) -> None:
            with self.lock:
                self.attempts += 1
                full = self.attempts > self.room
            if full:
                handle.write(b"\x89PNG partial")
                raise OSError(errno.ENOSPC, "No space left on device")
            real_save(image, handle, *args, **kwargs)

        monkeypatch.setattr(Image.Image, "save", save)


def test_disk_full_stops_the_run_cleanly_and_keeps_what_was_written(tmp_path, monkeypatch, stages):
    paths = write_photos(tmp_path / "in", 10)
    digests = sha256_of(tmp_path / "in")
    disk = DiskFillsUp(room=3)
    disk.install(monkeypatch)
    reports = process_files(stand_in_engine(batch_size=2), paths, tmp_path / "out")
    monkeypatch.undo()

    assert_nothing_lost(tmp_path / "in", digests, tmp_path / "out", as_rows(reports), len(paths))
    written = [report for report in reports if report.status == "ok"]
    assert len(written) == 3
    for report in written:   # intact: exactly what the same photo gives on a disk with room
        again = process_files(stand_in_engine(), [Path(report.input)], tmp_path / "again")[0]
        assert Path(report.output).read_bytes() == Path(again.output).read_bytes()
    for report in reports:
        if report.status == "failed":
            assert "disk full" in report.error or "the disk is full" in report.error, report.error
    assert any("not processed: the run stopped (the disk is full)" == report.error for report in reports)
    assert disk.attempts <= 3 + 2 * 2, "the run went on writing after the disk was full"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs."""
    with tmpfs(tmp_path / "small disk", "2m") as disk:
        yield disk


def test_a_real_full_disk_stops_the_run_and_leaves_nothing_partial(tmp_path, small_disk):
    paths = write_photos(tmp_path / "in", 12, size=(480, 360))   # about 400 kB per PNG result
    digests = sha256_of(tmp_path / "in")
    out = small_disk / "out"
    reports = process_files(stand_in_engine(batch_size=2), paths, out)
    assert_nothing_lost(tmp_path / "in", digests, out, as_rows(reports), len(paths))
    written = [report for report in reports if report.status == "ok"]
    assert 1 <= len(written) < len(paths)
    assert all("disk full" in report.error or "the disk is full" in report.error
               for report in reports if report.status == "failed")
    # Fill what is left: then the report cannot be written there either, and leaves nothing.
    with open(small_disk / "filler", "wb", buffering=0) as filler, pytest.raises(OSError):
        while True:
            filler.write(bytes(1 << 16))
    with pytest.raises(ImageWriteError, match="Cannot write the report"):
        write_report(reports, small_disk / "report.json")
    assert sorted(path.name for path in small_disk.iterdir()) == ["filler", "out"]


# ---- a device error ------------------------------------------------------------------------------


def test_device_error_fails_its_photos_with_the_reason_and_the_batch_goes_on(tmp_path, stages):
    paths = write_photos(tmp_path / "in", 4)
    for path in paths[:2]:   # the first chunk (two photos) meets the device error
        Image.new("RGB", (160, 120)).save(path)
    digests = sha256_of(tmp_path / "in")
    fault = DeviceFault(IdentityRestorer(128))
    reports = process_files(stand_in_engine(fault, batch_size=2), paths, tmp_path / "out")
    assert [report.status for report in reports] == ["failed", "failed", "ok", "ok"]
    for report in reports[:2]:
        assert "illegal memory access" in report.error and report.output is None
    assert_nothing_lost(tmp_path / "in", digests, tmp_path / "out", as_rows(reports), 4)


# ---- the thread budget ---------------------------------------------------------------------------


class ThreadsSeen:
    """Wraps an engine's stages to note the thread each runs in, and how many run at once."""

    def __init__(self, engine):
        self.threads: dict[str, set[str]] = {"prepare": set(), "restore": set(), "finish": set()}
        self.running = self.most_at_once = 0
        self.lock = threading.Lock()
        for stage in self.threads:
            setattr(engine, stage, self.watch(stage, getattr(engine, stage)))

    def watch(self, stage, function):
        def watched(*args, **kwargs):
            with self.lock:
                self.threads[stage].add(threading.current_thread().name)
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.running -= 1
        return watched


def test_on_the_cpu_the_stages_take_turns_in_the_calling_thread(tmp_path):
    paths = write_photos(tmp_path / "in", 6)
    engine = stand_in_engine(batch_size=2)
    seen = ThreadsSeen(engine)
    reports = process_files(engine, paths, tmp_path / "out")
    assert [report.status for report in reports] == ["ok"] * 6
    caller = threading.current_thread().name
    assert seen.threads == {"prepare": {caller}, "restore": {caller}, "finish": {caller}}
    assert seen.most_at_once == 1


def test_overlapped_as_on_a_gpu_the_stages_run_beside_the_network_with_the_same_results(tmp_path, monkeypatch):
    """The GPU's overlapped path, run on the CPU: reading and detecting ahead, finishing behind."""
    paths = write_photos(tmp_path / "in", 6)
    in_turn = process_files(stand_in_engine(batch_size=2), paths, tmp_path / "in turn")
    monkeypatch.setattr(stage_workers, "overlaps", lambda device: True)
    engine = stand_in_engine(batch_size=2)
    seen = ThreadsSeen(engine)
    overlapped = process_files(engine, paths, tmp_path / "overlapped")
    caller = threading.current_thread().name
    assert seen.threads["restore"] == {caller}
    assert all(name.startswith("gpen-prepare") for name in seen.threads["prepare"])
    assert all(name.startswith("gpen-finish") for name in seen.threads["finish"])
    for one, other in zip(in_turn, overlapped):
        assert one.status == other.status == "ok"
        assert Path(one.output).read_bytes() == Path(other.output).read_bytes()
