"""The page: three tabs (Single photo, Batch, Settings) and two API endpoints, built as one ``gr.Blocks``.

Building the components and wiring the events are separate steps. Every event that runs the network
(or loads a model onto the device) shares the concurrency group ``GPU_QUEUE`` with a limit of one, so
single photos, batches, API calls and model swaps wait for each other in one queue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from gpen.devices import PRECISION_CHOICES
from gpen.options import MAX_BATCH_SIZE
from gpen.faces import FACE_CHOICES
from gpen.options import OUTPUT_FORMATS
from gpen.registry import DETECTOR_CHOICES

from . import options as controls
from .handlers import Handlers
from .i18n import gradio_translations
from .messages import user_errors
from .settings import MAX_MAX_PIXELS, MIN_MAX_PIXELS, Settings
from .status import cuda_missing_reason_key

I18N = gr.I18n(**gradio_translations())
t = I18N
GPU_QUEUE = "gpu"
DOWNLOAD_QUEUE = "download"
BATCH_FILE_TYPES = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".zip"]
FORMAT_LABELS = {"same": t("format_same"), "png": "PNG", "jpg": "JPEG", "webp": "WebP"}

CSS = """
.cuda-off label:has(input[value="cuda"]) { opacity: 0.45; pointer-events: none; }
#single-notice { border-left: 4px solid var(--color-accent); padding: 0.5em 1em;
                 background: var(--block-background-fill); }
#models-banner { border: 1px solid var(--error-border-color, #f87171); border-radius: 8px; padding: 0.5em 1em; }
"""


def photo_input(**options: Any) -> gr.Image:
    """A ``gr.Image`` (``type="filepath"``) that hands an upload over without opening it: Gradio's own
    check opens it with PIL and, for a file that is not an image, answers with a message that names the
    server's upload folder. The handler's reader then decodes the file, or says why it cannot, in the
    person's language. (The method is replaced on the instance: a subclass would make Gradio write a
    ``.pyi`` stub next to this module.)"""
    image = gr.Image(type="filepath", **options)
    opened_by_gradio = image.preprocess

    def handed_over(payload: Any) -> Any:
        try:
            return opened_by_gradio(payload)
        except gr.Error:
            raise
        except Exception:  # noqa: BLE001  (any file PIL cannot open: the engine's reader says what it is)
            path = getattr(payload, "path", None)
            if not path:
                raise
            return str(path)

    image.preprocess = handed_over  # type: ignore[method-assign]
    return image


@dataclass
class Controls:
    """The restoration controls of one tab; ``inputs()`` is their order in every handler."""

    strength: gr.Slider
    mode: gr.Dropdown
    faces: gr.Radio
    min_face: gr.Slider
    aligned: gr.Checkbox
    adjustments: list[gr.Slider | gr.Checkbox] = field(default_factory=list)

    def inputs(self) -> list[gr.components.Component]:
        return [self.strength, self.mode, self.faces, self.min_face, self.aligned, *self.adjustments]


def build_controls(prefix: str) -> Controls:
    """Strength and mode, with the rest in a collapsed Advanced panel."""
    strength = gr.Slider(0, 100, value=controls.DEFAULT_STRENGTH_PERCENT, step=1, label=t("strength"),
                         info=t("strength_info"), elem_id=f"{prefix}-strength")
    modes = controls.mode_names()
    mode = gr.Dropdown([(t(f"mode_{name}"), name) for name in modes], value=modes[0], label=t("mode"),
                       info=t("mode_info"), visible=controls.has_modes(), elem_id=f"{prefix}-mode")
    with gr.Accordion(t("advanced"), open=False, elem_id=f"{prefix}-advanced"):
        faces = gr.Radio([(t(f"faces_{name}"), name) for name in FACE_CHOICES], value="all", label=t("faces"),
                         elem_id=f"{prefix}-faces")
        min_face = gr.Slider(0, 2048, value=0, step=1, label=t("min_face"), info=t("min_face_info"),
                             elem_id=f"{prefix}-min-face")
        aligned = gr.Checkbox(False, label=t("aligned"), elem_id=f"{prefix}-aligned")
        quality_controls = [build_adjustment(adjustment, prefix) for adjustment in controls.available_adjustments()]
    return Controls(strength, mode, faces, min_face, aligned, quality_controls)


def build_adjustment(adjustment: controls.Adjustment, prefix: str) -> gr.Slider | gr.Checkbox:
    """A slider or a checkbox for one of the engine's quality controls."""
    elem_id = f"{prefix}-{adjustment.name.replace('_', '-')}"
    if adjustment.kind == "switch":
        return gr.Checkbox(controls.default_value(adjustment), label=t(f"adjust_{adjustment.name}"), elem_id=elem_id)
    return gr.Slider(adjustment.minimum, adjustment.maximum, step=adjustment.step,
                     value=controls.default_value(adjustment), label=t(f"adjust_{adjustment.name}"),
                     elem_id=elem_id)


