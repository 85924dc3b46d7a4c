"""Connections (``webui.connections``): routes the app does not use are closed, slow clients are dropped,
and a stalled or aborted upload leaves no partial file."""
from __future__ import annotations

import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from page_events import TIMEOUT_S
from web_calls import MIB, READ_TIMEOUT_S, multipart, partial_uploads, upload_head, wait_until

# ---- less surface --------------------------------------------------------------------------------


CLOSED = ["/gradio_api/process_recording", "/gradio_api/component_server", "/gradio_api/stream/abc/close",
          "/gradio_api/proxy=http://127.0.0.1:1/x", "/gradio_api/custom_component/a/b/c/d", "/gradio_api/dev/reload",
          "/gradio_api/deep_link"]


@pytest.mark.parametrize("route", CLOSED)
def test_routes_the_app_does_not_use_are_closed(limited_app, route):
    secret = secrets.token_hex(16).encode()
    body, content_type = multipart([("video", "clip.mp4", b"\0\0\0\x18ftypmp42" + secret)])
    for method in ("GET", "POST"):
        response = httpx.request(method, limited_app.url + route.lstrip("/"),
                                 content=body if method == "POST" else None,
                                 headers={"Content-Type": content_type}, timeout=TIMEOUT_S)
        assert response.status_code == 404, (method, response.status_code, response.text[:200])
        assert secret not in response.content
    assert httpx.get(limited_app.url + "config", timeout=TIMEOUT_S).status_code == 200


def open_and_trickle(port: int, head: bytes, trickle: bytes | None, limit_s: float) -> float | None:
    """Send ``head``, then ``trickle`` one byte every 0.5 s (or nothing), until the server closes the
    connection; returns after how many seconds it did, or None when it was still open at ``limit_s``."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as connection:
        connection.sendall(head)
        connection.settimeout(0.5)
        position = 0
        while time.monotonic() - started < limit_s:
            try:
                if connection.recv(4096) == b"":
                    return time.monotonic() - started
            except socket.timeout:
                pass
            except OSError:
                return time.monotonic() - started
            if trickle is not None:
                try:
                    connection.sendall(trickle[position % len(trickle):position % len(trickle) + 1])
                except OSError:
                    return time.monotonic() - started
                position += 1
    return None


def test_slow_clients_are_dropped(limited_app):
    port = limited_app.port
    request = f"GET /config HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode()
    with ThreadPoolExecutor(4) as pool:
        slow_headers = list(pool.map(lambda _: open_and_trickle(port, request, b"abcdefgh", 15), range(4)))
    silent = open_and_trickle(port, b"", None, 15)
    print(f"FIGURE slow clients (read timeout {READ_TIMEOUT_S} s): header tricklers closed after "
          f"{[round(seconds, 1) if seconds else None for seconds in slow_headers]} s, a silent connection after "
          f"{silent and round(silent, 1)} s")
    assert all(seconds is not None and seconds < READ_TIMEOUT_S + 5 for seconds in slow_headers), slow_headers
    assert silent is not None and silent < READ_TIMEOUT_S + 5
    assert httpx.get(limited_app.url + "config", timeout=TIMEOUT_S).status_code == 200


def test_a_stalled_upload_is_dropped_and_its_partial_file_removed(limited_app):
    head, start_of_body = upload_head(limited_app.port, MIB)
    seconds = open_and_trickle(limited_app.port, head + start_of_body, None, 15)
    assert seconds is not None and seconds < READ_TIMEOUT_S + 5, seconds
    assert wait_until(lambda: partial_uploads(limited_app) == [], 10), partial_uploads(limited_app)


def test_an_aborted_upload_leaves_no_partial_file(limited_app):
    head, start_of_body = upload_head(limited_app.port, MIB)
    with socket.create_connection(("127.0.0.1", limited_app.port), timeout=TIMEOUT_S) as connection:
        connection.sendall(head + start_of_body)
        assert wait_until(lambda: partial_uploads(limited_app) != [], 5)      # Gradio is writing it
    assert wait_until(lambda: partial_uploads(limited_app) == [], 10), partial_uploads(limited_app)
