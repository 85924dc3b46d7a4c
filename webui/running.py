"""The jobs in progress of each browser session, by kind, so that a tab's Stop button reaches its own job."""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator, Literal

JobKind = Literal["batch", "video"]


@dataclass(frozen=True)
class RunningJob:
    """One job's signals: ``stop`` ends it (set by Stop, or when its client goes away); ``asked`` says
    that the person pressed Stop."""

    stop: threading.Event
    asked: threading.Event


class RunningJobs:
    """The running job of each (kind, session); a session runs one job of a kind at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[JobKind, str], RunningJob] = {}

    @contextlib.contextmanager
    def running(self, kind: JobKind, session: str | None, stop: threading.Event) -> Iterator[RunningJob]:
        """The job that ``stop`` ends, reachable by ``stop(kind, session)`` during the block."""
        job = RunningJob(stop, threading.Event())
        if session is None:
            yield job
            return
        with self._lock:
            self._running[(kind, session)] = job
        try:
            yield job
        finally:
            with self._lock:
                if self._running.get((kind, session)) is job:
                    del self._running[(kind, session)]

    def stop(self, kind: JobKind, session: str | None) -> bool:
        """Ask this session's job of this kind to stop; False when none is running."""
        with self._lock:
            job = self._running.get((kind, session or ""))
        if job is None:
            return False
        job.asked.set()
        job.stop.set()
        return True
