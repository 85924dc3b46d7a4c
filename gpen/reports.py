"""The per-file report of a run: one row per input, and the JSON file it is written to."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Sequence

from .atomic import atomic_file
from .errors import ImageWriteError

FileStatus = Literal["ok", "no_faces", "skipped", "failed", "stopped"]
"""``stopped``: not processed, because the person stopped the run (Ctrl-C, the Stop button)."""


@dataclass(frozen=True)
class FileReport:
    """What happened to one input file."""

    input: str
    output: str | None
    status: FileStatus
    faces: int = 0
    seconds: float = 0.0
    error: str | None = None
    note: str | None = None
    """Something the person should know about a result (only the first frame of an animated GIF...)."""

    @property
    def succeeded(self) -> bool:
        return self.status not in ("failed", "stopped")


def write_report(reports: Sequence[FileReport], path: Path) -> None:
    """The per-file report as JSON (written whole, then renamed into place).

    A file name that is not valid UTF-8 (undecodable bytes, kept by Python as lone surrogates) is
    written as a JSON ``\\udcXX`` escape, which ``json.load`` reads back as the same ``str``.
    Raises ``ImageWriteError`` when the report cannot be written; nothing partial is left.
    """
    path = Path(path)
    text = json.dumps([asdict(report) for report in reports], indent=2, ensure_ascii=False) + "\n"
    data = text.encode("utf-8", errors="backslashreplace")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as handle:
            handle.write(data)
    except OSError as error:
        raise ImageWriteError(f"Cannot write the report {path}: {error.strerror or error}. "
                              "Free some space, check permissions or pick another file.") from error
