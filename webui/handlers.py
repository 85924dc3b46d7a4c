"""What the Single and Batch tabs' buttons and the public endpoints do, and the page's own events. The
work itself is ``jobs.Jobs``'s; the Settings tab's events are ``settings_events.SettingsEvents``'s. Errors
reach the person as ``gr.Error`` / ``gr.Warning`` text, never as a stack trace.

Functions named ``api_*`` are the public endpoints ``/enhance`` and ``/enhance_batch``; the others
serve the page. Parameters Gradio fills in (``request``, ``progress``) come first in the page
handlers so that the quality sliders can follow as ``*adjustments``.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Sequence

import gradio as gr
import numpy as np

from gpen import EnhanceOptions

from . import options as controls
from .clients import ClientWatch
from .engine_holder import EngineHolder
from .files import BatchLimits, RequestFolders, link_or_copy, zip_results
from .i18n import language_of_request, said, text, worded
from .jobs import Jobs
from .messages import error_popup, show_info, show_warning, shown
from .reports import batch_summary, report_table
from .settings_events import SettingsEvents

log = logging.getLogger(__name__)

MAX_FACE_NUMBERS = 1000    # more numbers than any photo has faces: a bigger list is not a real request


def forget_faces() -> tuple:
    """The Single tab's face preview and ticks, emptied (no photo, or a new one coming)."""
    return gr.update(value=None, visible=False), gr.update(choices=[], value=[], visible=False), 0


