"""The per-file report (``gpen.reports``): written whole or not at all, and any file name kept."""
from __future__ import annotations

import errno
import os

import pytest
from bad_inputs import NON_UTF8_NAME, read_report

from gpen.errors import ImageWriteError
from gpen.reports import FileReport, write_report


def test_report_write_failure_leaves_the_old_report_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("[]\n")

    def full(descriptor: int) -> None:   # the disk fills up as the written report is flushed to it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ImageWriteError, match="No space left on device"):
        write_report([FileReport("a.jpg", None, "failed", error="x")], target)
    monkeypatch.undo()
    assert [path.name for path in tmp_path.iterdir()] == ["report.json"] and target.read_text() == "[]\n"


def test_report_keeps_file_names_that_are_not_utf8(tmp_path):
    name = str(tmp_path / NON_UTF8_NAME)
    write_report([FileReport(name, None, "failed", error=f"Cannot read {name}: broken")], tmp_path / "r.json")
    row = read_report(tmp_path / "r.json")[0]
    assert row["input"] == name and os.fsencode(row["input"]).endswith(b"caf\xe9 latin-1.jpg")
