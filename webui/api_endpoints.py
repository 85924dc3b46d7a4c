"""The public API: ``/enhance``, ``/enhance_batch``, ``/find_faces`` and ``/enhance_video``, on hidden
components that give them plain parameters."""
from __future__ import annotations

import gradio as gr

from gpen.options import DEFAULT_VIDEO_QUALITY, VIDEO_QUALITY_RANGE

from . import options as controls
from .handlers import Handlers
from .messages import user_errors
from .video_handlers import VideoHandlers
from .widgets import GPU, photo_input


def build_and_wire_api(handlers: Handlers) -> None:
    with gr.Group(visible=False):
        image = photo_input(image_mode=None, label="image")
        files = gr.File(file_count="multiple", label="files")
        strength = gr.Number(controls.DEFAULT_STRENGTH_PERCENT, label="strength (0-100)")
        mode = gr.Textbox(controls.mode_names()[0], label="mode")
        faces = gr.Textbox("all", label="faces (all, largest, center)")
        min_face = gr.Number(0, label="min_face_px")
        aligned = gr.Checkbox(False, label="aligned")
        adjustments = gr.JSON(label="adjustments")
        face_indices = gr.JSON(label="face_indices (numbers from /find_faces)")
        show_landmarks = gr.Checkbox(False, label="show_landmarks")
        preview = gr.Image(type="filepath", format="jpeg", label="preview")
        result = gr.Image(type="filepath", format="png", label="result")
        results = gr.File(file_count="multiple", label="results")
        info = gr.JSON(label="info")
        one_button = gr.Button()
        batch_button = gr.Button()
        faces_button = gr.Button()
    inputs = [strength, mode, faces, min_face, aligned, adjustments]
    one_button.click(user_errors(handlers.api_enhance), [image, *inputs, face_indices], [result, info],
                     api_name="enhance", **GPU)
    batch_button.click(user_errors(handlers.api_enhance_batch), [files, *inputs], [results, info],
                       api_name="enhance_batch", **GPU)
    faces_button.click(user_errors(handlers.api_find_faces), [image, show_landmarks], [preview, info],
                       api_name="find_faces", **GPU)


def build_and_wire_video_api(videos: VideoHandlers) -> None:
    """``/enhance_video``: one video in, the restored video and what was done out."""
    with gr.Group(visible=False):
        video = gr.File(label="video")
        quality = gr.Number(DEFAULT_VIDEO_QUALITY, label=f"quality (H.264 CRF {VIDEO_QUALITY_RANGE[0]}-"
                                                         f"{VIDEO_QUALITY_RANGE[1]})")
        smoothing = gr.Checkbox(True, label="smoothing")
        strength = gr.Number(controls.DEFAULT_STRENGTH_PERCENT, label="strength (0-100)")
        mode = gr.Textbox(controls.mode_names()[0], label="mode")
        faces = gr.Textbox("all", label="faces (all, largest, center)")
        min_face = gr.Number(0, label="min_face_px")
        aligned = gr.Checkbox(False, label="aligned")
        adjustments = gr.JSON(label="adjustments")
        result = gr.File(label="result")
        info = gr.JSON(label="info")
        button = gr.Button()
    button.click(user_errors(videos.api_enhance_video),
                 [video, quality, smoothing, strength, mode, faces, min_face, aligned, adjustments], [result, info],
                 api_name="enhance_video", **GPU)
