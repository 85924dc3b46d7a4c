"""The engine's own exception types. Each message says what happened, why, and what to do.

The library raises these and never prints or exits; the CLI and the web UI turn them into a line, a
report row or a ``gr.Error``.
"""
from __future__ import annotations

import errno

from .messages import Message


class GpenError(Exception):
    """Base class for every error the engine raises on purpose. Raised with a ``Message`` (see
    ``gpen.messages``), ``message_of`` gives it back so that a front end can word it in its language."""


class ModelFileError(GpenError):
    """A model file is missing, unreadable, unsafe, of the wrong kind, or fails its checksum."""


class DownloadError(ModelFileError):
    """A model file could not be downloaded (network error, HTTP error, cut transfer, bad checksum).

    ``attempts`` holds ``(address, why it failed)`` for each address tried, for front ends that word the
    message themselves."""

    def __init__(self, message: str, attempts: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.attempts = attempts


class ImageReadError(GpenError):
    """An input is not a readable image (empty, truncated, not an image, unsupported)."""


class ImageTooLargeError(ImageReadError):
    """An image declares more pixels than the limit (refused before decoding: decompression bombs)."""


class ImageWriteError(GpenError):
    """A result could not be written (disk full, permissions); nothing partial is left behind."""


class DeviceError(GpenError):
    """The requested device or precision cannot be used."""


class RestorationError(GpenError):
    """The network failed on a face even at batch size 1 (for example out of memory)."""


_OS_ERROR_REASONS = {
    code: reason
    for name, reason in (
        ("ENOSPC", "reason_disk_full"),
        ("EDQUOT", "reason_quota"),
        ("EACCES", "reason_permission"),
        ("EPERM", "reason_permission"),
        ("EROFS", "reason_read_only"),
        ("ENAMETOOLONG", "reason_name_too_long"),
    )
    if (code := getattr(errno, name, None)) is not None
}


def os_error_reason(error: OSError) -> str:
    """A short reason for an operating-system error, in words a person understands ("disk full"): a
    ``Message`` for the common ones, the system's own words for the rest."""
    reason = _OS_ERROR_REASONS.get(error.errno) if error.errno is not None else None
    return Message(reason) if reason else error.strerror or str(error) or type(error).__name__


class VideoReadError(GpenError):
    """An input is not a readable video (corrupt, no video stream, a still image, no frames, no decoder)."""


class VideoWriteError(ImageWriteError):
    """A video result could not be encoded or written; nothing partial is left behind."""


class ClusterError(GpenError):
    """A cluster run could not start or was lost: Ray is not installed, the cluster cannot be reached, or
    the workers could not load the engine."""
