"""The work behind the Single and Batch tabs and their endpoints: a photo, or many, restored into new
folders on the shared engine (under its lock), with every failure turned into a message for the person."""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import gradio as gr

from gpen import Engine, EnhanceOptions
from gpen.batch import FileOutcome, process_files, restore_file
from gpen.errors import GpenError, ModelFileError
from gpen.face_boxes import draw_face_boxes
from gpen.faces import Face
from gpen.images import load_image
from gpen.output_names import plan_output_paths
from gpen.reports import FileReport, write_report

from .clients import ClientWatch
from .engine_holder import EngineHolder
from .files import (
    BatchInput,
    BatchLimits,
    RequestFolders,
    collect_inputs,
    count_photos,
    new_batch_folder,
    outputs_root,
    save_preview,
)
from .batch_progress import BatchProgress
from .gallery import batch_gallery
from .i18n import said, text, worded
from .messages import error_popup, problem_key
from .reports import named_row
from .running import RunningJobs

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class SingleOutcome:
    """One restored photo: the result file, the previews for the slider, and what happened."""

    result_file: Path
    before_preview: Path
    after_preview: Path
    info: dict[str, Any]


@dataclass(frozen=True)
class FacesFound:
    """The faces found in one photo, numbered as on the preview (``faces[0]`` is face 1)."""

    preview: Path
    faces: list[Face]


@dataclass(frozen=True)
class BatchOutcome:
    """One batch: a row per input (named as the person knows it), the result files and the folder."""

    rows: list[FileReport]
    results: list[tuple[Path, str]]       # (result file, name shown)
    folder: Path
    work: Path
    seconds: float
    client_left: bool = False             # its client went away before the end
    stop_asked: bool = False              # the person pressed Stop
    gallery: list[tuple[str, str]] = dataclasses.field(default_factory=list)   # (before | after, caption)


