"""Videos, file in and file out, through the engine's stages.

A decoding thread reads frames into a small queue; this thread detects the faces of ``batch_size``
frames at a time, links them into smoothed tracks (``gpen.tracking``), aligns them
(``Engine.prepare_faces``) and restores them together (``Engine.restore``); an encoding thread pastes
them (``Engine.finish``) and writes each frame with its own timestamp (``gpen.video_io``). The queues
hold at most a few steps of frames, so memory stays flat however long the video is. The result appears
only when complete: a failed or interrupted video leaves no file.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .engine import Engine
from .errors import GpenError
from .inputs import remember_result
from .messages import Message, message_of
from .options import EnhanceOptions, VideoOptions
from .reports import FileReport, FileStatus
from .stages import PreparedPhoto, RestoredPhoto
from .tracking import FaceTracker, TrackingSettings
from .video_formats import output_container
from .video_io import VideoFrame, VideoInfo, VideoWriter, probe_video, read_frames, write_video

log = logging.getLogger(__name__)

FrameProgress = Callable[[int, int], None]
"""Called after each frame is written: (frames done, frames expected; 0 when the file does not say)."""
_END = object()
_POLL_S = 0.1


class VideoFrameError(GpenError):
    """A frame could not be restored: the video fails rather than carry an unrestored face."""


class VideoStopped(GpenError):
    """The run was asked to stop while this video was in progress."""


@dataclass(frozen=True)
class FramePaste:
    """One face pasted into one frame: its track, the landmarks it was aligned by and the crop's matrix."""

    track_id: int
    landmarks: np.ndarray
    matrix: np.ndarray | None


@dataclass(frozen=True)
class VideoOutcome:
    """One video restored: its report row, and per frame the faces pasted into it."""

    report: FileReport
    info: VideoInfo | None = None
    faces: tuple[tuple[FramePaste, ...], ...] = ()
    cuts: int = 0


@dataclass(frozen=True)
class _Step:
    """Consecutive frames on their way to the encoder, restored together."""

    frames: tuple[VideoFrame, ...]
    restored: tuple[RestoredPhoto, ...]


def restore_video(engine: Engine, source: Path, target: Path, options: EnhanceOptions | None = None,
                  video: VideoOptions | None = None, stop: threading.Event | None = None,
                  on_frame: FrameProgress | None = None) -> VideoOutcome:
    """Restore every frame of ``source`` into ``target`` (see ``gpen.video_formats`` for its container).
    Never raises for a bad file or a failed frame: the report row says why, and no result is left."""
    options, video = options or EnhanceOptions(), video or VideoOptions()
    source, target, started = Path(source), Path(target), time.perf_counter()

    def failed(error: str, info: VideoInfo | None = None, status: FileStatus = "failed") -> VideoOutcome:
        return VideoOutcome(FileReport(str(source), None, status, seconds=time.perf_counter() - started,
                                       error=error), info)
    try:
        info = probe_video(source)
    except GpenError as error:
        return failed(message_of(error))
    run = _VideoRun(engine, source, info, options, video, stop or threading.Event(), on_frame)
    try:
        with write_video(target, source, info, output_container(target), video.quality) as writer:
            run.run(writer)
    except VideoStopped:
        return failed(Message("not_processed_interrupted"), info, "stopped")
    except GpenError as error:
        return failed(message_of(error), info)
    except Exception as error:  # noqa: BLE001  (a bug or memory exhausted: this video fails alone)
        log.exception("restoring the video %s failed", source)
        return failed(Message("video_crashed", detail=f"{type(error).__name__}: {error}"), info)
    remember_result(target)
    return VideoOutcome(run.report(target, time.perf_counter() - started), info, tuple(run.pastes), run.cuts)


