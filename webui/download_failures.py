"""The last failed download of each model file, kept for the whole app until the file is there, so that the
Settings tab's status panel goes on saying what failed and what to do after the pop-up has gone."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from gpen.errors import DownloadError, ModelFileError
from gpen.messages import message_of
from gpen.registry import ModelSpec

from .i18n import text, worded


@dataclass(frozen=True)
class DownloadFailure:
    """One failed download: the file, the folder it was to go into, its addresses, each address tried with
    why it failed (none where nothing was tried, e.g. downloading is turned off), and the engine's message."""

    file_name: str
    folder: Path
    urls: tuple[str, ...]
    attempts: tuple[tuple[str, str], ...]
    error: str

    @classmethod
    def of(cls, spec: ModelSpec, folder: Path, error: ModelFileError) -> DownloadFailure:
        attempts = error.attempts if isinstance(error, DownloadError) else ()
        return cls(spec.file_name, Path(folder), tuple(spec.urls), tuple(attempts), message_of(error))

    def lines(self, language: str) -> list[str]:
        """The message in ``language``: what failed, one line per address tried, then what to do."""
        if not self.attempts:
            return text("download_failed", language, error=worded(self.error, language)).splitlines()
        url = self.urls[0] if self.urls else self.attempts[0][0]
        return [text("download_file_failed", language, name=self.file_name),
                *(f"- {address}: {worded(reason, language)}" for address, reason in self.attempts),
                text("download_what_to_do", language, url=url, name=self.file_name, folder=self.folder)]

    def resolved(self) -> bool:
        """The file is there now (downloaded later, or put there by hand)."""
        try:
            return (self.folder / self.file_name).is_file()
        except OSError:
            return False


class DownloadFailures:
    """The last ``DownloadFailure`` of each model file, shared by every session (the files are the server's),
    forgotten once the file is there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, DownloadFailure] = {}

    def record(self, failure: DownloadFailure) -> None:
        with self._lock:
            self._last[failure.file_name] = failure

    def current(self) -> list[DownloadFailure]:
        """The failures whose file is still missing, oldest first; the others are forgotten."""
        with self._lock:
            for name in [name for name, failure in self._last.items() if failure.resolved()]:
                del self._last[name]
            return list(self._last.values())
