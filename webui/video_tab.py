"""The Video tab: a video in, progress by frames with the time left, Stop, a preview of the result and
its download."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from gpen.options import DEFAULT_VIDEO_QUALITY, VIDEO_QUALITY_RANGE
from gpen.video_formats import VIDEO_INPUT_EXTENSIONS

from .messages import user_errors
from .video_handlers import VideoHandlers
from .widgets import GPU, PAGE, Controls, build_controls, t


@dataclass
class VideoTab:
    video: gr.File
    quality: gr.Slider
    smoothing: gr.Checkbox
    controls: Controls
    enhance: gr.Button
    stop: gr.Button
    summary: gr.Markdown
    preview: gr.Video
    result_file: gr.File


def build_video_tab() -> VideoTab:
    with gr.Tab(t("tab_video"), id="video", elem_id="tab-video"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                video = gr.File(file_types=sorted(VIDEO_INPUT_EXTENSIONS), label=t("video_file"),
                                elem_id="video-input", height=160)
                low, high = VIDEO_QUALITY_RANGE
                quality = gr.Slider(low, high, value=DEFAULT_VIDEO_QUALITY, step=1, label=t("video_quality"),
                                    info=t("video_quality_info"), elem_id="video-quality")
                smoothing = gr.Checkbox(True, label=t("smoothing"), elem_id="video-smoothing")
                tab_controls = build_controls("video")
                with gr.Row():
                    enhance = gr.Button(t("enhance_video"), variant="primary", elem_id="video-enhance")
                    stop = gr.Button(t("stop"), variant="stop", elem_id="video-stop")
            with gr.Column(scale=3):
                summary = gr.Markdown(elem_id="video-summary")
                preview = gr.Video(label=t("video_result"), interactive=False, elem_id="video-result", height=400)
                result_file = gr.File(label=t("video_download"), interactive=False, visible=False,
                                      elem_id="video-download")
    return VideoTab(video, quality, smoothing, tab_controls, enhance, stop, summary, preview, result_file)


def wire_video_tab(tab: VideoTab, handlers: VideoHandlers) -> None:
    tab.enhance.click(user_errors(handlers.enhance_video),
                      [tab.video, tab.quality, tab.smoothing, *tab.controls.inputs()],
                      [tab.preview, tab.result_file, tab.summary], api_name="page_enhance_video", **GPU, **PAGE)
    tab.stop.click(user_errors(handlers.stop_video), None, None, queue=False, api_name="page_stop_video", **PAGE)
    tab.controls.wire_mode(handlers.handlers)
