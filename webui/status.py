"""The Settings tab's status panel: the GPU, the loaded model, and which model files are there."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from gpen import registry
from gpen.devices import cuda_available

from .engine_holder import EngineState
from .i18n import text


def cuda_missing_reason_key() -> str | None:
    """None where CUDA can be used, else the i18n key of the reason it cannot."""
    if cuda_available():
        return None
    return "status_cuda_reason_build" if torch.version.cuda is None else "status_cuda_reason_gpu"


def downloads_disabled() -> bool:
    """``GPEN_NO_DOWNLOAD`` is set (read as the engine reads it)."""
    return os.environ.get("GPEN_NO_DOWNLOAD", "").strip().lower() not in ("", "0", "false", "no")


def render_status(state: EngineState, language: str, folder: Path | None, settings_file: Path,
                  outputs: Path) -> str:
    """The status panel as Markdown, in ``language``."""
    lines = [f"### {text('status', language)}", ""]
    reason = cuda_missing_reason_key()
    if reason is None:
        properties = torch.cuda.get_device_properties(0)
        free_bytes, total_bytes = torch.cuda.mem_get_info(0)
        lines.append("- " + text("status_cuda_yes", language, name=properties.name, total_gb=total_bytes / 2**30,
                                 free_gb=free_bytes / 2**30))
    else:
        lines.append("- " + text("status_cuda_no", language, reason=text(reason, language)))
    if state.loaded:
        lines.append("- " + text("status_loaded", language, model=state.model_name, device=state.device,
                                 precision=state.precision, batch_size=state.batch_size,
                                 detector=state.settings.engine.detector))
        if state.note:
            lines.append("- " + text("status_note", language, note=state.note))
    else:
        error = (state.error or "").splitlines()[0] if state.error else "-"
        lines.append("- " + text("status_not_loaded", language, error=error))
    folder = Path(folder) if folder is not None else registry.models_dir()
    lines.append("- " + text("status_folder", language, folder=folder))
    lines.append("- " + text("status_settings_file", language, path=settings_file))
    lines.append("- " + text("status_outputs", language, path=outputs))
    if downloads_disabled():
        lines.append("- " + text("status_downloads_off", language))
    return "\n".join(lines)


def render_model_files(model: str, language: str, folder: Path | None,
                       detector: str = registry.DEFAULT_DETECTOR) -> str:
    """The table of model files: which the settings need, which are there, where to get each."""
    folder = Path(folder) if folder is not None else registry.models_dir()
    needed = {spec.name for spec in registry.needed_models(model, detector)}
    lines = [f"#### {text('status_files', language)}", "",
             f"| {text('status_file', language)} | {text('status_needed', language)} | "
             f"{text('column_status', language)} | {text('status_source', language)} |",
             "|---|---|---|---|"]
    for spec, _, exists in registry.model_status(folder):
        mark = text("status_present", language) if exists else f"**{text('status_missing', language)}**"
        needed_mark = text("status_yes", language) if spec.name in needed else ""
        link = f"[{text('status_link', language)}]({spec.urls[0]})"
        lines.append(f"| `{spec.file_name}` | {needed_mark} | {mark} | {link} |")
    return "\n".join(lines)
