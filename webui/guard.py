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
- **Files that were not uploaded.** A call that names a file outside Gradio's upload folder is refused
  with a plain 400 (Gradio would refuse it too, but with a message that names the server's folders).
- **Remote files.** Gradio downloads any ``http(s)://`` address given as an input file, and its file
  route streams any such address back, both from this server (and for a name that resolves to a
  private address it asks Google's public DNS about that name). The app only works on files uploaded
  to it, so both are refused: requests are never made from here on a caller's behalf.
- **Oversized request bodies.** Every body is capped before it reaches Gradio, which would read any
  body that is not an upload into memory whole (a 1 GB post to the queue cost 4 GB before Gradio
  refused it). Uploads (multipart posts to ``/gradio_api/upload``) stream to disk, each file capped by
  ``--max-file-size`` (Gradio's own check), at most ``max_upload_files`` files, and each form field that
  is not a file at most 64 KB (Gradio keeps those in memory). Any other body is capped at
  ``MAX_BODY_BYTES``, 4 MB (a declared larger ``Content-Length`` is refused without reading); see ``bodies``.
  Refusals are 413, and the connection is closed.
- **Malformed calls.** JSON nested deeper than ``MAX_JSON_DEPTH`` (Gradio's parser would crash on it)
  and an event number the page does not have are refused with 400 and 404 instead of a 500.
- **Routes the app does not use** (``CLOSED_ROUTES``): Gradio's screen-recording route (which echoes
  any upload back and runs ffmpeg on it), its component-server, streaming, proxy, custom-component,
  reload and code-editing routes answer 404.
- **A full disk.** An upload that meets a full disk is answered 507 with a plain message; its partial
  files are removed (``uploads``), and the details go to the log only.
- **Clients that go away.** The streams that carry jobs' progress are reported to a ``ClientWatch``,
  which stops a batch whose client has disconnected.
"""
from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Collection
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .bodies import MAX_BODY_BYTES, BodyRefused, UploadLimits, multipart_boundary, read_body, replay
from .clients import ClientWatch

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 64
UPLOAD_ROUTE = "/gradio_api/upload"
CLOSED_ROUTES = re.compile(r"^/gradio_api/(?:process_recording|component_server|stream/|proxy=|custom_component/"
                           r"|dev/reload|deep_link|profiling/|vibe-edit|undo-vibe-edit|vibe-starter-queries)")
_NAMED_ROUTE = re.compile(r"^/gradio_api/(?:call/v2|call)/([^/]+)")
_RESULT_STREAM = re.compile(r"^/gradio_api/(?:queue/data/?$|call/(?:v2/)?[^/]+/([^/]+)/?$)")
_REMOTE_FILE_ROUTE = re.compile(r"^/gradio_api/file(?:=|/+)\s*https?:", re.IGNORECASE)
_REMOTE = re.compile(r"^\s*https?://", re.IGNORECASE)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


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


def names_a_file_outside(value: Any, folder: Path) -> bool:
    """Whether a request's JSON names, as the path of a file, anything outside ``folder`` (Gradio's upload
    folder, where every file the page and the API send lives)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            path = item.get("path")
            if isinstance(path, str) and not _inside(path, folder):
                return True
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _inside(path: str, folder: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(folder)
    except (ValueError, OSError):
        return False


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a number or string is 0 deep)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


class RequestGuard:
    """ASGI middleware; see the module's description. ``public_api_names`` are endpoint names without
    the slash (``enhance``); ``loopback_only`` is true when the app listens on a loopback address only;
    ``known_events`` are the page's event numbers (None: not checked); ``clients`` hears about the
    streams that carry jobs' results; a call naming a file outside ``upload_folder`` is refused."""

    def __init__(self, app: ASGIApp, public_api_names: Collection[str], loopback_only: bool,
                 known_events: Collection[int] | None = None, clients: ClientWatch | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, max_upload_files: int = 1000,
                 upload_folder: Path | None = None):
        self.app = app
        self.public_api_names = frozenset(public_api_names)
        self.loopback_only = loopback_only
        self.known_events = frozenset(known_events) if known_events is not None else None
        self.clients = clients
        self.max_body_bytes = max_body_bytes
        self.max_upload_files = max_upload_files
        self.upload_folder = Path(os.path.abspath(upload_folder)) if upload_folder is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope.get("path", "")
        refused = self.refusal(path, headers)
        if refused is None and scope["type"] == "http":
            if path == UPLOAD_ROUTE and multipart_boundary(headers) is not None:
                await self._upload(scope, receive, send, headers)
                return
            try:
                body = await read_body(receive, headers, self.max_body_bytes)
            except BodyRefused as refusal:
                refused = refusal.status, refusal.reason
            else:
                if scope.get("method") == "POST" and _is_json(headers.get("content-type")):
                    refused = self.body_refusal(body)
                receive = replay(body, receive)
        if refused is not None:
            await _refuse(scope, receive, send, *refused)
            return
        stream = _RESULT_STREAM.match(path) if scope["type"] == "http" and scope.get("method") == "GET" else None
        session = (stream.group(1) or _query_value(scope, "session_hash")) if stream else None
        if session and self.clients is not None:
            await self._watch_stream(self.clients, session, scope, receive, send)
            return
        await self.app(scope, receive, send)

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
        if CLOSED_ROUTES.match(path):
            return 404, "Not found: this app does not use this route."
        return None

    def body_refusal(self, body: bytes) -> tuple[int, str] | None:
        """Why a JSON body is refused, or None (a body that is not JSON is left for Gradio to refuse)."""
        try:
            value = json.loads(body) if body else None
        except RecursionError:
            return 400, f"The request's JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
        except ValueError:
            return None
        if json_depth(value) > MAX_JSON_DEPTH:
            return 400, f"The request's JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels)."
        if names_a_remote_file(value):
            return 400, "Files must be uploaded to this app; it does not download files from other addresses."
        if self.upload_folder is not None and names_a_file_outside(value, self.upload_folder):
            return 400, ("Files must be uploaded to this app first (POST /gradio_api/upload); it works only on "
                         "files uploaded to it.")
        if isinstance(value, dict) and self.known_events is not None and value.get("fn_index") is not None:
            number = value["fn_index"]
            if type(number) is not int or number not in self.known_events:
                return 404, "No such event on this page. Reload the page and try again."
        return None

    async def _upload(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        """Pass an upload through while watching its form fields; a full disk becomes a plain 507."""
        limits = UploadLimits(multipart_boundary(headers) or b"", self.max_upload_files)
        started = False

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                limits.feed(message.get("body", b""))
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        except BodyRefused as refusal:
            if started:
                raise
            await _refuse(scope, receive, send, refusal.status, refusal.reason)
        except OSError as error:
            if started or error.errno not in _DISK_FULL:
                raise
            log.error("an upload failed, the disk is full: %s", error)
            await _refuse(scope, receive, send, 507, "The server has no room left for uploads right now. "
                          "Try again later, or with fewer or smaller files.")

    async def _watch_stream(self, clients: ClientWatch, session: str, scope: Scope, receive: Receive,
                            send: Send) -> None:
        """Run a result stream, telling ``clients`` when it opens and whether its client left early."""
        complete = reported = False
        clients.stream_opened(session)

        async def watched_receive() -> Message:
            nonlocal reported
            message = await receive()
            if message["type"] == "http.disconnect" and not complete and not reported:
                reported = True
                clients.stream_closed(session, client_left=True)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            if not reported:
                clients.stream_closed(session, client_left=not complete)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type in ("", "application/json", "text/plain") or media_type.endswith("+json")


def _query_value(scope: Scope, name: str) -> str | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    """Answer ``status`` with ``reason`` (a websocket is closed instead); the connection is closed after
    a refusal, so that the rest of a large body is never read."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return
    await PlainTextResponse(reason, status_code=status, headers={"Connection": "close"})(scope, receive, send)
