"""Reading and writing video files with PyAV: frames with their own timestamps in, H.264 out.

Frames are HxWx3 uint8 RGB as stored in the file (not turned by its rotation); ``pts`` counts
``time_base`` units, so a variable frame rate survives. A result is written to a temporary file beside
its target and renamed into place when complete (``gpen.atomic``): its audio streams copied packet for
packet, its rotation and creation time kept.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from .atomic import atomic_file
from .errors import VideoReadError, VideoWriteError
from .messages import Message
from .video_formats import VideoContainer

log = logging.getLogger(__name__)

MUXERS: dict[VideoContainer, str] = {"mp4": "mp4", "mov": "mov", "mkv": "matroska"}
ENCODER = "libx264"
ENCODER_PRESET = "medium"
# Container tags that describe the file written, not the content: the muxer writes its own.
_OWN_TAGS = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands", "duration"})


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds. ``frame_count`` is the container's figure (0 when it does not say)."""

    width: int
    height: int
    frame_count: int
    frames_per_second: float
    time_base: Fraction
    codec: str
    rotation: int
    """Degrees counter-clockwise the picture is turned for display (0, 90, 180 or 270)."""
    duration_s: float
    audio_streams: int
    metadata: dict[str, str]


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its pixels, its presentation time in ``time_base`` units, and its number."""

    image: np.ndarray
    pts: int
    index: int


def probe_video(path: Path) -> VideoInfo:
    """Open a video and decode its first frame; ``VideoReadError`` saying why when that cannot be done."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        first = next(_decode(container, path), None)
        if first is None:
            raise VideoReadError(Message("video_no_frames", name=path.name))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        duration = float(container.duration / av.time_base) if container.duration else 0.0
        return VideoInfo(
            width=first.width, height=first.height, frame_count=int(stream.frames or 0),
            frames_per_second=float(rate) if rate else 0.0, time_base=stream.time_base or Fraction(1, 90000),
            codec=stream.codec_context.name, rotation=int(first.rotation or 0) % 360, duration_s=duration,
            audio_streams=len(container.streams.audio), metadata=dict(container.metadata))


def read_frames(path: Path) -> Iterator[VideoFrame]:
    """Every frame of the first video stream, in presentation order. A frame without a timestamp gets the
    one after its predecessor's. ``VideoReadError`` when the stream is cut or corrupt partway."""
    with _open_input(path) as container:
        stream = container.streams.video[0]
        step = _frame_step(stream)
        previous: int | None = None
        for index, frame in enumerate(_decode(container, path)):
            pts = frame.pts if frame.pts is not None else (0 if previous is None else previous + step)
            previous = pts
            yield VideoFrame(frame.to_ndarray(format="rgb24"), int(pts), index)


def _frame_step(stream: av.video.stream.VideoStream) -> int:
    """One frame's length in the stream's time base (at least 1)."""
    rate = stream.average_rate or stream.guessed_rate
    if not rate or not stream.time_base:
        return 1
    return max(1, round(1 / (rate * stream.time_base)))


@contextlib.contextmanager
def _open_input(path: Path) -> Iterator[av.container.InputContainer]:
    """The input opened, checked to be a real video that PyAV can decode."""
    path = Path(path)
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as error:
        raise VideoReadError(Message("video_unreadable", name=path.name, detail=_reason(error))) from error
    try:
        if not container.streams.video:
            raise VideoReadError(Message("video_no_stream", name=path.name))
        format_name = container.format.name
        if format_name.startswith("image2") or format_name.endswith("_pipe"):
            raise VideoReadError(Message("video_still_image", name=path.name, format=format_name))
        stream = container.streams.video[0]
        if stream.codec_context is None or not stream.codec_context.name:
            raise VideoReadError(Message("video_unknown_codec", name=path.name))
        stream.thread_type = "AUTO"
        yield container
    finally:
        container.close()


def _decode(container: av.container.InputContainer, path: Path) -> Iterator[av.VideoFrame]:
    try:
        yield from container.decode(video=0)
    except av.error.FFmpegError as error:
        raise VideoReadError(Message("video_undecodable", name=path.name, detail=_reason(error))) from error


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


class VideoWriter:
    """An H.264 video being written, with the source's audio streams copied into it as it goes.
    Made by ``write_video``; ``write`` each frame in presentation order."""

    def __init__(self, output: av.container.OutputContainer, source: Path, info: VideoInfo, crf: int):
        self._output = output
        self._time_base = info.time_base
        for key, value in info.metadata.items():
            if key.lower() not in _OWN_TAGS:
                output.metadata[key] = value
        rate = Fraction(info.frames_per_second).limit_denominator(1001) if info.frames_per_second else None
        self._stream = output.add_stream(ENCODER, rate=rate, options={"crf": str(crf), "preset": ENCODER_PRESET})
        self._stream.width, self._stream.height = info.width, info.height
        # 4:2:0 needs even sizes; an odd-sized video keeps every pixel in 4:4:4.
        self._stream.pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
        self._stream.codec_context.time_base = info.time_base
        self._stream.time_base = info.time_base
        if info.rotation:
            self._stream.set_display_rotation(info.rotation)
        self._audio = AudioCopy(source, output) if info.audio_streams else None

    def write(self, image: np.ndarray, pts: int) -> None:
        """Encode one RGB frame shown at ``pts`` (the source's time base), after the audio up to it."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts, frame.time_base = pts, self._time_base
        if self._audio is not None:
            self._audio.copy_until(float(pts * self._time_base))
        for packet in self._stream.encode(frame):
            self._output.mux(packet)

    def finish(self) -> None:
        """The encoder's last frames and the rest of the audio."""
        for packet in self._stream.encode(None):
            self._output.mux(packet)
        if self._audio is not None:
            self._audio.copy_until(float("inf"))

    def close(self) -> None:
        if self._audio is not None:
            self._audio.close()


@contextlib.contextmanager
def write_video(target: Path, source: Path, info: VideoInfo, container: VideoContainer,
                crf: int) -> Iterator[VideoWriter]:
    """A ``VideoWriter`` onto ``target``: the file appears there complete when the block ends, and
    nothing is left when it raises (interrupted included)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(target) as handle:
            output = av.open(handle, mode="w", format=MUXERS[container])
            writer = None
            try:
                writer = VideoWriter(output, source, info, crf)
                yield writer
                writer.finish()
            finally:
                if writer is not None:
                    writer.close()
                output.close()
    except (av.error.FFmpegError, OSError, ValueError) as error:
        raise VideoWriteError(Message("video_write_failed", target=target, detail=_reason(error))) from error


class AudioCopy:
    """The source's audio streams, remuxed packet for packet (never re-encoded) into ``output``."""

    def __init__(self, source: Path, output: av.container.OutputContainer):
        self._input = av.open(str(source), mode="r")
        self._streams = {stream.index: output.add_stream_from_template(stream)
                         for stream in self._input.streams.audio}
        self._packets = self._input.demux(*self._input.streams.audio)
        self._waiting: av.Packet | None = None
        self._output = output

    def copy_until(self, seconds: float) -> None:
        """Mux every audio packet that starts before ``seconds``."""
        while True:
            packet = self._waiting or next(self._packets, None)
            self._waiting = None
            if packet is None:
                return
            if packet.dts is None:      # the demuxer's empty end-of-stream packets
                continue
            start = packet.pts if packet.pts is not None else packet.dts
            if float(start * packet.time_base) >= seconds:
                self._waiting = packet
                return
            packet.stream = self._streams[packet.stream.index]
            self._output.mux(packet)

    def close(self) -> None:
        self._input.close()
