"""The cluster run (``gpen.cluster``) on one local Ray shared by these tests: the same rows and byte-identical
results as the single-machine run, bad files as rows, two workers, inputs read through a pyarrow
filesystem, and the command line's ``--cluster``."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from bad_inputs import CASES, LONG_NAME, as_rows, assert_nothing_lost, sha256_of, write_photos
from photos import PHOTOS
from video_models import DETECTOR, trained_models_folder

from gpen.batch import SaveOptions, process_files
from gpen.cluster import list_inputs, restore_on_cluster
from gpen.engine import Engine
from gpen.options import EngineConfig, options_for_mode
from gpen.reports import FileReport, write_report

# Left out for time (each is covered by the single-machine tests): the 24-megapixel photo.
SLOW_CASES = {"huge 6000x4000.jpg"}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """The tiny restorer and parser with the trained detector, so that real faces are found."""
    return trained_models_folder(tmp_path_factory.mktemp("cluster_models"),
                                 tmp_path_factory.getbasetemp() / "trained_detector")


def engine_config(models: Path, batch_size: int = 4) -> EngineConfig:
    return EngineConfig(detector=DETECTOR, device="cpu", batch_size=batch_size, models_folder=models,
                        download=False)


def assert_same_results(cluster: list[FileReport], single: list[FileReport]) -> None:
    """Row for row the same outcome, and every result the same bytes under the same name."""
    assert len(cluster) == len(single)
    for mine, theirs in zip(cluster, single):
        assert (mine.input, mine.status, mine.faces, mine.error, mine.note) == \
               (theirs.input, theirs.status, theirs.faces, theirs.error, theirs.note)
        assert (mine.output is None) == (theirs.output is None), mine
        if mine.output is not None:
            assert Path(mine.output).name == Path(theirs.output).name
            assert Path(mine.output).read_bytes() == Path(theirs.output).read_bytes(), mine.input


def archive(folder: Path, bad_inputs: tuple[Path, dict[str, str]]) -> list[Path]:
    """The real test photos and every bad-input case but the slowest, in one folder."""
    folder.mkdir()
    for photo in PHOTOS.iterdir():
        shutil.copy(photo, folder / photo.name)
    cases, _ = bad_inputs
    for case in CASES:
        if case.name not in SLOW_CASES:
            shutil.copy(cases / case.name, folder / case.name)
    return sorted(folder.iterdir())


def test_an_archive_with_bad_files_matches_the_single_machine_run(ray_cluster, models, bad_inputs, tmp_path):
    inputs = archive(tmp_path / "in", bad_inputs)
    digests = sha256_of(tmp_path / "in")
    options = options_for_mode("detail", strength=0.8)
    save = SaveOptions(quality=90)
    single = process_files(Engine(engine_config(models)), inputs, tmp_path / "single", options, save)
    done: list[int] = []
    cluster = restore_on_cluster(inputs, tmp_path / "cluster", engine_config(models), options, save,
                                 address="local", workers=1, on_progress=lambda count, total, report: done.append(count))

    assert done == list(range(1, len(inputs) + 1))
    assert_same_results(cluster, single)
    assert_nothing_lost(tmp_path / "in", digests, tmp_path / "cluster", as_rows(cluster), len(inputs))
    rows = {Path(report.input).name: report for report in cluster}
    for case in CASES:
        if case.name in rows and not case.ok:
            assert rows[case.name].status == "failed" and case.reason in rows[case.name].error
    assert rows["group_old_photo.jpg"].status == "ok" and rows["group_old_photo.jpg"].faces > 0
    assert rows["sky.png"].status == "no_faces"
    assert Path(rows[LONG_NAME].output).name == Path(next(r for r in single if r.input.endswith(LONG_NAME)).output).name
    write_report(cluster, tmp_path / "report.json")
    assert (tmp_path / "report.json").stat().st_size > 0


def test_two_workers_list_and_read_through_a_pyarrow_filesystem(ray_cluster, models, tmp_path, caplog):
    from pyarrow import fs

    paths = write_photos(tmp_path / "in", 8)
    (tmp_path / "in" / "notes.txt").write_text("not an input")
    single = process_files(Engine(engine_config(models, batch_size=1)), paths, tmp_path / "single",
                           save=SaveOptions(ext="jpg"))
    # Paths relative to the filesystem's root: only a listing and a read through the filesystem find them.
    filesystem = fs.SubTreeFileSystem(str(tmp_path), fs.LocalFileSystem())
    listed = list_inputs(["in"], filesystem)
    assert listed == [Path("in") / path.name for path in paths]
    with caplog.at_level(logging.INFO, logger="gpen.cluster"):
        cluster = restore_on_cluster(listed, tmp_path / "cluster", engine_config(models, batch_size=1),
                                     save=SaveOptions(ext="jpg"), workers=2, filesystem=filesystem)
    assert [report.input for report in cluster] == [str(path) for path in listed]
    assert [report.status for report in cluster] == [report.status for report in single]
    assert sum(report.status == "ok" for report in cluster) >= 6
    for mine, theirs in zip(cluster, single):
        assert (mine.faces, Path(mine.output).name) == (theirs.faces, Path(theirs.output).name)
        assert Path(mine.output).read_bytes() == Path(theirs.output).read_bytes()
    assert "2 workers took part" in caplog.text


def test_skip_existing_does_only_what_is_missing(ray_cluster, models, tmp_path):
    paths = write_photos(tmp_path / "in", 4)
    config = engine_config(models, batch_size=1)
    first = restore_on_cluster(paths[:2], tmp_path / "out", config)
    before = {report.output: Path(report.output).stat().st_mtime_ns for report in first}
    again = restore_on_cluster(paths, tmp_path / "out", config, save=SaveOptions(skip_existing=True))
    assert [report.status for report in again][:2] == ["skipped", "skipped"]
    assert all(report.status in ("ok", "no_faces") and Path(report.output).is_file() for report in again[2:])
    assert {output: Path(output).stat().st_mtime_ns for output in before} == before
