"""The Batch tab's report: the table's rows and headings and the summary line, in the person's language."""
from __future__ import annotations

import dataclasses
from pathlib import Path, PurePath
from typing import Any, Sequence

from gpen.messages import Message
from gpen.reports import FileReport

from .i18n import text, worded
from .messages import without_paths

STATUS_KEYS = {"ok": "status_ok", "no_faces": "status_no_faces", "skipped": "status_skipped",
               "failed": "status_failed", "stopped": "status_stopped"}


def named_row(report: FileReport, name: str) -> FileReport:
    """The row under the name the person knows, without the server's paths in the error (which stays a
    ``Message``, to be worded in the person's language)."""
    return dataclasses.replace(report, input=name, error=_renamed(report.error, report.input, name))


def _renamed(said: Any, old: str, new: str) -> Any:
    if isinstance(said, Message):
        return Message(said.id, **{key: _renamed(value, old, new) for key, value in said.values.items()})
    if isinstance(said, (str, PurePath)):
        return without_paths(str(said).replace(old, new))
    return said


def report_table(rows: Sequence[FileReport], language: str) -> dict[str, Any]:
    """The table's value: one row per input, headings and statuses in ``language``."""
    headers = [text(key, language) for key in ("column_file", "column_status", "column_faces", "column_seconds",
                                               "column_error")]
    data = [[row.input, text(STATUS_KEYS[row.status], language), row.faces, round(row.seconds, 2),
             worded(row.error, language)] for row in failed_first(rows)]
    return {"headers": headers, "data": data}


def failed_first(rows: Sequence[FileReport]) -> list[FileReport]:
    """The failed rows first, then the others, each in their order."""
    return sorted(rows, key=lambda row: row.status != "failed")


def batch_summary(rows: Sequence[FileReport], seconds: float, folder: Path, language: str) -> str:
    """The line under the Batch tab's results: how many photos came out how, the time, the folder."""
    counts = {status: sum(row.status == status for row in rows) for status in STATUS_KEYS}
    summary = text("batch_summary", language, ok=counts["ok"], faces=sum(row.faces for row in rows),
                   no_faces=counts["no_faces"], skipped=counts["skipped"], failed=counts["failed"],
                   seconds=seconds, folder=folder)
    if counts["stopped"]:
        summary += text("batch_summary_stopped", language, stopped=counts["stopped"])
    return summary
