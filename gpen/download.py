"""Downloading model files: all or nothing, with mirrors, timeouts and an optional checksum.

The body goes into a hidden temporary file next to the destination and is renamed into place only
once it is complete (and matches ``sha256`` when one is given), so a cut or stalled transfer never
leaves a half-written model file that would later fail to load.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from gpen.atomic import atomic_file, temporaries_of
from gpen.errors import DownloadError
from gpen.messages import Message

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
CHUNK_BYTES = 1 << 20
USER_AGENT = "gpen-webui"
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d+) ?(.*)")   # urllib's words for a proxy's refusal


class _AttemptFailed(Exception):
    """One URL failed; its one argument is the ``Message`` that says why, shown to the person."""


def download_file(urls: Sequence[str] | str, destination: Path, *, sha256: str | None = None,
                  timeout_s: float = 30.0, progress: ProgressCallback | None = None) -> Path:
    """Download the first URL that works to ``destination`` and return it.

    ``timeout_s`` bounds the connection and every read. ``progress(bytes_done, bytes_total_or_None)``
    is called as data arrives (starting again from 0 for each mirror). Raises ``DownloadError``
    naming every URL tried and why it failed.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    destination = Path(destination)
    failures: list[tuple[str, Message]] = []
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        failures.append(("(none tried)", Message("download_no_folder", detail=str(error))))
        url_list = []
    for stale in temporaries_of(destination):
        stale.unlink(missing_ok=True)   # left by a download that was killed; never loaded
    for url in url_list:
        logger.info("downloading %s from %s", destination.name, url)
        try:
            _download_once(url, destination, sha256, timeout_s, progress)
        except _AttemptFailed as failure:
            logger.warning("download of %s from %s failed: %s", destination.name, url, failure)
            failures.append((url, failure.args[0]))
            continue
        logger.info("saved %s", destination)
        return destination
    raise DownloadError(_failure_message(destination, failures, url_list), tuple(failures))


def _download_once(url: str, destination: Path, sha256: str | None, timeout_s: float,
                   progress: ProgressCallback | None) -> None:
    bytes_done, bytes_total = 0, None
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout_s) as response, atomic_file(destination) as file:
            length = response.headers.get("Content-Length")
            bytes_total = int(length) if length and length.isdigit() else None
            digest = hashlib.sha256()
            if progress is not None:
                progress(0, bytes_total)
            while chunk := response.read(CHUNK_BYTES):
                file.write(chunk)
                digest.update(chunk)
                bytes_done += len(chunk)
                if progress is not None:
                    progress(bytes_done, bytes_total)
            # Checked before the file is renamed into place: a failed check leaves nothing behind.
            if bytes_total is not None and bytes_done != bytes_total:
                raise _AttemptFailed(Message("download_cut", received=_received(bytes_done, bytes_total)))
            if bytes_done == 0:
                raise _AttemptFailed(Message("download_empty"))
            if sha256 is not None and digest.hexdigest() != sha256.lower():
                raise _AttemptFailed(Message("download_checksum", expected=sha256.lower(), got=digest.hexdigest()))
    except urllib.error.HTTPError as error:
        raise _AttemptFailed(Message("download_http", code=error.code, reason=error.reason)) from error
    except urllib.error.URLError as error:
        raise _AttemptFailed(_not_connected(error.reason, timeout_s)) from error
    except TimeoutError as error:
        received = _received(bytes_done, bytes_total)
        raise _AttemptFailed(Message("download_stalled", seconds=timeout_s, received=received)) from error
    except http.client.IncompleteRead as error:
        received = _received(bytes_done + len(error.partial), bytes_total)
        raise _AttemptFailed(Message("download_cut", received=received)) from error
    except (http.client.HTTPException, ValueError) as error:
        raise _AttemptFailed(Message("download_bad_response", detail=str(error))) from error
    except OSError as error:
        raise _AttemptFailed(Message("download_broken", kind=type(error).__name__,
                                     received=_received(bytes_done, bytes_total), detail=str(error))) from error


def _not_connected(reason: object, timeout_s: float) -> Message:
    """Why no connection was made: no answer in time, a proxy that refused the tunnel, or the system's reason."""
    if isinstance(reason, TimeoutError):
        return Message("download_no_answer", seconds=timeout_s)
    refused = _TUNNEL_REFUSED.fullmatch(str(reason))
    if refused:
        return Message("download_proxy_refused", code=int(refused.group(1)), reason=refused.group(2))
    if isinstance(reason, ConnectionRefusedError):
        return Message("download_refused", detail=str(reason))
    if isinstance(reason, socket.gaierror):
        return Message("download_unknown_host", detail=str(reason))
    return Message("download_cannot_connect", detail=str(reason))


def _received(bytes_done: int, bytes_total: int | None) -> Message:
    if bytes_total is None:
        return Message("bytes", done=bytes_done)
    return Message("bytes_of", done=bytes_done, total=bytes_total)


def _failure_message(destination: Path, failures: list[tuple[str, Message]], urls: Sequence[str]) -> Message:
    tried = tuple(Message("download_attempt", url=url, reason=reason) for url, reason in failures) \
        or Message("download_no_address")
    where = {"file": destination.name, "folder": destination.parent}
    if not urls:
        by_hand = Message("download_put_by_hand", **where)
    else:
        by_hand = Message("download_by_hand_more" if len(urls) > 1 else "download_by_hand", url=urls[0], **where)
    return Message("download_gave_up", file=destination.name, tried=tried, by_hand=by_hand)


def tqdm_progress(description: str) -> tuple[ProgressCallback, Callable[[], None]]:
    """A ``progress`` callback drawing a tqdm bar (for the CLI), and the function that closes the bar.

    The bar appears only once a download starts."""
    from tqdm import tqdm

    bars: list[tqdm] = []

    def update(bytes_done: int, bytes_total: int | None) -> None:
        if not bars:
            bars.append(tqdm(desc=description, unit="B", unit_scale=True, unit_divisor=1024))
        bar = bars[0]
        if bytes_done == 0 or bar.total != bytes_total:  # a new attempt (mirror) starts from zero
            bar.reset(total=bytes_total)
        bar.update(bytes_done - bar.n)

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close