class _VideoRun:
    """One video's run: its tracker, queues and tallies (one per call, never shared)."""

    def __init__(self, engine: Engine, source: Path, info: VideoInfo, options: EnhanceOptions,
                 video: VideoOptions, stop: threading.Event, on_frame: FrameProgress | None):
        self.engine, self.source, self.info, self.options, self.video = engine, source, info, options, video
        self.stop, self.on_frame = stop, on_frame
        self.tracker = FaceTracker(TrackingSettings(smoothing=video.smoothing))
        self.pastes: list[tuple[FramePaste, ...]] = []
        self.cuts = 0
        self.written = 0
        self.abort = threading.Event()
        self.errors: list[BaseException] = []
        self.step_frames = engine.config.batch_size

    def run(self, writer: VideoWriter) -> None:
        """Decode, restore and encode every frame, the three overlapped; raises what stopped it."""
        decoded: queue.Queue = queue.Queue(maxsize=self.step_frames)
        finished: queue.Queue = queue.Queue(maxsize=1)
        workers = [threading.Thread(target=self._guarded, args=(self._decode, decoded), daemon=True,
                                    name="gpen-video-decode"),
                   threading.Thread(target=self._guarded, args=(self._encode, finished, writer), daemon=True,
                                    name="gpen-video-encode")]
        for worker in workers:
            worker.start()
        try:
            while True:
                frames = self._take(decoded)
                if self.stop.is_set():
                    raise VideoStopped("interrupted")
                if not frames:
                    break
                prepared = [self._prepare(frame) for frame in frames]
                self._put(finished, _Step(tuple(frames), tuple(self.engine.restore(prepared))))
            self._put(finished, _END)
        except _Aborted:
            pass
        except BaseException:
            self.abort.set()
            raise
        finally:
            for worker in workers:   # an aborted worker stops within a poll, unless stuck in a decoder
                worker.join(timeout=30 if self.abort.is_set() else None)
            self.cuts = self.tracker.cuts
        if self.errors:
            raise self.errors[0]

    def _prepare(self, frame: VideoFrame) -> PreparedPhoto:
        """Detect, track and align the faces of one frame (turned upright by the video's rotation)."""
        image = upright(frame.image, self.info.rotation)
        if self.options.aligned:
            self.pastes.append(())
            return self.engine.prepare([image], self.options)[0]
        time_s = float(frame.pts * self.info.time_base)
        tracked = self.tracker.update(image, self.engine.detect(image), time_s)
        prepared = self.engine.prepare_faces(image, [face.face for face in tracked], self.options)
        if prepared.error:
            raise VideoFrameError(Message("video_frame_failed", index=frame.index, error=prepared.error))
        track_of = {id(face.face): face.track_id for face in tracked}
        self.pastes.append(tuple(FramePaste(track_of[id(aligned.face)], aligned.face.landmarks, aligned.matrix)
                                 for aligned in prepared.faces))
        return prepared

    def _decode(self, decoded: queue.Queue) -> None:
        for frame in read_frames(self.source):
            self._put(decoded, frame)
        self._put(decoded, _END)

    def _encode(self, finished: queue.Queue, writer: VideoWriter) -> None:
        while (step := self._get(finished)) is not _END:
            for frame, restored in zip(step.frames, step.restored):
                result = self.engine.finish(restored, self.options)
                if not result.ok:
                    raise VideoFrameError(Message("video_frame_failed", index=frame.index, error=result.error))
                writer.write(upright(result.image, -self.info.rotation), frame.pts)
                self.written += 1
                if self.on_frame is not None:
                    self.on_frame(self.written, self.info.frame_count)

    def _guarded(self, work: Callable[..., None], *args: object) -> None:
        """A worker's body: an error is kept for the run to raise, and stops the others."""
        try:
            work(*args)
        except _Aborted:
            pass
        except BaseException as error:  # noqa: BLE001  (raised again on the run's thread)
            self.errors.append(error)
            self.abort.set()

    def _take(self, decoded: queue.Queue) -> list[VideoFrame]:
        """Up to one step of frames; fewer at the end, none after it."""
        frames: list[VideoFrame] = []
        while len(frames) < self.step_frames:
            frame = self._get(decoded)
            if frame is _END:
                self._put(decoded, _END)   # the next call sees the end too
                break
            frames.append(frame)
        return frames

    def _put(self, into: queue.Queue, item: object) -> None:
        while not self.abort.is_set():
            try:
                into.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        raise _Aborted

    def _get(self, source: queue.Queue) -> object:
        while not self.abort.is_set():
            try:
                return source.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        raise _Aborted

    def report(self, target: Path, seconds: float) -> FileReport:
        """The row of a video written whole."""
        tracks = {paste.track_id for frame in self.pastes for paste in frame}
        with_faces = sum(bool(frame) for frame in self.pastes)
        status: FileStatus = "ok" if tracks or self.options.aligned else "no_faces"
        audio = f"{self.info.audio_streams} audio stream(s) copied" if self.info.audio_streams else "no audio"
        note = (f"video: {self.written} frames, {with_faces} with faces, {len(tracks)} face track(s), "
                f"{self.cuts} scene cut(s); {audio}; H.264 quality {self.video.quality}")
        return FileReport(str(self.source), str(target), status, len(tracks), seconds, note=note)


class _Aborted(Exception):
    """Another thread of the run failed: this one stops quietly."""


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """The frame turned ``rotation`` degrees counter-clockwise (a multiple of 90; negative turns back)."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

