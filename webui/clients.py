"""Which clients are still listening, so that a batch whose client has gone away stops.

Gradio sends a job's progress and result to its client over one long response: the page and
``gradio_client`` read ``/gradio_api/queue/data?session_hash=S``, plain HTTP callers
``/gradio_api/call/<name>/<event id>`` (whose event id is also the job's session). The request guard
tells ``ClientWatch`` when such a stream opens and how it ends. A stream that ends because the client
went away (not because its jobs finished) tells every batch of that session to stop, through the
``threading.Event`` it registered. Gradio itself drops a gone session's waiting jobs, but lets a
running one go on to its end while everyone behind it waits.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

log = logging.getLogger(__name__)


class ClientWatch:
    """Open result streams per session, and the stop signals of the jobs running for each session.
    Safe to use from the server's event loop and the job threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, int] = {}
        self._stops: dict[str, set[threading.Event]] = {}

    def stream_opened(self, session: str) -> None:
        with self._lock:
            self._streams[session] = self._streams.get(session, 0) + 1

    def stream_closed(self, session: str, client_left: bool) -> None:
        """A result stream ended; ``client_left`` when the client went away before it was complete. When
        that leaves the session without a stream, its running jobs are told to stop."""
        with self._lock:
            remaining = self._streams.get(session, 1) - 1
            if remaining > 0:
                self._streams[session] = remaining
                return
            self._streams.pop(session, None)
            stops = list(self._stops.get(session, ())) if client_left else []
        if stops:
            log.info("the client of session %s went away: stopping its job", session[:8])
        for stop in stops:
            stop.set()

    @contextlib.contextmanager
    def stop_signal(self, session: str | None) -> Iterator[threading.Event]:
        """An event that is set when the client of ``session`` goes away during the block. (A client
        that left before its job started needs none: Gradio drops the waiting jobs of a gone session.)"""
        stop = threading.Event()
        if session is None:
            yield stop
            return
        with self._lock:
            self._stops.setdefault(session, set()).add(stop)
        try:
            yield stop
        finally:
            with self._lock:
                stops = self._stops.get(session)
                if stops is not None:
                    stops.discard(stop)
                    if not stops:
                        del self._stops[session]
