"""The Single photo tab: a photo in, the before/after slider, what was found, and the result to download."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .handlers import Handlers
from .messages import user_errors
from .widgets import GPU, PAGE, Controls, build_controls, photo_input, t


@dataclass
class SingleTab:
    image: gr.Image
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
                tab_controls = build_controls("single")
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
    return SingleTab(image, tab_controls, enhance, notice, comparison, faces_found, device_used, seconds_taken,
                     result_file)


def wire_single_tab(tab: SingleTab, handlers: Handlers) -> None:
    tab.enhance.click(user_errors(handlers.enhance_single), [tab.image, *tab.controls.inputs()],
                      [tab.comparison, tab.result_file, tab.faces_found, tab.device_used, tab.seconds_taken,
                       tab.notice], api_name="page_enhance", **GPU, **PAGE)
    tab.controls.wire_mode(handlers)
