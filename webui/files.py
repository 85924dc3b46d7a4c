"""Files around a request: uploads and ZIPs in, result folders, previews and ZIPs out.

Results go to Gradio only from per-request folders with unguessable names under one temporary root
(removed at exit; folders older than an hour are removed as new requests come). Batch results are
also kept in a folder of their own under ``outputs/`` (``GPEN_OUTPUTS_DIR``), never served.

ZIP uploads are unpacked member by member, never with ``extractall``: each member is written under
a numbered folder by its base name only (so no path inside the ZIP can point outside), links,
non-images and system files are skipped, and the number of files and the bytes actually written are
capped while reading (the sizes a ZIP declares are not trusted). A ZIP whose directory lists entries
that overlap (one stored file claimed many times) is refused whole.
"""
from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

import cv2
import numpy as np

from gpen.atomic import atomic_file
from gpen.reports import FileReport
from gpen.image_writing import save_image
from gpen.images import SUPPORTED_INPUT_EXTENSIONS
from gpen.messages import Message

from .instances import new_instance_folder
from .settings import REPO

PREVIEW_SIDE_PX = 1600          # longest side of the before/after previews
THUMBNAIL_SIDE_PX = 512         # longest side of the gallery thumbnails
REQUEST_FOLDER_MAX_AGE_S = 3600
CHUNK_BYTES = 1 << 20
_NAME_BYTES = 180


@dataclass(frozen=True)
class BatchLimits:
    """How much one batch may hold: files in all, and bytes unpacked from ZIPs in all."""

    max_files: int = 1000
    max_unpacked_bytes: int = 4 << 30


@dataclass(frozen=True)
class BatchInput:
    """A file to restore and the name the person knows it by (its upload name, or its path in a ZIP)."""

    path: Path
    name: str


def outputs_root() -> Path:
    """``$GPEN_OUTPUTS_DIR`` if set, else ``outputs/`` in the repository."""
    override = os.environ.get("GPEN_OUTPUTS_DIR", "").strip()
    return Path(override).expanduser() if override else REPO / "outputs"


def new_batch_folder(root: Path | None = None) -> Path:
    """A new folder ``batch-YYYYmmdd-HHMMSS-<random>`` under the outputs folder."""
    root = Path(root) if root is not None else outputs_root()
    root.mkdir(parents=True, exist_ok=True)
    while True:
        folder = root / f"batch-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


class RequestFolders:
    """Per-request folders with unguessable names under one private temporary root."""

    def __init__(self, root: Path | None = None, max_age_s: float = REQUEST_FOLDER_MAX_AGE_S):
        self.root = Path(root) if root is not None else new_instance_folder()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()

    def new(self) -> Path:
        """A new empty folder; old ones are removed on the way."""
        self.remove_older_than(self.max_age_s)
        folder = self.root / secrets.token_urlsafe(24)
        folder.mkdir(mode=0o700)
        return folder

    def remove_older_than(self, age_s: float) -> None:
        with self._lock:
            limit = time.time() - age_s
            for folder in self.root.iterdir():
                if folder.name.startswith("."):
                    continue      # the owner file (see ``instances``)
                try:
                    if folder.stat().st_mtime < limit:
                        shutil.rmtree(folder, ignore_errors=True)
                except FileNotFoundError:
                    continue

    def remove_all(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ---- batch inputs -------------------------------------------------------------------------------

def collect_inputs(uploads: Sequence[str | Path], work: Path, limits: BatchLimits = BatchLimits()
                   ) -> tuple[list[BatchInput], list[FileReport]]:
    """The files to restore from the uploads (ZIPs unpacked into ``work``), and a row for each
    upload or ZIP member that is left out, with the reason."""
    inputs: list[BatchInput] = []
    rows: list[FileReport] = []
    unpacked_bytes = 0
    for number, upload in enumerate(uploads):
        path = Path(upload)
        if path.suffix.lower() == ".zip":
            found, skipped, used = unpack_zip(path, work / f"zip{number}", limits.max_files - len(inputs),
                                              limits.max_unpacked_bytes - unpacked_bytes)
            inputs.extend(found)
            rows.extend(skipped)
            unpacked_bytes += used
        elif len(inputs) >= limits.max_files:
            rows.append(FileReport(path.name, None, "skipped", error=Message("upload_too_many", limit=limits.max_files)))
        else:
            inputs.append(BatchInput(path, path.name))
    return inputs, rows


def unpack_zip(archive_path: Path, destination: Path, max_files: int, max_bytes: int
               ) -> tuple[list[BatchInput], list[FileReport], int]:
    """Unpack the images of one ZIP safely. Returns (inputs, rows for members left out, bytes written)."""
    label = archive_path.name
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        return [], [FileReport(label, None, "failed", error=Message("zip_unreadable", detail=str(error)))], 0
    inputs: list[BatchInput] = []
    rows: list[FileReport] = []
    written = 0
    with archive:
        overlapping = overlapping_entries(archive)
        if overlapping:
            return [], [FileReport(label, None, "failed", error=Message("zip_overlapping", count=overlapping))], 0
        for index, member in enumerate(archive.infolist()):
            name = _member_name(member)
            display = f"{label}/{name}"
            problem = _member_problem(member, name)
            if problem == _PASS_OVER:
                continue
            if problem is not None:
                rows.append(FileReport(display, None, "skipped", error=problem))
                continue
            if len(inputs) >= max_files:
                rows.append(FileReport(display, None, "skipped", error=Message("zip_too_many")))
                continue
            target = destination / f"{index:05d}" / _fit_name(PurePosixPath(name).name)
            try:
                size = _copy_member(archive, member, target, max_bytes - written)
            except _TooLarge:
                rows.append(FileReport(display, None, "skipped",
                                       error=Message("zip_too_large")))
                continue
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, EOFError, OSError,
                    ValueError) as error:
                rows.append(FileReport(display, None, "failed",
                                       error=Message("zip_cannot_unpack", detail=str(error))))
                continue
            written += size
            inputs.append(BatchInput(target, display))
    return inputs, rows, written