class Jobs:
    """Restores uploads on the shared engine: one photo (``restore_photo``) or a batch (``restore_batch``)."""

    def __init__(self, holder: EngineHolder, folders: RequestFolders, limits: BatchLimits | None = None,
                 clients: ClientWatch | None = None):
        self.holder = holder
        self.folders = folders
        self.limits = limits or BatchLimits()
        self.clients = clients or ClientWatch()          # tells a batch when its client has gone
        self.running = RunningJobs()                     # lets a tab's Stop button reach its job

    def with_engine(self, language: str, work: Callable[[Engine], T]) -> T:
        """Run ``work`` on the shared engine under its lock; a missing model becomes a clear message."""
        try:
            with self.holder.use() as engine:
                return work(engine)
        except ModelFileError as error:
            raise error_popup(text("models_missing", language, error=said(error, language)), language) from None
        except GpenError as error:
            raise error_popup(said(error, language), language) from None

    def find_faces(self, path: str | Path | None, language: str, landmarks: bool = False) -> FacesFound:
        """Find the faces of one uploaded photo and draw the numbered preview into a new request folder."""
        if not path:
            raise error_popup(text("no_photo", language), language)
        try:
            loaded = load_image(path, max_pixels=self.holder.settings.output.max_pixels)
        except GpenError as error:
            message = said(error, language).replace(str(path), Path(path).name)
            raise error_popup(text("cannot_read", language, error=message), language) from None
        faces = self.with_engine(language, lambda engine: engine.find_faces(loaded.rgb))
        preview = save_preview(draw_face_boxes(loaded.rgb, faces, landmarks), self.folders.new() / "faces.jpg")
        return FacesFound(preview, faces)

    def restore_photo(self, path: str | Path | None, options: EnhanceOptions, language: str) -> SingleOutcome:
        """Restore one uploaded photo into a new request folder."""
        if not path:
            raise error_popup(text("no_photo", language), language)
        started = time.perf_counter()
        settings = self.holder.settings
        folder = self.folders.new()
        save = settings.output
        [target] = plan_output_paths([Path(path)], folder, save.extension, suffix="_restored")

        def run(engine: Engine) -> tuple[FileOutcome, dict[str, Any]]:
            used = {"model": engine.model_name, "device": engine.plan.device.type, "precision": engine.plan.precision}
            return restore_file(engine, Path(path), target, options, save), used   # as a batch does each file

        outcome, used = self.with_engine(language, run)
        report, loaded, result = outcome.report, outcome.loaded, outcome.result
        if loaded is None:
            message = worded(report.error, language).replace(str(path), Path(path).name)
            raise error_popup(text("cannot_read", language, error=message), language)
        if not result.ok:
            raise error_popup(text("failed", language, error=worded(result.error, language)), language)
        if report.status == "failed":    # restored, but the result could not be written
            raise error_popup(worded(report.error, language), language)
        try:
            before = save_preview(loaded.rgb, folder / "before.jpg")
            after = save_preview(result.image, folder / "after.jpg")
        except GpenError as error:
            raise error_popup(said(error, language), language) from None
        no_faces = result.face_count == 0 and not options.aligned
        info = {
            "file": target.name, "faces": result.face_count, "width": int(result.image.shape[1]),
            "height": int(result.image.shape[0]), **used, "seconds": round(time.perf_counter() - started, 3),
            "stage_seconds": {stage: round(seconds, 3) for stage, seconds in result.seconds.items()},
            "options": dataclasses.asdict(options),
            "notice": text("no_faces_notice", language) if no_faces else None,
            "note": report.note,
        }
        return SingleOutcome(target, before, after, info)

    def restore_batch(self, uploads: Sequence[str | Path] | None, options: EnhanceOptions, language: str,
                      progress: gr.Progress | None, session: str | None = None, gallery: bool = False) -> BatchOutcome:
        """Restore every uploaded photo (ZIPs unpacked) into a new folder under ``outputs/``. When the person
        presses Stop (``running.stop("batch", session)``) or the client of ``session`` goes away, the batch
        finishes the photos in flight and stops, keeping the photos done so far; the rest are "stopped".
        With ``gallery``, each result also gets a before | after thumbnail."""
        started = time.perf_counter()
        settings = self.holder.settings
        work, inputs, left_out = self._unpack(uploads, language, progress)
        folder = _results_folder(language)
        names = {str(item.path): item.name for item in inputs}
        tracker = BatchProgress(names, language)
        unit = text("unit_photos", language)

        def advance(done: int, total: int, report: FileReport) -> None:
            line = tracker.record(report)
            if progress is not None:
                progress(tracker.done, desc=line, unit=unit)

        def run(engine: Engine) -> list[FileReport]:
            tracker.started = time.perf_counter()     # the time left counts from here, not from the wait
            if progress is not None:
                progress(tracker.done, desc=tracker.line(), unit=unit)
            return process_files(engine, [item.path for item in inputs], folder, options, settings.output, advance,
                                 stop=job.stop)

        if progress is not None:
            progress(0, desc=text("loading_model", language))
        with self.clients.stop_signal(session) as stop, self.running.running("batch", session, stop) as job:
            try:
                reports = self.with_engine(language, run) if inputs else []
            except gr.Error:
                _remove_empty(folder)     # the models were missing: no empty folder left behind
                raise
        asked, client_left = job.asked.is_set(), stop.is_set() and not job.asked.is_set()
        if stop.is_set():
            log.info("batch stopped (%s): %d of %d photos done, kept in %s",
                     "Stop pressed" if asked else "its client went away",
                     sum(report.output is not None for report in reports), len(reports), folder)
        rows = [named_row(report, names.get(report.input, Path(report.input).name)) for report in reports]
        rows += [named_row(row, row.input) for row in left_out]
        try:
            write_report(rows, folder / "report.json")
        except GpenError as error:
            log.warning("%s", error)
        results = [(Path(row.output), row.input) for row in rows if row.output and row.status != "failed"]
        thumbnails = []
        if gallery and not client_left:
            pairs = [(Path(report.input), Path(report.output), names[report.input]) for report in reports
                     if report.output and report.status not in ("failed", "stopped")]
            thumbnails = batch_gallery(pairs, work / "thumbnails", settings.output.max_pixels)
        _remove_tree(work / "inputs")
        return BatchOutcome(rows, results, folder, work, time.perf_counter() - started, client_left, asked,
                            thumbnails)

    def _unpack(self, uploads: Sequence[str | Path] | None, language: str,
                progress: gr.Progress | None) -> tuple[Path, list[BatchInput], list[FileReport]]:
        """A new request folder, the photos of the uploads (ZIPs unpacked into it) and the rows of the files
        left out; too many files, or none, is an error for the person."""
        if not uploads:
            raise error_popup(text("no_files", language), language)
        uploads = [Path(upload) for upload in uploads]
        count = count_photos(uploads)
        if count > self.limits.max_files:
            raise error_popup(text("too_many_files", language, count=count, limit=self.limits.max_files), language)
        work = self.folders.new()
        archives = [upload.name for upload in uploads if upload.suffix.lower() == ".zip"]
        if progress is not None and archives:
            progress(0, desc=text("unpacking", language, name=", ".join(archives)))
        inputs, left_out = collect_inputs(uploads, work / "inputs", self.limits)
        return work, inputs, left_out


def _results_folder(language: str) -> Path:
    """A new batch folder under ``outputs/``, or a message for the person saying why there is none."""
    try:
        return new_batch_folder(outputs_root())
    except OSError as error:
        log.error("cannot create a folder for the results in %s: %s", outputs_root(), error)
        key = "disk_full" if problem_key(error) == "disk_full" else "results_folder_failed"
        raise error_popup(text(key, language), language) from None


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:   # not empty, or already gone
        pass
