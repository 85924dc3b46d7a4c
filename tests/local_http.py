"""A throwaway HTTP server on 127.0.0.1 for tests (downloads are only ever tested against loopback)."""
from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@contextlib.contextmanager
def serve_on_loopback(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port; yields the base URL and shuts down afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class NotFound(BaseHTTPRequestHandler):
    """Answers every request with 404, a proxy's CONNECT included: as a web proxy, it fails every download."""

    def _not_found(self) -> None:
        self.send_error(404)

    do_GET = do_HEAD = do_POST = do_CONNECT = _not_found

    def log_message(self, *args: object) -> None:
        pass


def proxy_environment(url: str) -> dict[str, str]:
    """Environment variables that send a process's web requests (downloads) to the proxy at ``url``."""
    return {**{name: url for name in PROXY_VARIABLES}, "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}