_PASS_OVER = ""   # a folder or a system file (.DS_Store, macOS resource forks, hidden files): no row


def _member_problem(member: zipfile.ZipInfo, name: str) -> str | None:
    """None for an image member to unpack, ``_PASS_OVER`` for one to pass over silently, else the
    reason it is left out."""
    if member.is_dir():
        return _PASS_OVER
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        return Message("zip_unsafe_path")
    if not parts or any(part.startswith(".") for part in parts) or parts[0] == "__MACOSX":
        return _PASS_OVER
    if (member.external_attr >> 16) & 0o170000 == 0o120000:
        return Message("zip_link")
    if PurePosixPath(name).suffix.lower() not in SUPPORTED_INPUT_EXTENSIONS:
        return Message("zip_not_image")
    return None


def count_photos(uploads: Sequence[str | Path]) -> int:
    """How many photos the uploads hold: each upload that is not a ZIP, and each image in each ZIP (read
    from the ZIPs' directories, nothing unpacked). An unreadable ZIP counts as none."""
    count = 0
    for upload in uploads:
        path = Path(upload)
        if path.suffix.lower() != ".zip":
            count += 1
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                if overlapping_entries(archive):
                    continue      # refused whole when unpacked
                count += sum(_member_problem(member, _member_name(member)) is None for member in archive.infolist())
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            continue
    return count


_LOCAL_HEADER_BYTES = 30      # the fixed part of a member's local header, before its name and extra field


def overlapping_entries(archive: zipfile.ZipFile) -> int:
    """How many entries of the ZIP's directory point into another entry's stored data (0 for a sound
    ZIP). Each entry's local header and data take at least 30 bytes plus its compressed size from its
    offset, and the entries must end before the directory starts; a ZIP that lists one stored file
    many times (a "non-recursive ZIP bomb") breaks that."""
    members = sorted(archive.infolist(), key=lambda member: member.header_offset)
    ends = [member.header_offset + _LOCAL_HEADER_BYTES + member.compress_size for member in members]
    starts = [member.header_offset for member in members[1:]] + [archive.start_dir]
    return sum(end > start for end, start in zip(ends, starts))


class _TooLarge(Exception):
    pass


def _copy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int) -> int:
    """Copy one member, stopping as soon as it passes ``budget`` bytes (whatever its header says)."""
    if member.file_size > budget:
        raise _TooLarge
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with archive.open(member) as source, open(target, "wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                size += len(chunk)
                if size > budget:
                    raise _TooLarge
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size


def _member_name(member: zipfile.ZipInfo) -> str:
    """The member's path with ``/`` separators; names from ZIP tools that do not mark UTF-8 (common
    on Chinese Windows) are read as UTF-8 or GB18030 rather than as code page 437."""
    name = member.filename
    if not member.flag_bits & 0x800:
        raw = name.encode("cp437", errors="replace")
        for encoding in ("utf-8", "gb18030"):
            try:
                name = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return name.replace("\\", "/")


def _fit_name(name: str) -> str:
    """A file name short enough for any file system, keeping its extension."""
    name = name.replace("\x00", "") or "image"
    if len(name.encode("utf-8")) <= _NAME_BYTES:
        return name
    stem, suffix = os.path.splitext(name)
    while len((stem + suffix).encode("utf-8")) > _NAME_BYTES:
        stem = stem[:-1]
    return stem + suffix


# ---- results ------------------------------------------------------------------------------------

def shrink(rgb: np.ndarray, side_px: int) -> np.ndarray:
    """The image scaled down so that its longest side is at most ``side_px`` (never up)."""
    height, width = rgb.shape[:2]
    scale = side_px / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def save_preview(rgb: np.ndarray, path: Path, side_px: int = PREVIEW_SIDE_PX) -> Path:
    """A light JPEG of the image for the browser (the full-resolution file is offered separately)."""
    return save_image(path, shrink(rgb, side_px), quality=90)


def link_or_copy(source: Path, target: Path) -> Path:
    """``target`` as a hard link to ``source`` where the file system allows, else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


def zip_results(files: Sequence[Path], extra: Sequence[Path], target: Path) -> Path:
    """One ZIP of the result files (stored, as images are compressed already) and ``extra`` files."""
    with atomic_file(target) as handle, \
            zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in files:
            archive.write(path, arcname=Path(path).name)
        for path in extra:
            archive.write(path, arcname=Path(path).name, compress_type=zipfile.ZIP_DEFLATED)
    return target
