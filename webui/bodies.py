"""Request bodies, capped as they are read: a body is refused as soon as it is known to be too large,
never read into memory first.

- ``read_body`` reads a whole body that must be small (the values of a call), refusing it at once when
  its ``Content-Length`` is over the limit, else as soon as more than the limit has arrived.
- ``UploadLimits`` follows a multipart upload as it streams through to Gradio (which writes its files
  to disk, each capped by ``--max-file-size``), refusing too many files in one upload, or a form field
  that is not a file over ``MAX_FORM_FIELD_BYTES`` (Gradio keeps those in memory, whatever their size).
"""
from __future__ import annotations

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import Message, Receive

MAX_BODY_BYTES = 4 << 20          # a call names its uploaded files; 1000 of them take under 1 MB
MAX_FORM_FIELD_BYTES = 64 << 10   # a form field of an upload that is not a file


class BodyRefused(Exception):
    """A body broke a limit while it streamed through: answered with ``status`` and ``reason``."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class UploadLimits:
    """Follows a multipart body as it streams: at most ``max_files`` files, and no form field that is
    not a file over ``MAX_FORM_FIELD_BYTES``. Files themselves go to disk, capped by Gradio."""

    def __init__(self, boundary: bytes, max_files: int):
        self.max_files = max_files
        self.files = 0
        self.field_bytes = 0
        self.in_file = False
        self.header_name = b""
        self.disposition = b""
        self.broken = False    # a body the parser cannot follow is left to Gradio, which refuses it
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begins, "on_part_data": self._part_data,
            "on_header_field": self._header_field, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_finished})

    def feed(self, chunk: bytes) -> None:
        if self.broken or not chunk:
            return
        try:
            self.parser.write(chunk)
        except MultipartParseError:
            self.broken = True

    def _part_begins(self) -> None:
        self.in_file, self.field_bytes, self.disposition, self.header_name = False, 0, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        if self.header_name.lower() == b"content-disposition":
            self.disposition += data[start:end]

    def _header_end(self) -> None:
        self.header_name = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.in_file = b"filename" in options
        if self.in_file:
            self.files += 1
            if self.files > self.max_files:
                raise BodyRefused(413, f"Too many files in one upload: at most {self.max_files}.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            return
        self.field_bytes += end - start
        if self.field_bytes > MAX_FORM_FIELD_BYTES:
            raise BodyRefused(413, f"A form field of this upload is larger than {MAX_FORM_FIELD_BYTES >> 10} KB.")


def multipart_boundary(headers: Headers) -> bytes | None:
    media_type, options = parse_options_header(headers.get("content-type", ""))
    return options.get(b"boundary") if media_type == b"multipart/form-data" else None


async def read_body(receive: Receive, headers: Headers, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to pass ``limit`` bytes: at once when its
    ``Content-Length`` says so, else while it arrives."""
    too_large = BodyRefused(413, f"The request is larger than {limit >> 20} MB.")
    declared = headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then whatever comes after it."""
    given = False

    async def replayed() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
