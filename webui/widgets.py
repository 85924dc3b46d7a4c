"""What every tab is made of: the translated labels, the restoration controls, the photo input, and the
queues the events share. Every event that runs the network (or loads a model onto the device) shares the
concurrency group ``GPU_QUEUE`` with a limit of one, so single photos, batches, API calls and model swaps
wait for each other in one queue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from gpen.options import FACE_CHOICES

from . import options as controls
from .i18n import gradio_translations
from .messages import user_errors
from .status import cuda_missing_reason_key

I18N = gr.I18n(**gradio_translations())
t = I18N
GPU_QUEUE = "gpu"
DOWNLOAD_QUEUE = "download"
GPU = dict(concurrency_id=GPU_QUEUE, concurrency_limit=1)
PAGE = dict(api_visibility="private")   # the page's own events; only the API endpoints are public


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

    def wire_mode(self, handlers: Any) -> None:
        """Choosing a mode sets the quality controls to its preset (``Handlers.mode_changed``)."""
        if self.adjustments:
            self.mode.change(user_errors(handlers.mode_changed), self.mode, self.adjustments, queue=False,
                             api_name=f"page_mode_{self.mode.elem_id}", **PAGE)


def build_controls(prefix: str, face_choice: bool = True) -> Controls:
    """Strength and mode, with the rest in a collapsed Advanced panel. Without ``face_choice`` the
    all/largest/centre choice is hidden (it stays "all"): the Single tab picks faces on its preview."""
    strength = gr.Slider(0, 100, value=controls.DEFAULT_STRENGTH_PERCENT, step=1, label=t("strength"),
                         info=t("strength_info"), elem_id=f"{prefix}-strength")
    modes = controls.mode_names()
    mode = gr.Dropdown([(t(f"mode_{name}"), name) for name in modes], value=modes[0], label=t("mode"),
                       info=t("mode_info"), visible=controls.has_modes(), elem_id=f"{prefix}-mode")
    with gr.Accordion(t("advanced"), open=False, elem_id=f"{prefix}-advanced"):
        faces = gr.Radio([(t(f"faces_{name}"), name) for name in FACE_CHOICES], value="all", label=t("faces"),
                         elem_id=f"{prefix}-faces", visible=face_choice)
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
