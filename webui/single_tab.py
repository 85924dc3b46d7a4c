"""The Single photo tab: a photo in, its faces found and numbered at once (tick the ones to restore), the
before/after slider, and the result to download."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .handlers import Handlers, forget_faces
from .messages import user_errors
from .widgets import GPU, PAGE, Controls, build_controls, photo_input, t


@dataclass
class SingleTab:
    image: gr.Image
    face_preview: gr.Image
    picked: gr.CheckboxGroup
    landmarks: gr.Checkbox
    found: gr.Number
    controls: Controls
    enhance: gr.Button
    notice: gr.Markdown
    comparison: gr.ImageSlider
    faces_found: gr.Textbox
    device_used: gr.Textbox
    seconds_taken: gr.Textbox
    result_file: gr.File


def build_single_tab() -> SingleTab:
    with gr.Tab(t("tab_single"), id="single", elem_id="tab-single"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                image = photo_input(image_mode=None, sources=["upload", "clipboard"], label=t("input_photo"),
                                    height=360, elem_id="single-input")
                face_preview = gr.Image(type="filepath", label=t("face_preview"), interactive=False, visible=False,
                                        height=360, elem_id="single-face-preview")
                picked = gr.CheckboxGroup([], value=[], label=t("picked_faces"), info=t("picked_faces_info"),
                                          visible=False, elem_id="single-picked")
                landmarks = gr.Checkbox(False, label=t("show_landmarks"), elem_id="single-landmarks")
                # in the page (not server-side state), so that Enhance sends the count and the ticks of one moment
                found = gr.Number(0, visible=False, precision=0, elem_id="single-found")
                tab_controls = build_controls("single", face_choice=False)
                enhance = gr.Button(t("enhance"), variant="primary", elem_id="single-enhance")
            with gr.Column(scale=3):
                notice = gr.Markdown(visible=False, elem_id="single-notice")
                comparison = gr.ImageSlider(type="filepath", label=t("before_after"), max_height=560,
                                            interactive=False, elem_id="single-slider")
                with gr.Row():
                    faces_found = gr.Textbox(label=t("faces_found"), interactive=False, elem_id="single-faces",
                                             min_width=100)
                    device_used = gr.Textbox(label=t("device_used"), interactive=False, elem_id="single-device",
                                             min_width=160)
                    seconds_taken = gr.Textbox(label=t("seconds_taken"), interactive=False,
                                               elem_id="single-seconds", min_width=100)
                result_file = gr.File(label=t("download_result"), interactive=False, visible=False,
                                      elem_id="single-download")
    return SingleTab(image, face_preview, picked, landmarks, found, tab_controls, enhance, notice, comparison,
                     faces_found, device_used, seconds_taken, result_file)


def wire_single_tab(tab: SingleTab, handlers: Handlers) -> None:
    found_outputs = [tab.face_preview, tab.picked, tab.found]
    # A new photo first clears the old photo's faces at once (no Enhance can send the old ticks), then finds
    # its own; "show landmarks" only draws the preview again.
    tab.image.change(forget_faces, None, found_outputs, queue=False, api_name="page_forget_faces", **PAGE).then(
        user_errors(handlers.find_faces), [tab.image, tab.landmarks], found_outputs, api_name="page_find_faces",
        **GPU, **PAGE)
    tab.landmarks.change(user_errors(handlers.find_faces), [tab.image, tab.landmarks], found_outputs,
                         api_name="page_draw_faces", **GPU, **PAGE)
    tab.enhance.click(user_errors(handlers.enhance_single),
                      [tab.image, tab.picked, tab.found, *tab.controls.inputs()],
                      [tab.comparison, tab.result_file, tab.faces_found, tab.device_used, tab.seconds_taken,
                       tab.notice], api_name="page_enhance", **GPU, **PAGE)
    tab.controls.wire_mode(handlers)
