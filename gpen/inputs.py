"""Which files a run takes: files, folders and patterns expanded, files this loader cannot read reported,
and a run's own results never taken again (each output folder lists them in ``RESULTS_MANIFEST``)."""
from __future__ import annotations

import glob
import logging
import os
from pathlib import Path
from typing import Sequence

from .images import SUPPORTED_INPUT_EXTENSIONS, UNREADABLE_IMAGE_EXTENSIONS
from .reports import FileReport
from .video_formats import VIDEO_INPUT_EXTENSIONS

log = logging.getLogger(__name__)

RESULTS_MANIFEST = ".gpen-results.txt"
"""Kept in an output folder: the names of the results written there, so that a folder is never taken
as its own input (a rerun into the input folder would otherwise restore its own outputs)."""


def find_inputs(items: Sequence[str | os.PathLike]) -> tuple[list[Path], list[FileReport]]:
    """Expand files, folders (their image and video files, sorted) and glob patterns into input files.

    Returns (files, failed rows for items that matched nothing and for image files this loader cannot
    read, such as HEIC). Files named directly are kept whatever their extension, so that a bad file gets
    its own error row. Results this program wrote (listed in their folder's ``RESULTS_MANIFEST``) are
    left out of folders and patterns, so that no run restores its own outputs.
    """
    files: list[Path] = []
    missing: list[FileReport] = []
    manifests: dict[Path, frozenset[str]] = {}

    def add_found(found: Sequence[Path]) -> None:
        for child in found:
            if child.parent not in manifests:
                manifests[child.parent] = _results_in(child.parent)
            if child.name in manifests[child.parent]:
                continue
            suffix = child.suffix.lower()
            if suffix in SUPPORTED_INPUT_EXTENSIONS or suffix in VIDEO_INPUT_EXTENSIONS:
                files.append(child)
            elif suffix in UNREADABLE_IMAGE_EXTENSIONS:
                missing.append(FileReport(str(child), None, "failed", error=(
                    f"{child.name}: {suffix[1:].upper()} images cannot be read here; convert it to JPEG, PNG "
                    "or TIFF first")))

    for item in items:
        text = os.fspath(item)
        path = Path(text)
        if path.is_dir():
            add_found(sorted(child for child in path.iterdir() if child.is_file()))
        elif path.exists():
            files.append(path)
        elif glob.has_magic(text):
            matches = sorted(Path(match) for match in glob.glob(text, recursive=True) if Path(match).is_file())
            if matches:
                add_found(matches)
            else:
                missing.append(FileReport(text, None, "failed", error=f"no file matches {text}"))
        else:
            missing.append(FileReport(text, None, "failed", error=f"{text} does not exist"))
    unique = list(dict.fromkeys(files))
    return unique, missing


def _results_in(folder: Path) -> frozenset[str]:
    """The names ``RESULTS_MANIFEST`` lists in ``folder`` (none when there is no manifest)."""
    try:
        return frozenset((folder / RESULTS_MANIFEST).read_text(encoding="utf-8", errors="surrogateescape")
                         .splitlines())
    except OSError:
        return frozenset()


def remember_result(target: Path) -> None:
    """Add a written result to its folder's manifest (best effort: a result without it is still fine)."""
    try:
        with open(target.parent / RESULTS_MANIFEST, "a", encoding="utf-8", errors="surrogateescape") as manifest:
            manifest.write(target.name + "\n")
    except OSError as error:
        log.warning("could not note %s in %s: %s", target.name, RESULTS_MANIFEST, error)
