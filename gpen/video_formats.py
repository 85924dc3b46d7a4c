"""Which files are videos, and the container each one's result is written in.

The picture is always re-encoded as H.264. The container is the input's where it can hold H.264, its
audio and each frame's own timestamp (MP4, MOV, MKV); a WebM (which cannot hold H.264) or an AVI (which
keeps no per-frame timestamps) is written as MKV, which holds any audio stream unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

VideoContainer = Literal["mp4", "mov", "mkv"]

VIDEO_INPUT_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
_OUTPUT_CONTAINERS: dict[str, VideoContainer] = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "mkv", ".webm": "mkv", ".avi": "mkv"}


def is_video(path: str | Path) -> bool:
    """Whether a file goes through the video path (by its extension)."""
    return Path(path).suffix.lower() in VIDEO_INPUT_EXTENSIONS


def output_container(path: str | Path) -> VideoContainer:
    """The container (and extension) of a video's result."""
    return _OUTPUT_CONTAINERS.get(Path(path).suffix.lower(), "mp4")
