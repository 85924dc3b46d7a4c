"""The Batch tab's progress line while a batch runs: faces so far, time elapsed and left, and the photo
being worked on (the first one not finished yet, in the order they were given). Gradio adds the photos
done of total, from the progress tuple (``done``, ``total``)."""
from __future__ import annotations

import time
from gpen.reports import FileReport

from .i18n import text


def clock(seconds: float) -> str:
    """``seconds`` as m:ss, or h:mm:ss from an hour on."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class BatchProgress:
    """Counts one batch's finished files and says where it stands. One per batch run, never shared."""

    def __init__(self, names: dict[str, str], language: str):
        self.names = names                 # the inputs, in order, and the name each is shown by
        self.inputs = list(names)
        self.language = language
        self.finished: set[str] = set()
        self.worked = 0          # finished files that took work (not skipped), for the time left
        self.faces = 0
        self.started = time.perf_counter()

    @property
    def done(self) -> tuple[int, int]:
        """(files finished, files in all), as ``gr.Progress`` takes them."""
        return len(self.finished), len(self.inputs)

    def record(self, report: FileReport) -> str:
        """Count ``report``'s file as finished; the progress line after it."""
        self.finished.add(report.input)
        self.faces += report.faces
        self.worked += report.status != "skipped"
        return self.line()

    def line(self) -> str:
        """Where the batch stands, in the person's language."""
        elapsed = time.perf_counter() - self.started
        waiting = len(self.inputs) - len(self.finished)
        left = (text("progress_left", self.language, left=clock(elapsed / self.worked * waiting))
                if self.worked else "")
        working = next((path for path in self.inputs if path not in self.finished), None)
        now = (text("progress_now", self.language, name=self.names.get(working, working))
               if working is not None else "")
        return text("batch_progress", self.language, faces=self.faces, elapsed=clock(elapsed)) + left + now
