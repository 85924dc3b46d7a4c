"""The app's per-process temporary folders, and removing those of instances that are no longer running.

Each running app keeps its request folders (unpacked uploads, results on their way to the browser)
under one folder ``gpen-webui-*`` in the system's temporary folder, removed when it exits. A process
killed with SIGKILL, or by the out-of-memory killer, cannot remove its folder, so it stayed for good
with other people's photos in it. Each folder therefore names its owner in a small file (process id
and the process's start time, so that a reused process id is not mistaken for the owner), and a new
instance removes, at start, the folders whose owner is gone: only folders made this way, owned by the
same user, and never one whose process still runs.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER_PREFIX = "gpen-webui-"
OWNER_FILE = ".owner.json"


@dataclass(frozen=True)
class RemovedFolder:
    """A temporary folder left by an instance that is no longer running, and the bytes it held."""

    path: Path
    size_bytes: int


def new_instance_folder(parent: Path | None = None) -> Path:
    """A new private folder ``gpen-webui-*`` for this process, marked as its own."""
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=parent))
    owner = {"pid": os.getpid(), "started": _start_time(os.getpid())}
    try:
        (folder / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
    except OSError as error:    # a full disk: the app still starts, but a crash would leave this folder
        log.warning("cannot mark %s as this instance's (%s); it is removed at exit only", folder, error)
        (folder / OWNER_FILE).unlink(missing_ok=True)
    return folder


def remove_abandoned_folders(parent: Path | None = None) -> list[RemovedFolder]:
    """Remove the folders of instances that are no longer running; returns what was removed."""
    parent = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    removed: list[RemovedFolder] = []
    try:
        candidates = sorted(parent.glob(FOLDER_PREFIX + "*"))
    except OSError as error:
        log.warning("cannot look for abandoned temporary folders in %s: %s", parent, error)
        return removed
    for folder in candidates:
        if not _abandoned(folder):
            continue
        size_bytes = _size(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(RemovedFolder(folder, size_bytes))
    return removed


def _abandoned(folder: Path) -> bool:
    """Whether ``folder`` is one of ours (a real folder of this user, marked by an instance) whose
    instance no longer runs."""
    try:
        if folder.is_symlink() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            return False
        owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
        pid, started = int(owner["pid"]), owner.get("started")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False       # not made by this app (or unreadable): never touched
    if pid == os.getpid():
        return False
    return not _running(pid, started)


def _running(pid: int, started: str | None) -> bool:
    """Whether the process that made a folder still runs (a reused process id does not count). Outside
    POSIX every owner counts as running (on Windows ``os.kill`` would end the process, not probe it)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True        # a process of another user has this id now; leave the folder alone
    except OSError:
        return True
    now = _start_time(pid)
    return started is None or now is None or now == started


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def _size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total
