"""The Settings tab's status panel: the GPU, the loaded model, and which model files are there."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from gpen import registry
from gpen.devices import cuda_available
from gpen.weights import downloads_disabled

from .download_failures import DownloadFailure
from .engine_holder import EngineState
from .i18n import text, worded


def cuda_missing_reason_key() -> str | None:
    """None where CUDA can be used, else the i18n key of the reason it cannot."""
    if cuda_available():
        return None
    return "status_cuda_reason_build" if torch.version.cuda is None else "status_cuda_reason_gpu"


def nested(lines: Sequence[str]) -> str:
    """Lines of a message as Markdown for the end of a list item: the first inline, each other one (an
    address, a step) as an item of a list under it, so that none is run into another."""
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        return "-"
    return lines[0] + "".join(f"\n    - {line.removeprefix('- ')}" for line in lines[1:])


def render_status(state: EngineState, language: str, folder: Path | None, settings_file: Path,
                  outputs: Path, failures: Sequence[DownloadFailure] = ()) -> str:
    """The status panel as Markdown, in ``language``: the GPU, what is loaded (or why nothing is, in full),
    settings waiting for their files, the last failed download of each file still missing, and the places."""
    folder = Path(folder) if folder is not None else registry.models_dir()
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
                                 detector=state.detector or state.settings.engine.detector))
        if state.note:
            lines.append("- " + text("status_note", language, note=worded(state.note, language)))
        if state.waiting:
            lines.append("- " + waiting_line(state, language, folder))
    else:
        lines.append("- " + text("status_not_loaded", language, error=nested((worded(state.error, language) or "-").splitlines())))
    lines += ["- " + text("status_download_failed", language, message=nested(failure.lines(language)))
              for failure in failures]
    lines.append("- " + text("status_folder", language, folder=folder))
    lines.append("- " + text("status_settings_file", language, path=settings_file))
    lines.append("- " + text("status_outputs", language, path=outputs))
    if downloads_disabled():
        lines.append("- " + text("status_downloads_off", language))
    return "\n".join(lines)


def waiting_line(state: EngineState, language: str, folder: Path) -> str:
    """The settings in force wait for these model files before they can be loaded."""
    engine = state.settings.engine
    files = ", ".join(spec.file_name for spec in registry.missing_models(engine.model, folder, engine.detector))
    return text("status_waiting", language, model=engine.model, detector=engine.detector, files=files or "-")


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
