"""The Batch tab: many photos (or ZIPs) in, progress, a gallery, the report table and a ZIP of the results."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from .handlers import Handlers
from .messages import user_errors
from .widgets import GPU, PAGE, Controls, build_controls, t

BATCH_FILE_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".zip"]


@dataclass
class BatchTab:
    files: gr.File
    controls: Controls
    enhance: gr.Button
    stop: gr.Button
    summary: gr.Markdown
    folder: gr.Textbox
    gallery: gr.Gallery
    results_zip: gr.File
    table: gr.Dataframe


def build_batch_tab() -> BatchTab:
    with gr.Tab(t("tab_batch"), id="batch", elem_id="tab-batch"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                files = gr.File(file_count="multiple", file_types=BATCH_FILE_TYPES, label=t("batch_files"),
                                elem_id="batch-input", height=220)
                tab_controls = build_controls("batch")
                with gr.Row():
                    enhance = gr.Button(t("enhance_all"), variant="primary", elem_id="batch-enhance", scale=3)
                    stop = gr.Button(t("stop"), variant="stop", elem_id="batch-stop", scale=1)
            with gr.Column(scale=3):
                summary = gr.Markdown(elem_id="batch-summary")
                folder = gr.Textbox(label=t("batch_folder"), interactive=False, visible=False, buttons=["copy"],
                                    elem_id="batch-folder")
                gallery = gr.Gallery(label=t("gallery"), columns=4, height=360, object_fit="contain",
                                     elem_id="batch-gallery")
                results_zip = gr.File(label=t("download_zip"), interactive=False, visible=False, elem_id="batch-zip")
        table = gr.Dataframe(label=t("report"), interactive=False, wrap=True, elem_id="batch-table",
                             column_widths=["30%", "12%", "8%", "10%", "40%"])
    return BatchTab(files, tab_controls, enhance, stop, summary, folder, gallery, results_zip, table)


def wire_batch_tab(tab: BatchTab, handlers: Handlers) -> None:
    tab.enhance.click(user_errors(handlers.enhance_batch), [tab.files, *tab.controls.inputs()],
                      [tab.gallery, tab.table, tab.results_zip, tab.summary, tab.folder], api_name="page_enhance_batch",
                      show_progress_on=tab.gallery, **GPU, **PAGE)   # one progress bar, not one per output
    tab.stop.click(user_errors(handlers.stop_batch), None, None, queue=False, api_name="page_stop_batch", **PAGE)
    tab.controls.wire_mode(handlers)
