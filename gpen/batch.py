"""Files in, files out: the batch run shared by the command line and the web UI.

Photos are read, restored a few at a time (their faces batched together on the device) and written
under their own names. Reading and detecting the next photos, and pasting and writing finished
ones, run on worker threads while the network works. A bad file becomes a failed row, never the end of the run; a full disk
stops the run cleanly with every finished result intact.
"""
from __future__ import annotations

import errno
import glob
import json
import logging
import os
import secrets
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import cv2
import numpy as np

from .engine import Engine, EnhanceOptions, EnhanceResult, PhotoJob
from .errors import GpenError, ImageReadError, ImageWriteError
from .images import (DEFAULT_MAX_PIXELS, SUPPORTED_INPUT_EXTENSIONS, LoadedImage, load_image, plan_output_paths,
                     remove_stale_temporaries, save_image)

log = logging.getLogger(__name__)

FileStatus = Literal["ok", "no_faces", "skipped", "failed"]


@dataclass(frozen=True)
class FileReport:
    """What happened to one input file."""

    input: str
    output: str | None
    status: FileStatus
    faces: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class SaveOptions:
    """How results are written: format (None keeps each input's own) and JPEG/WebP quality."""

    ext: str | None = None
    quality: int = 95
    skip_existing: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS


ProgressCallback = Callable[[int, int, FileReport], None]


def find_inputs(items: Sequence[str | os.PathLike]) -> tuple[list[Path], list[FileReport]]:
    """Expand files, folders (their image files, sorted) and glob patterns into input files.

    Returns (files, failed rows for items that matched nothing). Files named directly are kept
    whatever their extension, so that a bad file gets its own error row.
    """
    files: list[Path] = []
    missing: list[FileReport] = []
    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            files.extend(sorted(child for child in path.iterdir()
                                if child.is_file() and child.suffix.lower() in SUPPORTED_INPUT_EXTENSIONS))
        elif path.exists():
            files.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(match) for match in glob.glob(text, recursive=True) if Path(match).is_file())
            if matches:
                files.extend(matches)
            else:
                missing.append(FileReport(text, None, "failed", error=f"no file matches {text}"))
        else:
            missing.append(FileReport(text, None, "failed", error=f"{text} does not exist"))
    unique = list(dict.fromkeys(files))
    return unique, missing


def process_files(engine: Engine, inputs: Sequence[Path], out_dir: Path, options: EnhanceOptions | None = None,
                  save: SaveOptions | None = None, on_progress: ProgressCallback | None = None) -> list[FileReport]:
    """Restore every input into ``out_dir``; one report per input, in input order."""
    options = options or EnhanceOptions()
    save = save or SaveOptions()
    inputs = [Path(item) for item in inputs]
    outputs = plan_output_paths(inputs, Path(out_dir), save.ext)
    reports: dict[int, FileReport] = {}
    done = 0

    def record(index: int, report: FileReport) -> None:
        nonlocal done
        reports[index] = report
        done += 1
        if on_progress is not None:
            on_progress(done, len(inputs), report)

    pending = []
    for index, (source, target) in enumerate(zip(inputs, outputs)):
        remove_stale_temporaries(target)   # left by a run that was killed while writing
        if save.skip_existing and target.is_file() and target.stat().st_size > 0:
            record(index, FileReport(str(source), str(target), "skipped"))
        else:
            pending.append(index)

    chunks = [pending[start:start + engine.config.batch_size]
              for start in range(0, len(pending), engine.config.batch_size)]
    stopped: str | None = None
    # Three stages overlap: a worker reads and detects the next chunk while this thread runs the
    # network on the current one, and another pastes, adjusts, encodes and writes finished photos.
    # One worker each, and at most two chunks in memory, keep memory bounded (pasting a
    # 24-megapixel photo alone needs about 0.5 GB).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpen-prepare") as preparer, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpen-finish") as finishers:
        def prepare(chunk: list[int]) -> list[tuple[int, LoadedImage | Exception, float, PhotoJob | None]]:
            loaded = [(index, *_timed_load(inputs[index], save.max_pixels)) for index in chunk]
            images = [image for _, image, _ in loaded if isinstance(image, LoadedImage)]
            jobs = iter(_prepare_each(engine, [image.rgb for image in images], options))
            return [(index, image, seconds, next(jobs) if isinstance(image, LoadedImage) else None)
                    for index, image, seconds in loaded]

        def finish(index: int, image: LoadedImage, seconds: float, job: PhotoJob) -> tuple[FileReport, bool]:
            """Paste and write one photo; returns its report and whether the disk is full. Never raises."""
            source = str(inputs[index])
            result = _finish_one(engine, job, options)
            spent = seconds + sum(result.seconds.values())
            if not result.ok:
                return FileReport(source, None, "failed", result.face_count, spent, result.error), False
            try:
                spent += _timed_save(outputs[index], result.image,
                                     _fit_alpha(image.alpha, result.image.shape[:2]), save.quality)
            except ImageWriteError as error:
                cause = error.__cause__
                full = isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT)
                return FileReport(source, None, "failed", result.face_count, spent, str(error)), full
            except Exception as error:  # noqa: BLE001  (save_image wraps its own errors; a last resort)
                log.exception("writing %s failed", outputs[index])
                return FileReport(source, None, "failed", result.face_count, spent,
                                  f"Cannot write {outputs[index]}: {type(error).__name__}: {error}"), False
            status: FileStatus = "ok" if result.face_count or options.aligned else "no_faces"
            return FileReport(source, str(outputs[index]), status, result.face_count, spent), False

        upcoming = preparer.submit(prepare, chunks[0]) if chunks else None
        in_flight: list[tuple[int, Future]] = []
        for number in range(len(chunks)):
            prepared = upcoming.result()
            # The previous chunk is written before the next one is read: two chunks in memory at most.
            stopped = stopped or _collect(in_flight, record)
            if stopped:
                break
            upcoming = preparer.submit(prepare, chunks[number + 1]) if number + 1 < len(chunks) else None
            for index, image, seconds, _ in prepared:
                if isinstance(image, Exception):
                    record(index, FileReport(str(inputs[index]), None, "failed", seconds=seconds, error=str(image)))
            ready = [(index, image, seconds, job) for index, image, seconds, job in prepared if job is not None]
            _restore_each(engine, [job for *_, job in ready])
            in_flight = [(index, finishers.submit(finish, index, image, seconds, job))
                         for index, image, seconds, job in ready]
        stopped = stopped or _collect(in_flight, record)
        if upcoming is not None:
            upcoming.cancel()
    for index in range(len(inputs)):
        if index not in reports:
            record(index, FileReport(str(inputs[index]), None, "failed",
                                     error=f"not processed: the run stopped ({stopped})"))
    return [reports[index] for index in range(len(inputs))]


