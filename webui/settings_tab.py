"""The Settings tab: the engine's and the results' settings, the status panel and the model files."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from gpen.options import MAX_BATCH_SIZE, OUTPUT_FORMATS, PRECISION_CHOICES
from gpen.registry import DETECTOR_CHOICES

from .handlers import Handlers
from .messages import user_errors
from .settings import MAX_MAX_PIXELS, MIN_MAX_PIXELS, Settings
from .widgets import DOWNLOAD_QUEUE, GPU, PAGE, device_choices, t

FORMAT_LABELS = {"same": t("format_same"), "png": "PNG", "jpg": "JPEG", "webp": "WebP"}


@dataclass
class SettingsTab:
    inputs: list[gr.components.Component]   # in the order of ``SettingsEvents.apply_settings``
    model: gr.Dropdown
    detector: gr.Radio
    status: gr.Markdown
    model_files: gr.Markdown
    apply: gr.Button
    download: gr.Button
    reload: gr.Button


def build_settings_tab(handlers: Handlers) -> SettingsTab:
    settings: Settings = handlers.holder.settings
    with gr.Tab(t("tab_settings"), id="settings", elem_id="tab-settings"):
        with gr.Row(equal_height=False):
            with gr.Column():
                choices, classes = device_choices()
                device = gr.Radio(choices, value=settings.engine.device, label=t("device"), elem_id="settings-device",
                                  elem_classes=classes)
                precision = gr.Radio(list(PRECISION_CHOICES), value=settings.engine.precision, label=t("precision"),
                                     info=t("precision_info"), elem_id="settings-precision")
                batch_size = gr.Slider(1, MAX_BATCH_SIZE, value=settings.engine.batch_size, step=1, label=t("batch_size"),
                                       elem_id="settings-batch-size")
                model = gr.Dropdown(list(handlers.settings.offered_models), value=settings.engine.model, label=t("model"),
                                    info=t("model_info"), elem_id="settings-model")
                detector = gr.Radio(list(DETECTOR_CHOICES), value=settings.engine.detector, label=t("detector"),
                                    info=t("detector_info"), elem_id="settings-detector")
                output_format = gr.Radio([(FORMAT_LABELS[name], name) for name in OUTPUT_FORMATS],
                                         value=settings.output.ext, label=t("output_format"),
                                         elem_id="settings-format")
                quality = gr.Slider(1, 100, value=settings.output.quality, step=1, label=t("quality"),
                                    elem_id="settings-quality")
                strip_metadata = gr.Checkbox(settings.output.strip_metadata, label=t("strip_metadata"),
                                             info=t("strip_metadata_info"), elem_id="settings-strip-metadata")
                max_megapixels = gr.Number(settings.output.max_pixels / 1_000_000, label=t("max_megapixels"),
                                           info=t("max_megapixels_info"), minimum=MIN_MAX_PIXELS / 1_000_000,
                                           maximum=MAX_MAX_PIXELS / 1_000_000, elem_id="settings-max-megapixels")
                editable = not handlers.settings.locked
                gr.Markdown(t("settings_locked_notice"), visible=not editable, elem_id="settings-locked")
                apply = gr.Button(t("apply"), variant="primary", interactive=editable, elem_id="settings-apply")
            with gr.Column():
                status = gr.Markdown(elem_id="settings-status")
                with gr.Row():
                    download = gr.Button(t("download_models"), interactive=editable, elem_id="settings-download")
                    reload = gr.Button(t("reload"), interactive=editable, elem_id="settings-reload")
                model_files = gr.Markdown(elem_id="settings-model-files")
    inputs = [device, precision, batch_size, model, detector, output_format, quality, strip_metadata, max_megapixels]
    return SettingsTab(inputs, model, detector, status, model_files, apply, download, reload)


def wire_settings_tab(tab: SettingsTab, handlers: Handlers, banner: gr.Markdown, batch_table: gr.Dataframe,
                      demo: gr.Blocks) -> None:
    """The settings' buttons, and the page load that shows the settings in force."""
    outputs = [*tab.inputs, tab.status, tab.model_files, banner]
    tab.apply.click(user_errors(handlers.settings.apply_settings), tab.inputs, outputs, api_name="page_apply", **GPU, **PAGE)
    tab.reload.click(user_errors(handlers.settings.reload_model), None, outputs, api_name="page_reload", **GPU, **PAGE)
    tab.download.click(user_errors(handlers.settings.download_models), [tab.model, tab.detector], outputs,
                       api_name="page_download", concurrency_id=DOWNLOAD_QUEUE, concurrency_limit=1, **PAGE)
    demo.load(user_errors(handlers.page_load), None, [*outputs, batch_table], queue=False, api_name="page_load",
              **PAGE)