class Handlers:
    """The app's event functions, on its shared state: the engine holder, the request folders and the
    settings file (``jobs`` does the work, ``settings`` serves the Settings tab)."""

    def __init__(self, holder: EngineHolder, folders: RequestFolders, settings_file: Path,
                 limits: BatchLimits | None = None, clients: ClientWatch | None = None,
                 settings_locked: bool = False):
        self.holder = holder
        self.jobs = Jobs(holder, folders, limits, clients)
        self.settings = SettingsEvents(holder, settings_file, settings_locked)

    # ---- shared steps ---------------------------------------------------------------------------
    def options_from_controls(self, language: str, strength: Any, mode: Any, faces: Any, min_face_px: Any,
                              aligned: Any, adjustments: Any) -> EnhanceOptions:
        """The options the controls' values ask for; ``adjustments`` may be the API's JSON text."""
        try:
            return controls.build_options(strength, mode, faces, min_face_px, aligned,
                                          controls.adjustments_from_api(adjustments))
        except (ValueError, TypeError, OverflowError) as error:
            raise error_popup(text("bad_setting", language, error=said(error, language)), language) from None

    @staticmethod
    def slider_values(values: Sequence[Any]) -> dict[str, Any]:
        adjustments = controls.available_adjustments()
        return {adjustment.name: value for adjustment, value in zip(adjustments, values, strict=True)}

    @staticmethod
    def _picked(options: EnhanceOptions, numbers: Any, language: str) -> EnhanceOptions:
        """``options`` restoring only the faces with these numbers (none given: the ``faces`` choice decides)."""
        if not numbers:
            return options
        try:
            if not isinstance(numbers, (list, tuple)) or len(numbers) > MAX_FACE_NUMBERS:
                raise ValueError(f"face_indices must be a list of at most {MAX_FACE_NUMBERS} face numbers")
            return dataclasses.replace(options, face_numbers=tuple(numbers))
        except (ValueError, TypeError) as error:
            raise error_popup(text("bad_setting", language, error=said(error, language)), language) from None

    # ---- the Single tab -------------------------------------------------------------------------
    def find_faces(self, request: gr.Request, image: str | None, landmarks: bool) -> tuple:
        """Page, when a photo is added: the numbered face preview and a ticked box for each face."""
        if not image:
            return forget_faces()
        found = self.jobs.find_faces(image, language_of_request(request), bool(landmarks))
        numbers = list(range(1, len(found.faces) + 1))
        return (gr.update(value=str(found.preview), visible=True),
                gr.update(choices=[(str(number), number) for number in numbers], value=numbers,
                          visible=bool(numbers)), len(numbers))

    def api_find_faces(self, image: str, show_landmarks: bool = False, request: gr.Request = None) -> tuple[str, dict]:
        """Find the faces in one photo. Returns the preview (the photo with a numbered box on each face) and a
        dict: ``faces``, a list of {index, box [x1, y1, x2, y2], score, landmarks}; ``index`` is the number on
        the preview (1 is the leftmost face), as ``/enhance``'s ``face_indices`` takes it."""
        found = self.jobs.find_faces(image, language_of_request(request), bool(show_landmarks))
        faces = [{"index": number, "box": [round(float(value), 1) for value in face.box],
                  "score": round(float(face.score), 4), "landmarks": np.round(face.landmarks, 1).tolist()}
                 for number, face in enumerate(found.faces, start=1)]
        return str(found.preview), {"faces": faces}

    def enhance_single(self, request: gr.Request, image: str | None, picked: list[int] | None, found: float | None,
                       strength: float, mode: str, faces: str, min_face_px: float, aligned: bool,
                       *adjustments: float) -> tuple:
        """Page: before/after slider, result file, faces, device, seconds and the no-face notice. ``picked``
        are the ticked faces of the ``found`` ones."""
        language = language_of_request(request)
        options = self.options_from_controls(language, strength, mode, faces, min_face_px, aligned,
                                self.slider_values(adjustments))
        if found and not picked and not options.aligned:
            raise error_popup(text("no_face_ticked", language), language)
        if not options.aligned:
            options = self._picked(options, picked, language)
        outcome = self.jobs.restore_photo(image, options, language)
        info = outcome.info
        notice = info["notice"]
        if notice:
            show_warning(notice, language)
        device = f"{info['device']} ({info['precision']}), {info['model']}"
        return ((str(outcome.before_preview), str(outcome.after_preview)),
                gr.update(value=str(outcome.result_file), visible=True), str(info["faces"]), device,
                f"{info['seconds']:.2f}", gr.update(value=notice or "", visible=bool(notice)))

    def api_enhance(self, image: str, strength: float = controls.DEFAULT_STRENGTH_PERCENT,
                    mode: str = controls.mode_names()[0], faces: str = "all", min_face_px: float = 0,
                    aligned: bool = False, adjustments: dict | None = None, face_indices: list[int] | None = None,
                    request: gr.Request = None) -> tuple[str, dict]:
        """Restore the faces in one photo. Returns the result image (full resolution, in the output
        format chosen in Settings) and a dict: faces, device, model, seconds, notice. ``face_indices``
        restores only those faces, numbered as ``/find_faces`` numbers them (empty: ``faces`` chooses)."""
        language = language_of_request(request)
        options = self.options_from_controls(language, strength, mode, faces, min_face_px, aligned, adjustments)
        options = self._picked(options, face_indices, language)
        outcome = self.jobs.restore_photo(image, options, language)
        return str(outcome.result_file), outcome.info

    # ---- the Batch tab --------------------------------------------------------------------------
    def enhance_batch(self, request: gr.Request, progress: gr.Progress = gr.Progress(),
                      files: list[str] | None = None, strength: float = 100, mode: str = controls.mode_names()[0],
                      faces: str = "all", min_face_px: float = 0, aligned: bool = False, *adjustments: float) -> tuple:
        """Page: gallery of thumbnails, the table, the ZIP of all results and a summary line."""
        language = language_of_request(request)
        options = self.options_from_controls(language, strength, mode, faces, min_face_px, aligned,
                                self.slider_values(adjustments))
        outcome = self.jobs.restore_batch(files, options, language, progress, getattr(request, "session_hash", None),
                                          gallery=True)
        summary = batch_summary(outcome.rows, outcome.seconds, outcome.folder, language)
        folder = gr.update(value=str(outcome.folder), visible=True)
        if outcome.client_left:             # nobody is left to see a gallery or a ZIP
            return [], report_table(outcome.rows, language), gr.update(), summary, folder
        archive = None
        if outcome.results:
            archive = zip_results([path for path, _ in outcome.results], [outcome.folder / "report.json"],
                                  outcome.work / f"{outcome.folder.name}.zip")
        if outcome.stop_asked:
            show_info(text("batch_stopped", language, total=len(outcome.rows),
                         done=sum(row.status != "stopped" for row in outcome.rows)), language)
        failed = [row for row in outcome.rows if row.status == "failed"]
        if failed:   # stays until closed; the whole errors are at the top of the table
            errors = [(row.input, worded(row.error, language)) for row in failed[:5]]
            lines = [error if name in error else f"{name}: {error}" for name, error in errors]
            lines += ["…"] if len(failed) > 5 else []
            show_warning(shown(text("batch_failed_popup", language, count=len(failed), total=len(outcome.rows))
                             + "\n" + "\n".join(lines)), language, duration=None)
        return (outcome.gallery, report_table(outcome.rows, language),
                gr.update(value=str(archive) if archive else None, visible=archive is not None), summary, folder)

    def stop_batch(self, request: gr.Request) -> None:
        """Stop: the batch in progress finishes its photos in flight and keeps every result so far."""
        if self.jobs.running.stop("batch", getattr(request, "session_hash", None)):
            language = language_of_request(request)
            show_info(text("batch_stopping", language), language)

    def api_enhance_batch(self, files: list[str], strength: float = controls.DEFAULT_STRENGTH_PERCENT,
                          mode: str = controls.mode_names()[0], faces: str = "all", min_face_px: float = 0,
                          aligned: bool = False, adjustments: dict | None = None, request: gr.Request = None,
                          progress: gr.Progress = gr.Progress()) -> tuple[list[str], list[dict]]:
        """Restore the faces in many photos (or the photos in ZIPs). Returns the result files and one
        report row per input: input, output, status (ok, no_faces, skipped, failed), faces, seconds, error."""
        language = language_of_request(request)
        options = self.options_from_controls(language, strength, mode, faces, min_face_px, aligned, adjustments)
        outcome = self.jobs.restore_batch(files, options, language, progress, getattr(request, "session_hash", None))
        handed = [str(link_or_copy(path, outcome.work / "results" / path.name)) for path, _ in outcome.results]
        report = [dict(dataclasses.asdict(row), output=Path(row.output).name if row.output else None)
                  for row in outcome.rows]
        return handed, report

    # ---- the page ---------------------------------------------------------------------------------
    def page_load(self, request: gr.Request) -> tuple:
        """On every page load: the current settings (they may have changed since the page was built) and
        the batch table's headings in the browser's language."""
        language = language_of_request(request)
        return (*self.settings.settings_view(language), report_table([], language))

    @staticmethod
    def mode_changed(mode: str) -> list:
        """The quality sliders set to the chosen mode's preset."""
        values = controls.mode_values(mode) if mode in controls.mode_names() else {}
        return [gr.update(value=values[adjustment.name]) if adjustment.name in values else gr.update()
                for adjustment in controls.available_adjustments()]


