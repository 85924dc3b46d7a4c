"""Downloading model files: all or nothing, with mirrors, timeouts and an optional checksum.

The body goes into a hidden temporary file next to the destination and is renamed into place only
once it is complete (and matches ``sha256`` when one is given), so a cut or stalled transfer never
leaves a half-written model file that would later fail to load.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

from gpen.atomic import atomic_file, temporaries_of
from gpen.errors import DownloadError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int | None], None]
CHUNK_BYTES = 1 << 20
USER_AGENT = "gpen-webui"


class _AttemptFailed(Exception):
    """One URL failed; the message is the reason shown to the person."""


def download_file(urls: Sequence[str] | str, destination: Path, *, sha256: str | None = None,
                  timeout_s: float = 30.0, progress: ProgressCallback | None = None) -> Path:
    """Download the first URL that works to ``destination`` and return it.

    ``timeout_s`` bounds the connection and every read. ``progress(bytes_done, bytes_total_or_None)``
    is called as data arrives (starting again from 0 for each mirror). Raises ``DownloadError``
    naming every URL tried and why it failed.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    destination = Path(destination)
    failures: list[tuple[str, str]] = []
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        failures.append(("(none tried)", f"cannot create the folder: {error}"))
        url_list = []
    for stale in temporaries_of(destination):
        stale.unlink(missing_ok=True)   # left by a download that was killed; never loaded
    for url in url_list:
        logger.info("downloading %s from %s", destination.name, url)
        try:
            _download_once(url, destination, sha256, timeout_s, progress)
        except _AttemptFailed as failure:
            logger.warning("download of %s from %s failed: %s", destination.name, url, failure)
            failures.append((url, str(failure)))
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
                raise _AttemptFailed(f"transfer cut after {bytes_done} of {bytes_total} bytes")
            if bytes_done == 0:
                raise _AttemptFailed("the server sent an empty file")
            if sha256 is not None and digest.hexdigest() != sha256.lower():
                raise _AttemptFailed(f"checksum mismatch: expected sha256 {sha256.lower()}, "
                                     f"got {digest.hexdigest()}")
    except urllib.error.HTTPError as error:
        raise _AttemptFailed(f"HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _AttemptFailed(f"timeout: no answer within {timeout_s:g} s") from error
        raise _AttemptFailed(f"cannot connect: {error.reason}") from error
    except TimeoutError as error:
        raise _AttemptFailed(f"timeout: no data for {timeout_s:g} s after {_received(bytes_done, bytes_total)}"
                             ) from error
    except http.client.IncompleteRead as error:
        raise _AttemptFailed(f"transfer cut after {_received(bytes_done + len(error.partial), bytes_total)}"
                             ) from error
    except (http.client.HTTPException, ValueError) as error:
        raise _AttemptFailed(f"bad response or address: {error}") from error
    except OSError as error:
        raise _AttemptFailed(f"{type(error).__name__} after {_received(bytes_done, bytes_total)}: {error}"
                             ) from error


def _received(bytes_done: int, bytes_total: int | None) -> str:
    return f"{bytes_done} of {bytes_total} bytes" if bytes_total is not None else f"{bytes_done} bytes"


def _failure_message(destination: Path, failures: list[tuple[str, str]], urls: Sequence[str]) -> str:
    tried = "\n".join(f"  - {url}: {reason}" for url, reason in failures) or "  (no download address known)"
    by_hand = (f"download it by hand from {urls[0]}{' (or another address above)' if len(urls) > 1 else ''} "
               f"and save it as {destination.name} in {destination.parent}" if urls else
               f"put {destination.name} in {destination.parent} by hand")
    return (f"Could not download {destination.name}:\n{tried}\n"
            f"Check the network connection, or the proxy (HTTPS_PROXY) if this machine reaches the internet "
            f"through one, and try again; or {by_hand}.")


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
