"""The request guard: refuses, before Gradio sees them, the requests the page itself never makes.

- **Another web site's requests.** A request whose ``Origin`` is not the address it was sent to (its
  ``Host``) is refused with 403. Gradio only withholds its CORS headers from such requests, and only
  while it listens on localhost; the request itself still runs. Without this guard any page open in
  the same browser could upload files and start jobs here (a form post needs no CORS), and, when the
  app listens on the network, read the answers too.
- **DNS rebinding.** While the app listens on a loopback address only, a request must be addressed to
  a loopback name (``localhost``, ``127.x.x.x``, ``[::1]``). Otherwise a web site whose name is made
  to resolve to 127.0.0.1 would be "same origin" with the app and pass the check above.
- **The page's own events by name.** ``/gradio_api/call/<name>`` answers only for the public API;
  Gradio runs private events called by name there too. The page reaches its queued events through the
  queue by number, and its few unqueued ones (page load, mode presets) at ``/gradio_api/run/<name>``,
  where Gradio refuses every queued event (the app starts the queue with ``api_open=False``).
- **Remote files.** Gradio downloads any ``http(s)://`` address given as an input file, and its file
  route streams any such address back, both from this server (and for a name that resolves to a
  private address it asks Google's public DNS about that name). The app only works on files uploaded
  to it, so both are refused: requests are never made from here on a caller's behalf.
- **Oversized request bodies.** A JSON body (the values of a call) over ``MAX_JSON_BYTES`` is refused
  with 413 while it is read; files go through Gradio's upload route and its ``--max-file-size``.
"""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_BYTES = 16 << 20
_NAMED_ROUTE = re.compile(r"^/gradio_api/(?:call/v2|call)/([^/]+)")
_REMOTE_FILE_ROUTE = re.compile(r"^/gradio_api/file(?:=|/+)\s*https?:", re.IGNORECASE)
_REMOTE = re.compile(r"^\s*https?://", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    """Whether a host name (no port) names this computer only: ``localhost``, ``127.x.x.x``, ``::1``."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """``example.com:7860`` → ``example.com``; ``[::1]:7860`` → ``::1``."""
    return urlsplit(f"//{host_header}").hostname or ""


def names_a_remote_file(value: Any) -> bool:
    """Whether a request's JSON names an ``http(s)://`` address as the path of a file, anywhere in it."""
    if isinstance(value, dict):
        path = value.get("path")
        if isinstance(path, str) and _REMOTE.match(path):
            return True
        return any(names_a_remote_file(item) for item in value.values())
    if isinstance(value, list):
        return any(names_a_remote_file(item) for item in value)
    return False


class _TooLarge(Exception):
    pass


class RequestGuard:
    """ASGI middleware; see the module's description. ``public_api_names`` are endpoint names without
    the slash (``enhance``); ``loopback_only`` is true when the app listens on a loopback address only."""

    def __init__(self, app: ASGIApp, public_api_names: Collection[str], loopback_only: bool,
                 max_json_bytes: int = MAX_JSON_BYTES):
        self.app = app
        self.public_api_names = frozenset(public_api_names)
        self.loopback_only = loopback_only
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refused = self.refusal(scope.get("path", ""), headers)
        if refused is None and scope["type"] == "http" and scope.get("method") == "POST" \
                and _is_json(headers.get("content-type")):
            try:
                body = await _read_body(receive, self.max_json_bytes)
            except _TooLarge:
                refused = 413, f"The request is larger than {self.max_json_bytes >> 20} MB."
            else:
                refused = self.body_refusal(body)
                receive = _replay(body, receive)
        if refused is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": refused[1]})
        else:
            await PlainTextResponse(refused[1], status_code=refused[0])(scope, receive, send)

    def refusal(self, path: str, headers: Headers) -> tuple[int, str] | None:
        """The HTTP status and reason a request is refused with, or None to let it through."""
        host = headers.get("host", "")
        if self.loopback_only and not is_loopback(_host_name(host)):
            return 403, ("This app answers only at localhost or 127.0.0.1 (it was started without --host). "
                         "Start it with --host 0.0.0.0 to reach it under another name.")
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return 403, "Requests from other web sites are not allowed."
        named = _NAMED_ROUTE.match(path)
        if named and named.group(1) not in self.public_api_names:
            return 404, f"No public API endpoint /{named.group(1)}; the API is: " + ", ".join(
                f"/{name}" for name in sorted(self.public_api_names))
        if _REMOTE_FILE_ROUTE.match(path):
            return 403, "This app serves only its own files; it does not fetch other addresses."
        return None

    @staticmethod
    def body_refusal(body: bytes) -> tuple[int, str] | None:
        """Why a JSON body is refused, or None (a body that is not JSON is left for Gradio to refuse)."""
        try:
            value = json.loads(body) if body else None
        except ValueError:
            return None
        if names_a_remote_file(value):
            return 400, "Files must be uploaded to this app; it does not download files from other addresses."
        return None


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type in ("", "application/json", "text/plain") or media_type.endswith("+json")


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then whatever comes after it."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