def device_choices() -> tuple[list[tuple[gr.I18nData, str]], list[str]]:
    """The device radio's choices, and its CSS classes: CUDA greyed out, with the reason, where there is none."""
    reason = cuda_missing_reason_key()
    cuda_label = "device_cuda" if reason is None else (
        "device_cuda_no_build" if reason == "status_cuda_reason_build" else "device_cuda_no_gpu")
    choices = [(t("device_auto"), "auto"), (t("device_cpu"), "cpu"), (t(cuda_label), "cuda")]
    return choices, ([] if reason is None else ["cuda-off"])


def build_ui(handlers: Handlers) -> gr.Blocks:
    settings: Settings = handlers.holder.settings
    with gr.Blocks(title="GPEN", analytics_enabled=False, delete_cache=(3600, 6 * 3600)) as demo:
        gr.Markdown(t("intro"), elem_id="intro")
        banner = gr.Markdown(visible=False, elem_id="models-banner")

        with gr.Tab(t("tab_single"), id="single", elem_id="tab-single"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    single_image = photo_input(image_mode=None, sources=["upload", "clipboard"],
                                               label=t("input_photo"), height=360, elem_id="single-input")
                    single_controls = build_controls("single")
                    enhance_button = gr.Button(t("enhance"), variant="primary", elem_id="single-enhance")
                with gr.Column(scale=3):
                    single_notice = gr.Markdown(visible=False, elem_id="single-notice")
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

        with gr.Tab(t("tab_batch"), id="batch", elem_id="tab-batch"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=2):
                    batch_files = gr.File(file_count="multiple", file_types=BATCH_FILE_TYPES, label=t("batch_files"),
                                          elem_id="batch-input", height=220)
                    batch_controls = build_controls("batch")
                    batch_button = gr.Button(t("enhance_all"), variant="primary", elem_id="batch-enhance")
                with gr.Column(scale=3):
                    batch_summary = gr.Markdown(elem_id="batch-summary")
                    gallery = gr.Gallery(label=t("gallery"), columns=4, height=360, object_fit="contain",
                                         elem_id="batch-gallery")
                    batch_zip = gr.File(label=t("download_zip"), interactive=False, visible=False, elem_id="batch-zip")
            batch_table = gr.Dataframe(label=t("report"), interactive=False, wrap=True, elem_id="batch-table",
                                       column_widths=["30%", "12%", "8%", "10%", "40%"])

        with gr.Tab(t("tab_settings"), id="settings", elem_id="tab-settings"):
            with gr.Row(equal_height=False):
                with gr.Column():
                    choices, classes = device_choices()
                    device = gr.Radio(choices, value=settings.device, label=t("device"), elem_id="settings-device",
                                      elem_classes=classes)
                    precision = gr.Radio(list(PRECISION_CHOICES), value=settings.precision, label=t("precision"),
                                         info=t("precision_info"), elem_id="settings-precision")
                    batch_size = gr.Slider(1, MAX_BATCH_SIZE, value=settings.batch_size, step=1, label=t("batch_size"),
                                           elem_id="settings-batch-size")
                    model = gr.Dropdown(list(handlers.offered_models), value=settings.model, label=t("model"),
                                        info=t("model_info"), elem_id="settings-model")
                    detector = gr.Radio(list(DETECTOR_CHOICES), value=settings.detector, label=t("detector"),
                                        info=t("detector_info"), elem_id="settings-detector")
                    output_format = gr.Radio([(FORMAT_LABELS[name], name) for name in OUTPUT_FORMATS],
                                             value=settings.output_format, label=t("output_format"),
                                             elem_id="settings-format")
                    quality = gr.Slider(1, 100, value=settings.quality, step=1, label=t("quality"),
                                        elem_id="settings-quality")
                    strip_metadata = gr.Checkbox(settings.strip_metadata, label=t("strip_metadata"),
                                                 info=t("strip_metadata_info"), elem_id="settings-strip-metadata")
                    max_megapixels = gr.Number(settings.max_pixels / 1_000_000, label=t("max_megapixels"),
                                               info=t("max_megapixels_info"), minimum=MIN_MAX_PIXELS / 1_000_000,
                                               maximum=MAX_MAX_PIXELS / 1_000_000, elem_id="settings-max-megapixels")
                    editable = not handlers.settings_locked
                    gr.Markdown(t("settings_locked_notice"), visible=not editable, elem_id="settings-locked")
                    apply_button = gr.Button(t("apply"), variant="primary", interactive=editable,
                                             elem_id="settings-apply")
                with gr.Column():
                    status = gr.Markdown(elem_id="settings-status")
                    with gr.Row():
                        download_button = gr.Button(t("download_models"), interactive=editable,
                                                    elem_id="settings-download")
                        reload_button = gr.Button(t("reload"), interactive=editable, elem_id="settings-reload")
                    model_files = gr.Markdown(elem_id="settings-model-files")

        # The public API: hidden components give /enhance and /enhance_batch plain parameters.
        with gr.Group(visible=False):
            api_image = photo_input(image_mode=None, label="image")
            api_files = gr.File(file_count="multiple", label="files")
            api_strength = gr.Number(controls.DEFAULT_STRENGTH_PERCENT, label="strength (0-100)")
            api_mode = gr.Textbox(controls.mode_names()[0], label="mode")
            api_faces = gr.Textbox("all", label="faces (all, largest, center)")
            api_min_face = gr.Number(0, label="min_face_px")
            api_aligned = gr.Checkbox(False, label="aligned")
            api_adjustments = gr.JSON(label="adjustments")
            api_result = gr.Image(type="filepath", format="png", label="result")
            api_results = gr.File(file_count="multiple", label="results")
            api_info = gr.JSON(label="info")
            api_button = gr.Button()
            api_batch_button = gr.Button()

        # ---- wiring ----
        settings_outputs = [device, precision, batch_size, model, detector, output_format, quality, strip_metadata,
                            max_megapixels, status, model_files, banner]
        settings_inputs = [device, precision, batch_size, model, detector, output_format, quality, strip_metadata,
                           max_megapixels]
        gpu = dict(concurrency_id=GPU_QUEUE, concurrency_limit=1)
        page = dict(api_visibility="private")   # the page's own events; the public API is below

        enhance_button.click(user_errors(handlers.enhance_single), [single_image, *single_controls.inputs()],
                             [comparison, result_file, faces_found, device_used, seconds_taken, single_notice],
                             api_name="page_enhance", **gpu, **page)
        batch_button.click(user_errors(handlers.enhance_batch), [batch_files, *batch_controls.inputs()],
                           [gallery, batch_table, batch_zip, batch_summary], api_name="page_enhance_batch", **gpu,
                           **page)
        for tab_controls in (single_controls, batch_controls):
            if tab_controls.adjustments:
                tab_controls.mode.change(user_errors(handlers.mode_changed), tab_controls.mode,
                                         tab_controls.adjustments, queue=False,
                                         api_name=f"page_mode_{tab_controls.mode.elem_id}", **page)
        apply_button.click(user_errors(handlers.apply_settings), settings_inputs, settings_outputs,
                           api_name="page_apply", **gpu, **page)
        reload_button.click(user_errors(handlers.reload_model), None, settings_outputs, api_name="page_reload",
                            **gpu, **page)
        download_button.click(user_errors(handlers.download_models), [model, detector], settings_outputs,
                              api_name="page_download", concurrency_id=DOWNLOAD_QUEUE, concurrency_limit=1, **page)
        demo.load(user_errors(handlers.page_load), None, [*settings_outputs, batch_table], queue=False,
                  api_name="page_load", **page)

        api_inputs = [api_strength, api_mode, api_faces, api_min_face, api_aligned, api_adjustments]
        api_button.click(user_errors(handlers.api_enhance), [api_image, *api_inputs], [api_result, api_info],
                         api_name="enhance", **gpu)
        api_batch_button.click(user_errors(handlers.api_enhance_batch), [api_files, *api_inputs],
                               [api_results, api_info], api_name="enhance_batch", **gpu)
    return demo
