"""Files in, files out: the batch run shared by the command line and the web UI.

Each input goes through one path by its kind: videos through ``gpen.video.restore_video``, one at a
time after the photos, with the same report row, manifest, resume and stop. Photos are read, restored a
few at a time (their faces batched together on the device) and written under their own names, the
stages overlapped on a GPU (``gpen.stage_workers``). A bad file fails its own row, never the run; a full
disk stops the run cleanly, every result intact.
"""
from __future__ import annotations

import errno
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .engine import Engine, EnhanceOptions, EnhanceResult
from .errors import GpenError, ImageWriteError
from .face_boxes import draw_face_boxes, face_boxes_path
from .faces import number_faces, paste_faces
from .image_writing import remove_stale_temporaries, save_image
from .images import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from .inputs import remember_result
from .messages import Message, message_of
from .options import OUTPUT_FORMATS, OutputFormat, VideoOptions
from .output_names import plan_output_paths
from .reports import FileReport, FileStatus
from .stage_workers import stage_worker
from .stages import PreparedPhoto, RestoredPhoto
from .video import FrameProgress, restore_video
from .video_formats import is_video

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SaveOptions:
    """How results are written: format ("same" or None keeps each input's own), JPEG/WebP quality, and
    whether to drop the EXIF (with GPS), XMP and text (the colour profile always stays). ``face_boxes``
    also writes each photo's face preview (``gpen.face_boxes``) into a ``face-boxes`` folder beside the results."""

    ext: OutputFormat | None = "same"
    quality: int = 95
    skip_existing: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    strip_metadata: bool = False
    face_boxes: bool = False

    def __post_init__(self) -> None:
        if self.ext is not None and self.ext not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {self.ext!r}")
        if isinstance(self.quality, bool) or not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be a whole number from 1 to 100, got {self.quality!r}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 1:
            raise ValueError(f"max_pixels must be a whole number of pixels, got {self.max_pixels!r}")
        for name in ("skip_existing", "strip_metadata", "face_boxes"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @property
    def extension(self) -> str | None:
        """The output extension, or None for each input's own."""
        return None if self.ext in (None, "same") else self.ext


def write_result(target: Path, loaded: LoadedImage, result: EnhanceResult, options: EnhanceOptions,
                 save: SaveOptions) -> str | None:
    """Write one restored photo as its input came in: metadata and colour profile, grayscale, alpha, and
    16 bits per sample where the input had them (the faces pasted again at 16 bits, so that every pixel
    outside them keeps the input's exact value). Returns a note for the report, or None."""
    notes = []
    if loaded.frames > 1:
        kind = "page" if loaded.format == "TIFF" else "frame"
        notes.append(f"only the first {kind} of {loaded.frames} was restored")
    pixels, alpha = result.image, _fit_alpha(loaded.alpha, result.image.shape[:2])
    if loaded.rgb16 is not None:
        if options.changes_whole_photo:
            pixels = result.image.astype(np.uint16) * np.uint16(257)
            notes.append("16-bit input: the whole-photo controls work at 8 bits, so every pixel is the 8-bit "
                         "result scaled to 16 bits")
        else:
            pixels = paste_faces(loaded.rgb16, result.pasted, options.strength)
        alpha = _fit_alpha(loaded.alpha16, pixels.shape[:2])
    metadata = loaded.metadata.strip_personal() if save.strip_metadata else loaded.metadata
    save_image(target, pixels, alpha, quality=save.quality, metadata=metadata, gray=loaded.gray)
    return "; ".join(notes) or None


ProgressCallback = Callable[[int, int, FileReport], None]


@dataclass(frozen=True)
class ReadPhoto:
    """One input of a batch run, read and prepared: its place in the run, the image (None when it could
    not be read, and ``error`` says why), the seconds reading took, and the engine's first stage."""

    index: int
    loaded: LoadedImage | None
    seconds: float
    error: str | None = None
    prepared: PreparedPhoto | None = None

    def failed_report(self, source: Path) -> FileReport:
        """The report row of a photo that could not be read."""
        return FileReport(str(source), None, "failed", seconds=self.seconds, error=self.error)


@dataclass(frozen=True)
class FileOutcome:
    """One file restored: its report row, and the image read and the engine's result when there are any."""

    report: FileReport
    loaded: LoadedImage | None = None
    result: EnhanceResult | None = None
    disk_full: bool = False


def restore_file(engine: Engine, source: Path, target: Path, options: EnhanceOptions | None = None,
                 save: SaveOptions | None = None) -> FileOutcome:
    """File in, file out: read one photo, restore it and write its result, as a batch run does each
    photo (the same stages and the same writing). Never raises for a bad file: the row says why."""
    options, save = options or EnhanceOptions(), save or SaveOptions()
    read = read_photo(0, source, save.max_pixels)
    if read.loaded is None:
        return FileOutcome(read.failed_report(source))
    [prepared] = _prepare_each(engine, [read.loaded.rgb], options)
    [restored] = _restore_each(engine, [prepared])
    return finish_file(engine, source, target, read, restored, options, save)


def read_photo(index: int, source: Path, max_pixels: int, data: bytes | None = None) -> ReadPhoto:
    """Read one input (decoded from ``data``, the file's bytes, when a caller has read them already: a
    cluster run); any failure becomes the photo's error, never the end of the run."""
    started = time.perf_counter()
    try:
        loaded = load_image(source if data is None else data, max_pixels=max_pixels, name=str(source))
    except GpenError as error:
        return ReadPhoto(index, None, time.perf_counter() - started, message_of(error))
    except Exception as error:  # noqa: BLE001  (MemoryError on a huge photo, a decoder bug): this file fails alone
        log.exception("reading %s failed", source)
        return ReadPhoto(index, None, time.perf_counter() - started,
                         Message("read_failed", name=source, detail=f"{type(error).__name__}: {error}"))
    return ReadPhoto(index, loaded, time.perf_counter() - started)


def finish_file(engine: Engine, source: Path, target: Path, read: ReadPhoto, restored: RestoredPhoto,
                options: EnhanceOptions, save: SaveOptions) -> FileOutcome:
    """The engine's last stage, the result written as the input came in, and the report row. Never raises."""
    result = _finish_one(engine, restored, options)
    spent = read.seconds + sum(result.seconds.values())
    if not result.ok:
        return FileOutcome(FileReport(str(source), None, "failed", result.face_count, spent, result.error),
                           read.loaded, result)
    started = time.perf_counter()
    try:
        note = write_result(target, read.loaded, result, options, save)
        remember_result(target)
        if save.face_boxes:
            note = "; ".join(filter(None, [note, _write_face_boxes(target, read.loaded, result)])) or None
    except ImageWriteError as error:
        cause = error.__cause__
        full = isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
        report = FileReport(str(source), None, "failed", result.face_count, spent, message_of(error))
        return FileOutcome(report, read.loaded, result, disk_full=full)
    except Exception as error:  # noqa: BLE001  (save_image wraps its own errors; a last resort)
        log.exception("writing %s failed", target)
        report = FileReport(str(source), None, "failed", result.face_count, spent,
                            Message("write_failed", target=target, detail=f"{type(error).__name__}: {error}"))
        return FileOutcome(report, read.loaded, result)
    spent += time.perf_counter() - started
    # "No faces" is a normal result: the photo is written unchanged and its row says so.
    status: FileStatus = "ok" if result.face_count or options.aligned else "no_faces"
    return FileOutcome(FileReport(str(source), str(target), status, result.face_count, spent, note=note),
                       read.loaded, result)


@dataclass(frozen=True)
class BatchRun:
    """What every photo of one batch run shares: the engine, the files in and out, and the options."""

    engine: Engine
    inputs: list[Path]
    outputs: list[Path]
    options: EnhanceOptions
    save: SaveOptions
    video: VideoOptions = VideoOptions()

    def read_and_prepare(self, indexes: list[int], data: Sequence[bytes | None] | None = None) -> list[ReadPhoto]:
        """Read these inputs (from ``data``, their bytes, where given) and run the engine's first stage on
        those that could be read."""
        data = data or [None] * len(indexes)
        read = [read_photo(index, self.inputs[index], self.save.max_pixels, content)
                for index, content in zip(indexes, data)]
        usable = [photo for photo in read if photo.loaded is not None]
        prepared = iter(_prepare_each(self.engine, [photo.loaded.rgb for photo in usable], self.options))
        return [replace(photo, prepared=next(prepared)) if photo.loaded is not None else photo for photo in read]

    def finish(self, photo: ReadPhoto, restored: RestoredPhoto) -> FileOutcome:
        """Finish and write one photo; the outcome keeps only its report, so that the photo's pixels are
        freed as soon as it is written (not when its step is collected)."""
        outcome = finish_file(self.engine, self.inputs[photo.index], self.outputs[photo.index], photo, restored,
                              self.options, self.save)
        return replace(outcome, loaded=None, result=None)

    def restore_step(self, indexes: list[int], data: Sequence[bytes | None] | None = None) -> list[FileOutcome]:
        """One step of a batch run in series, as ``_run_steps`` overlaps it: read and prepare these photos,
        restore all their faces together, finish and write each. One outcome per index, in order."""
        photos = self.read_and_prepare(indexes, data)
        outcomes = {photo.index: FileOutcome(photo.failed_report(self.inputs[photo.index]))
                    for photo in photos if photo.loaded is None}
        ready = [photo for photo in photos if photo.prepared is not None]
        for photo, restored in zip(ready, _restore_each(self.engine, [photo.prepared for photo in ready])):
            outcomes[photo.index] = self.finish(photo, restored)
        return [outcomes[index] for index in indexes]


@dataclass(frozen=True)
class RunPlan:
    """Which inputs a run has to do: those already done (``--skip-existing``), the photos in steps (the
    photos whose faces the network restores together) and the videos."""

    skipped: list[int]
    steps: list[list[int]]
    videos: list[int]


def plan_run(inputs: Sequence[Path], outputs: Sequence[Path], save: SaveOptions, photos_per_step: int) -> RunPlan:
    """Clear what a killed run left half-written, find the results already there (when skipping them) and
    cut the photos left into steps: the one plan of the single-machine run and the cluster run."""
    skipped, pending = [], []
    for index, (source, target) in enumerate(zip(inputs, outputs)):
        remove_stale_temporaries(target)   # left by a run that was killed while writing
        if save.skip_existing and target.is_file() and target.stat().st_size > 0:
            skipped.append(index)
        else:
            pending.append(index)
    photos = [index for index in pending if not is_video(inputs[index])]
    steps = [photos[start:start + photos_per_step] for start in range(0, len(photos), photos_per_step)]
    return RunPlan(skipped, steps, [index for index in pending if is_video(inputs[index])])


def process_files(engine: Engine, inputs: Sequence[Path], out_dir: Path, options: EnhanceOptions | None = None,
                  save: SaveOptions | None = None, on_progress: ProgressCallback | None = None,
                  stop: threading.Event | None = None, photos_per_step: int | None = None,
                  video: VideoOptions | None = None, on_frame: FrameProgress | None = None) -> list[FileReport]:
    """Restore every input (photos and videos) into ``out_dir``; one report per input, in input order.
    ``on_frame`` follows the frames of the video in progress.

    Photos go through in steps of ``photos_per_step`` (default: the engine's batch size), whose faces
    the network restores together. When ``stop`` is set, the photos in progress are finished and
    written and the rest are reported "stopped" ("not processed: interrupted")."""
    save = save or SaveOptions()
    inputs = [Path(item) for item in inputs]
    run = BatchRun(engine, inputs, plan_output_paths(inputs, Path(out_dir), save.extension),
                   options or EnhanceOptions(), save, video or VideoOptions())
    reports: dict[int, FileReport] = {}

    def record(index: int, report: FileReport) -> None:
        reports[index] = report
        if on_progress is not None:
            on_progress(len(reports), len(inputs), report)

    plan = plan_run(inputs, run.outputs, save, photos_per_step or engine.config.batch_size)
    for index in plan.skipped:
        record(index, FileReport(str(inputs[index]), str(run.outputs[index]), "skipped"))
    stopped = _run_steps(run, plan.steps, record, stop)
    stopped = stopped or _run_videos(run, plan.videos, record, stop, on_frame)
    for index in range(len(inputs)):
        if index not in reports:
            record(index, not_processed(inputs[index], stopped))
    return [reports[index] for index in range(len(inputs))]


def not_processed(source: Path, stopped: str | None) -> FileReport:
    """The row of an input a stopped run did not get to."""
    if stopped == "interrupted":
        return FileReport(str(source), None, "stopped", error=Message("not_processed_interrupted"))
    return FileReport(str(source), None, "failed", error=Message("not_processed_stopped", reason=stopped))


def _run_steps(run: BatchRun, steps: list[list[int]], record: Callable[[int, FileReport], None],
               stop: threading.Event | None) -> str | None:
    """Every step's photos through the three stages, overlapped; returns why the run stopped early, or None.

    A worker reads and detects the next step's photos while this thread runs the network on the
    current ones, and another pastes, adjusts, encodes and writes finished ones (on a CPU, this thread
    does all: ``gpen.stage_workers``). At most two steps in memory keep memory bounded (0.5 GB a 24 MP photo)."""
    stopped: str | None = None
    device = run.engine.plan.device
    with stage_worker(device, "gpen-prepare") as preparer, stage_worker(device, "gpen-finish") as finisher:
        upcoming = preparer.submit(run.read_and_prepare, steps[0]) if steps else None
        in_flight: list[tuple[int, Future]] = []
        for number in range(len(steps)):
            current = upcoming.result()
            # The previous step is written before the next one is read: two steps in memory at most.
            stopped = stopped or _collect(in_flight, record)
            if stop is not None and stop.is_set():
                stopped = stopped or "interrupted"
            if stopped:
                break
            upcoming = preparer.submit(run.read_and_prepare, steps[number + 1]) if number + 1 < len(steps) else None
            for photo in current:
                if photo.loaded is None:
                    record(photo.index, photo.failed_report(run.inputs[photo.index]))
            ready = [photo for photo in current if photo.prepared is not None]
            restored = _restore_each(run.engine, [photo.prepared for photo in ready])
            in_flight = [(photo.index, finisher.submit(run.finish, photo, done))
                         for photo, done in zip(ready, restored)]
            del current, ready, restored   # each photo's pixels now belong to its finishing task alone
        stopped = stopped or _collect(in_flight, record)
        if upcoming is not None:
            upcoming.cancel()
    return stopped


def _run_videos(run: BatchRun, indexes: list[int], record: Callable[[int, FileReport], None],
                stop: threading.Event | None, on_frame: FrameProgress | None) -> str | None:
    """Each video through its own path, one after the other; returns why the run stopped early, or None."""
    for index in indexes:
        if stop is not None and stop.is_set():
            return "interrupted"
        outcome = restore_video(run.engine, run.inputs[index], run.outputs[index], run.options, run.video, stop,
                                on_frame)
        record(index, outcome.report)
        if stop is not None and stop.is_set():
            return "interrupted"
    return None


# The engine reports a photo's ordinary failures in its records. Anything a stage raises instead
# (memory exhausted outside the network, a bug) must fail only the photo concerned, never end the
# run and never let an unrestored image through.
def _prepare_each(engine: Engine, images: list[np.ndarray], options: EnhanceOptions) -> list[PreparedPhoto]:
    try:
        return engine.prepare(images, options)
    except Exception as error:  # noqa: BLE001
        if len(images) > 1:
            return [_prepare_each(engine, [image], options)[0] for image in images]
        log.exception("preparing a photo failed")
        return [PreparedPhoto(images[0], error=Message("detection_failed", detail=f"{type(error).__name__}: {error}"))]


def _restore_each(engine: Engine, photos: list[PreparedPhoto]) -> list[RestoredPhoto]:
    try:
        return engine.restore(photos)
    except Exception as error:  # noqa: BLE001
        if len(photos) > 1:
            log.warning("restoring %d photos together failed (%s: %s); trying them one at a time",
                        len(photos), type(error).__name__, error)
            return [_restore_each(engine, [photo])[0] for photo in photos]
        log.exception("restoring a photo failed")
        return [RestoredPhoto(photos[0], (), photos[0].seconds,
                              photos[0].error or f"restoration failed: {type(error).__name__}: {error}")]


def _finish_one(engine: Engine, photo: RestoredPhoto, options: EnhanceOptions) -> EnhanceResult:
    try:
        return engine.finish(photo, options)
    except Exception as error:  # noqa: BLE001
        log.exception("pasting a photo failed")
        return EnhanceResult(None, photo.prepared.detected, photo.seconds,
                             f"pasting faces failed: {type(error).__name__}: {error}")


def _collect(in_flight: list[tuple[int, Future]], record: Callable[[int, FileReport], None]) -> str | None:
    """Wait for the photos being finished and record them; returns why the run must stop, or None."""
    stop = None
    for index, future in in_flight:
        outcome = future.result()
        record(index, outcome.report)
        if outcome.disk_full:
            stop = "the disk is full"
    in_flight.clear()
    return stop


def _write_face_boxes(target: Path, loaded: LoadedImage, result: EnhanceResult) -> str | None:
    """The face preview of a result (the faces it restored, numbered left to right, with their landmarks);
    a preview that cannot be written is a note on the photo's row, not a failure of the photo."""
    path = face_boxes_path(target)
    try:
        path.parent.mkdir(exist_ok=True)
        save_image(path, draw_face_boxes(loaded.rgb, number_faces(result.faces), landmarks=True), None, quality=90)
        remember_result(path)
    except (ImageWriteError, OSError) as error:
        return f"the face-box preview was not written: {error}"
    return None


def _fit_alpha(alpha: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """The input's alpha, resized when the result has another size (aligned mode)."""
    if alpha is None or alpha.shape == shape:
        return alpha
    return cv2.resize(alpha, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
