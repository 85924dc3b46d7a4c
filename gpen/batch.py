"""Files in, files out: the batch run shared by the command line and the web UI.

Photos are read, restored a few at a time (their faces batched together on the device) and written
under their own names. Reading the next photos and writing finished ones run on worker threads
while the network works. A bad file becomes a failed row, never the end of the run; a full disk
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

from .engine import Engine, EnhanceOptions, EnhanceResult
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

    chunk_size = engine.config.batch_size
    chunks = [pending[start:start + chunk_size] for start in range(0, len(pending), chunk_size)]
    stopped: str | None = None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="gpen-io") as workers:
        def read(chunk: list[int]) -> list[tuple[LoadedImage | Exception, float]]:
            return [_timed_load(inputs[index], save.max_pixels) for index in chunk]

        upcoming = workers.submit(read, chunks[0]) if chunks else None
        writes: list[tuple[int, Future, FileReport]] = []
        for number, chunk in enumerate(chunks):
            loaded = upcoming.result()
            upcoming = workers.submit(read, chunks[number + 1]) if number + 1 < len(chunks) else None
            stopped = stopped or _collect_writes(writes, record)
            if stopped:
                break
            good = [(index, image, seconds) for index, (image, seconds) in zip(chunk, loaded)
                    if isinstance(image, LoadedImage)]
            for index, (image, seconds) in zip(chunk, loaded):
                if isinstance(image, Exception):
                    record(index, FileReport(str(inputs[index]), None, "failed", seconds=seconds, error=str(image)))
            started = time.perf_counter()
            results = _enhance_each(engine, [image.rgb for _, image, _ in good], options)
            share = (time.perf_counter() - started) / max(1, len(good))
            for (index, image, seconds), result in zip(good, results):
                row = FileReport(str(inputs[index]), str(outputs[index]),
                                 "ok" if result.face_count or options.aligned else "no_faces",
                                 result.face_count, seconds + share)
                if not result.ok:
                    record(index, FileReport(row.input, None, "failed", result.face_count, row.seconds, result.error))
                    continue
                alpha = _fit_alpha(image.alpha, result.image.shape[:2])
                writes.append((index, workers.submit(_timed_save, outputs[index], result.image, alpha, save.quality), row))
        stopped = stopped or _collect_writes(writes, record)
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


def _enhance_each(engine: Engine, images: list[np.ndarray], options: EnhanceOptions) -> list[EnhanceResult]:
    """``engine.enhance``, where an exception fails only the photo that raised it.

    The engine reports a photo's ordinary failures in its result; anything it raises instead (a
    device error, memory exhausted outside the network) would otherwise end the whole run. The
    photos are then retried one at a time, and a photo that raises alone gets an error result,
    never its unrestored image.
    """
    try:
        return engine.enhance(images, options)
    except Exception as error:  # noqa: BLE001  one photo's failure must not end the batch
        if len(images) > 1:
            log.warning("restoring %d photos together failed (%s: %s); trying them one at a time",
                        len(images), type(error).__name__, error)
            return [_enhance_each(engine, [image], options)[0] for image in images]
        log.exception("restoring a photo failed")
        return [EnhanceResult(None, error=f"restoration failed: {type(error).__name__}: {error}")]


def _timed_save(path: Path, rgb: np.ndarray, alpha: np.ndarray | None, quality: int) -> float:
    started = time.perf_counter()
    save_image(path, rgb, alpha, quality=quality)
    return time.perf_counter() - started


def _collect_writes(writes: list[tuple[int, Future, FileReport]], record: Callable[[int, FileReport], None]) -> str | None:
    """Finish the queued writes; returns why the run must stop (a full disk), or None."""
    stop = None
    for index, future, row in writes:
        try:
            seconds = future.result()
        except ImageWriteError as error:
            record(index, FileReport(row.input, None, "failed", row.faces, row.seconds, str(error)))
            cause = error.__cause__
            if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
                stop = "the disk is full"
            continue
        except Exception as error:  # noqa: BLE001  (save_image wraps its own errors; this is a last resort)
            log.exception("writing %s failed", row.output)
            record(index, FileReport(row.input, None, "failed", row.faces, row.seconds,
                                     f"Cannot write {row.output}: {type(error).__name__}: {error}"))
            continue
        record(index, FileReport(row.input, row.output, row.status, row.faces, row.seconds + seconds))
    writes.clear()
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
