"""What the Video tab and ``/enhance_video`` do: one uploaded video restored through ``gpen.video``, with
frame progress, a Stop that leaves no result, and the result file for preview and download.

Kept apart from ``handlers`` (which it uses for the shared engine, the option checks and the request
folders) so that the photo handlers stay as they are.
"""
from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from gpen.engine import Engine, EnhanceOptions
from gpen.options import VideoOptions
from gpen.output_names import plan_output_paths
from gpen.video import VideoOutcome, restore_video

from .handlers import Handlers
from .i18n import language_of_request, said, text, worded
from .messages import error_popup, show_info


@dataclass(frozen=True)
class VideoResult:
    """A restored video: its file, and what the page and the API show about it."""

    result_file: Path
    info: dict[str, Any]


class VideoHandlers:
    """The Video tab's events, over the app's ``Handlers``."""

    def __init__(self, handlers: Handlers):
        self.handlers = handlers

    def restore(self, path: str | Path | None, options: EnhanceOptions, video: VideoOptions, language: str,
                progress: gr.Progress | None, session: str | None) -> VideoResult:
        """Restore one uploaded video into a new request folder; ``gr.Error`` saying why it could not."""
        if not path:
            raise error_popup(text("no_video", language), language)
        source = Path(path)
        [target] = plan_output_paths([source], self.handlers.jobs.folders.new(), None, suffix="_restored")
        started = time.monotonic()
        unit = text("unit_frames", language)
        # Frames are reported from the encoding thread; Gradio finds the event in this thread's context.
        event_context = contextvars.copy_context()

        def on_frame(done: int, total: int) -> None:
            if progress is None:
                return
            if total:
                left = (time.monotonic() - started) / done * max(total - done, 0)
                event_context.run(progress, (done, total), unit=unit, desc=text(
                    "video_progress", language, done=done, total=total, left=round(left)))
            else:
                event_context.run(progress, None, unit=unit,
                                  desc=text("video_progress_unknown", language, done=done))

        def run(engine: Engine) -> VideoOutcome:
            jobs = self.handlers.jobs
            with jobs.clients.stop_signal(session) as stop, jobs.running.running("video", session, stop):
                return restore_video(engine, source, target, options, video, stop, on_frame)

        outcome = self.handlers.jobs.with_engine(language, run)
        report = outcome.report
        if not report.succeeded:
            key = "video_stopped" if report.status == "stopped" else "video_failed"
            message = worded(report.error, language).replace(str(source), source.name)
            raise error_popup(text(key, language, error=message), language)   # user_errors shows it
        info = {"file": target.name, "frames": len(outcome.faces), "faces": report.faces,
                "seconds": round(time.monotonic() - started, 3), "width": outcome.info.width,
                "height": outcome.info.height, "frames_per_second": round(outcome.info.frames_per_second, 3),
                "note": report.note}
        return VideoResult(target, info)

    def enhance_video(self, request: gr.Request, progress: gr.Progress = gr.Progress(), path: str | None = None,
                      quality: float = 18, smoothing: bool = True, strength: float = 100, mode: str = "natural",
                      faces: str = "all", min_face_px: float = 0, aligned: bool = False, *adjustments: float) -> tuple:
        """Page: the preview, the file to download and a summary line."""
        language = language_of_request(request)
        options = self.handlers.options_from_controls(language, strength, mode, faces, min_face_px, aligned,
                                                      self.handlers.slider_values(adjustments))
        result = self.restore(path, options, _video_options(quality, smoothing, language), language, progress,
                              getattr(request, "session_hash", None))
        summary = text("video_summary", language, frames=result.info["frames"], seconds=result.info["seconds"],
                       faces=result.info["faces"])
        return (str(result.result_file), gr.update(value=str(result.result_file), visible=True), summary)

    def stop_video(self, request: gr.Request) -> None:
        """Stop: the video in progress is abandoned after its current frames; no result is kept."""
        if self.handlers.jobs.running.stop("video", getattr(request, "session_hash", None)):
            language = language_of_request(request)
            show_info(text("video_stopping", language), language)

    def api_enhance_video(self, video: str, quality: float = 18, smoothing: bool = True, strength: float = 100,
                          mode: str = "natural", faces: str = "all", min_face_px: float = 0, aligned: bool = False,
                          adjustments: dict | None = None, request: gr.Request = None,
                          progress: gr.Progress = gr.Progress()) -> tuple[str, dict]:
        """Restore the faces in one video. Returns the restored video (H.264, audio copied) and a dict:
        file, frames, faces (tracks), seconds, width, height, frames_per_second, note."""
        language = language_of_request(request)
        options = self.handlers.options_from_controls(language, strength, mode, faces, min_face_px, aligned,
                                                      adjustments)
        result = self.restore(video, options, _video_options(quality, smoothing, language), language, progress,
                              getattr(request, "session_hash", None))
        return str(result.result_file), result.info


def _video_options(quality: Any, smoothing: Any, language: str) -> VideoOptions:
    try:
        return VideoOptions(quality=int(round(float(quality))), smoothing=bool(smoothing))
    except (ValueError, TypeError, OverflowError) as error:
        raise error_popup(text("bad_setting", language, error=said(error, language)), language) from None
