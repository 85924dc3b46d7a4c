"""Videos made inside the tests from the test photos (no video is committed): pans and zooms over a
real photo, a still camera with sensor noise, a cut, a face leaving and entering, an audio tone."""
from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Sequence

import av
import cv2
import numpy as np

from photos import read_photo

FRAME_SIZE = (320, 240)          # width, height
TONE_RATE_HZ = 16000


def window(photo: np.ndarray, centre: tuple[float, float], zoom: float = 1.0,
           size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """The part of ``photo`` a camera at ``centre`` sees, ``zoom`` times closer, as a ``size`` frame."""
    width, height = size
    matrix = np.array([[zoom, 0, width / 2 - zoom * centre[0]], [0, zoom, height / 2 - zoom * centre[1]]])
    return cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def pan_frames(count: int, start: tuple[float, float], end: tuple[float, float], zoom: tuple[float, float] = (1, 1),
               photo: str = "portrait_small.jpg") -> list[np.ndarray]:
    """A camera moving (and zooming) steadily over a photo."""
    image = read_photo(photo)
    steps = np.linspace(0, 1, count)
    return [window(image, (start[0] + s * (end[0] - start[0]), start[1] + s * (end[1] - start[1])),
                   zoom[0] + s * (zoom[1] - zoom[0])) for s in steps]


def still_frames(count: int, noise: float = 4.0, photo: str = "portrait_small.jpg",
                 centre: tuple[float, float] = (500, 210)) -> list[np.ndarray]:
    """A still camera on one face, with a sensor's noise in every frame."""
    base = window(read_photo(photo), centre).astype(np.float32)
    generator = np.random.default_rng(0)
    return [np.clip(base + generator.normal(0, noise, base.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def long_pan(path: Path, frames: int, size: tuple[int, int] = (1280, 720)) -> Path:
    """A long clip panning slowly over a face, made one frame at a time (never all in memory)."""
    photo = read_photo("portrait_small.jpg")
    return write_clip(path, (window(photo, (480 + 0.2 * i, 200), 2.5, size) for i in range(frames)))


def write_clip(path: Path, frames: Iterable[np.ndarray], *, fps: int = 25, pts_ms: Sequence[int] | None = None,
               tone_hz: float | None = None, rotation: int = 0, creation_time: str | None = None,
               codec: str = "libx264", pixel_format: str = "yuv420p") -> Path:
    """Write frames (a list, or a generator for a long clip) as a video; ``pts_ms`` gives each frame its own
    time (variable frame rate)."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    times = iter(pts_ms) if pts_ms is not None else (round(1000 * i / fps) for i in itertools.count())
    last = 0
    with av.open(str(path), mode="w") as output:
        if creation_time:
            output.metadata["creation_time"] = creation_time
        video = output.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pixel_format
        video.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(rotation)
        audio = output.add_stream("aac", rate=TONE_RATE_HZ, layout="mono") if tone_hz else None
        for image, last in zip(itertools.chain([first], frames), times):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = last, Fraction(1, 1000)
            for packet in video.encode(frame):
                output.mux(packet)
        if audio is not None:
            _write_tone(output, audio, tone_hz, (last + 1000 / fps) / 1000)
        for packet in video.encode(None):
            output.mux(packet)
    return path


def _write_tone(output: av.container.OutputContainer, audio: av.audio.stream.AudioStream, tone_hz: float,
                seconds: float) -> None:
    samples = np.arange(int(seconds * TONE_RATE_HZ))
    signal = (0.3 * np.sin(2 * np.pi * tone_hz * samples / TONE_RATE_HZ)).astype(np.float32)
    chunk = 1024
    for start in range(0, len(signal), chunk):
        frame = av.AudioFrame.from_ndarray(signal[None, start:start + chunk], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = TONE_RATE_HZ, start
        for packet in audio.encode(frame):
            output.mux(packet)
    for packet in audio.encode(None):
        output.mux(packet)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file with an audio stream and no video stream."""
    with av.open(str(path), mode="w", format="mp4") as output:
        _write_tone(output, output.add_stream("aac", rate=TONE_RATE_HZ, layout="mono"), 440.0, seconds)
    return path


def frame_times(path: Path) -> list[float]:
    """Each decoded frame's presentation time in seconds."""
    with av.open(str(path)) as container:
        return [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]


def audio_packets(path: Path) -> list[bytes]:
    """The bytes of every audio packet, in order."""
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(audio=0) if packet.size]


def write_zero_frames(path: Path) -> Path:
    """A Matroska file with a video stream that holds no frame (and a short tone)."""
    with av.open(str(path), mode="w", format="matroska") as output:
        video = output.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        _write_tone(output, output.add_stream("aac", rate=TONE_RATE_HZ, layout="mono"), 440.0, 0.5)
    return path
