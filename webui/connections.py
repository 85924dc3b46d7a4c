"""Slow clients: a connection that takes too long to send its request's headers, or that stops sending
a request's body half-way, is closed instead of being held for ever.

uvicorn, which serves the app under Gradio, waits without limit for the rest of a request (it only
times out idle connections between requests), so a few clients sending a byte now and then could hold
connections open for good, and an aborted slow upload left its partial file behind. It has no setting
for this, and Gradio builds uvicorn's configuration itself; so ``limit_read_times`` registers
``ReadTimeoutProtocol``, uvicorn's own h11 protocol with two clocks, as its ``auto`` HTTP protocol:

- **headers**: a request's headers must all arrive within ``read_timeout_s`` of the connection opening
  (or, on a kept-alive connection, of the request's first byte), however they trickle in;
- **body**: while a body is being sent, no more than ``read_timeout_s`` may pass without data (except
  while the app itself is not reading).

Closing the connection makes the app's next read end as a client disconnect; the upload route then
removes its partial files (see ``uploads``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn import config as uvicorn_config
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

DEFAULT_READ_TIMEOUT_S = 30.0


class ReadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with the header and body clocks described in the module."""

    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S    # set once by ``limit_read_times``

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._read_clock: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None
        super().connection_made(transport)
        self._follow("open")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow("data")

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow("response")

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._stop_clock()
        self._waiting_for = "websocket"
        super().handle_websocket_upgrade(event)

    def _follow(self, event: str) -> None:
        """Start, keep or stop the clock for what the client owes after ``event`` (open, data, response)."""
        if self._waiting_for == "websocket" or self.transport.is_closing():
            self._stop_clock()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            if event == "response":
                # idle between requests: uvicorn's own keep-alive timeout closes the connection
                self._stop_clock()
                self._waiting_for = None
            elif self._waiting_for != "headers":
                self._start_clock("headers")       # from the connection's opening or the request's first byte
        elif state is h11.SEND_BODY:
            if event == "data" or self._waiting_for != "body":
                self._start_clock("body")          # restarts with each chunk of the body
        else:
            self._stop_clock()
            self._waiting_for = None

    def _start_clock(self, waiting_for: str) -> None:
        self._stop_clock()
        self._waiting_for = waiting_for
        self._read_clock = self.loop.call_later(self.read_timeout_s, self._time_is_up)

    def _stop_clock(self) -> None:
        if self._read_clock is not None:
            self._read_clock.cancel()
            self._read_clock = None

    def _time_is_up(self) -> None:
        self._read_clock = None
        if self.transport.is_closing():
            return
        if self._waiting_for == "body" and self.flow.read_paused:
            # the app is not reading (uvicorn paused the socket): not the client's fault
            self._read_clock = self.loop.call_later(self.read_timeout_s, self._time_is_up)
            return
        client = "%s:%d" % self.client if self.client else "a client"
        log.info("closing the connection from %s: no complete request %s within %g s", client,
                 "headers" if self._waiting_for == "headers" else "body data", self.read_timeout_s)
        self.transport.close()


def limit_read_times(read_timeout_s: float) -> None:
    """Make uvicorn (as started by Gradio) use ``ReadTimeoutProtocol`` with this timeout."""
    ReadTimeoutProtocol.read_timeout_s = read_timeout_s
    uvicorn_config.HTTP_PROTOCOLS["auto"] = f"{__name__}:ReadTimeoutProtocol"