def _timed_load(path: Path, max_pixels: int) -> tuple[LoadedImage | Exception, float]:
    started = time.perf_counter()
    try:
        image: LoadedImage | Exception = load_image(path, max_pixels=max_pixels)
    except GpenError as error:
        image = error
    except Exception as error:  # noqa: BLE001  (MemoryError on a huge photo, a decoder bug): this file fails alone
        log.exception("reading %s failed", path)
        image = ImageReadError(f"Cannot read {path}: {type(error).__name__}: {error}")
    return image, time.perf_counter() - started


# The engine reports a photo's ordinary failures in its job or result. Anything a stage raises
# instead (memory exhausted outside the network, a bug) must fail only the photo concerned, never
# end the run and never let an unrestored image through.
def _prepare_each(engine: Engine, images: list[np.ndarray], options: EnhanceOptions) -> list[PhotoJob]:
    try:
        return engine.prepare(images, options)
    except Exception as error:  # noqa: BLE001
        if len(images) > 1:
            return [_prepare_each(engine, [image], options)[0] for image in images]
        log.exception("preparing a photo failed")
        return [PhotoJob(images[0], error=f"face detection failed: {type(error).__name__}: {error}")]


def _restore_each(engine: Engine, jobs: list[PhotoJob]) -> None:
    try:
        engine.restore(jobs)
    except Exception as error:  # noqa: BLE001
        if len(jobs) > 1:
            log.warning("restoring %d photos together failed (%s: %s); trying them one at a time",
                        len(jobs), type(error).__name__, error)
            for job in jobs:
                _restore_each(engine, [job])
            return
        log.exception("restoring a photo failed")
        jobs[0].error = jobs[0].error or f"restoration failed: {type(error).__name__}: {error}"


def _finish_one(engine: Engine, job: PhotoJob, options: EnhanceOptions) -> EnhanceResult:
    try:
        return engine.finish(job, options)
    except Exception as error:  # noqa: BLE001
        log.exception("pasting a photo failed")
        return EnhanceResult(None, tuple(job.faces), job.seconds, f"pasting faces failed: {type(error).__name__}: {error}")


def _timed_save(path: Path, rgb: np.ndarray, alpha: np.ndarray | None, quality: int) -> float:
    started = time.perf_counter()
    save_image(path, rgb, alpha, quality=quality)
    return time.perf_counter() - started


def _collect(in_flight: list[tuple[int, Future]], record: Callable[[int, FileReport], None]) -> str | None:
    """Wait for the photos being finished and record them; returns why the run must stop, or None."""
    stop = None
    for index, future in in_flight:
        report, disk_full = future.result()
        record(index, report)
        if disk_full:
            stop = "the disk is full"
    in_flight.clear()
    return stop


def _fit_alpha(alpha: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray | None:
    """The input's alpha, resized when the result has another size (aligned mode)."""
    if alpha is None or alpha.shape == shape:
        return alpha
    return cv2.resize(alpha, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def write_report(reports: Sequence[FileReport], path: Path) -> None:
    """The per-file report as JSON (written whole, then renamed into place).

    A file name that is not valid UTF-8 (undecodable bytes, kept by Python as lone surrogates) is
    written as a JSON ``\\udcXX`` escape, which ``json.load`` reads back as the same ``str``.
    Raises ``ImageWriteError`` when the report cannot be written; nothing partial is left.
    """
    path = Path(path)
    text = json.dumps([asdict(report) for report in reports], indent=2, ensure_ascii=False) + "\n"
    data = text.encode("utf-8", errors="backslashreplace")
    temporary = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ImageWriteError(f"Cannot write the report {path}: {error.strerror or error}. "
                              "Free some space, check permissions or pick another file.") from error
