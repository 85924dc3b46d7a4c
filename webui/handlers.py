"""What the buttons do. Every function that runs the network holds the shared engine's lock (and
runs in the one GPU queue, see ``layout``); errors reach the person as ``gr.Error`` / ``gr.Warning``
text, never as a stack trace.

Functions named ``api_*`` are the public endpoints ``/enhance`` and ``/enhance_batch``; the others
serve the page. Parameters Gradio fills in (``request``, ``progress``) come first in the page
handlers so that the quality sliders can follow as ``*adjustments``.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import gradio as gr

from gpen import Engine, EnhanceOptions
from gpen.batch import FileOutcome, SaveOptions, process_files, restore_file
from gpen.reports import FileReport, write_report
from gpen.errors import GpenError, ModelFileError
from gpen.images import load_image
from gpen.output_names import plan_output_paths
from gpen.registry import DETECTOR_CHOICES, missing_models
from gpen.weights import resolve_model_file

from . import options as controls
from .clients import ClientWatch
from .engine_holder import EngineHolder
from .files import (
    THUMBNAIL_SIDE_PX,
    BatchLimits,
    RequestFolders,
    collect_inputs,
    count_photos,
    link_or_copy,
    new_batch_folder,
    outputs_root,
    save_preview,
    zip_results,
)
from .i18n import language_of_request, text
from .reports import batch_summary, named_row, report_table
from .messages import problem_key, shown
from .settings import Settings, offered_models, save_settings
from .status import render_model_files, render_status

log = logging.getLogger(__name__)

T = TypeVar("T")



@dataclass(frozen=True)
class SingleOutcome:
    """One restored photo: the result file, the previews for the slider, and what happened."""

    result_file: Path
    before_preview: Path
    after_preview: Path
    info: dict[str, Any]


@dataclass(frozen=True)
class BatchOutcome:
    """One batch: a row per input (named as the person knows it), the result files and the folder."""

    rows: list[FileReport]
    results: list[tuple[Path, str]]       # (result file, name shown)
    folder: Path
    work: Path
    seconds: float
    stopped: bool = False                 # its client went away before the end


class Handlers:
    """The app's state (the shared engine, result folders, settings file) and the event functions."""

    def __init__(self, holder: EngineHolder, folders: RequestFolders, settings_file: Path,
                 limits: BatchLimits | None = None, models_folder: Path | None = None,
                 clients: ClientWatch | None = None, settings_locked: bool = False):
        self.holder = holder
        self.folders = folders
        self.settings_file = settings_file
        self.limits = limits or BatchLimits()
        self.models_folder = models_folder
        self.offered_models = offered_models(holder.settings.model)
        self.clients = clients or ClientWatch()          # tells a batch when its client has gone
        self.settings_locked = settings_locked          # Apply, Reload and Download refused (shared server)

    # ---- shared steps ---------------------------------------------------------------------------
    def _with_engine(self, language: str, work: Callable[[Engine], T]) -> T:
        """Run ``work`` on the shared engine under its lock; a missing model becomes a clear message."""
        try:
            with self.holder.use() as engine:
                return work(engine)
        except ModelFileError as error:
            raise gr.Error(text("models_missing", language, error=error), print_exception=False) from None
        except GpenError as error:
            raise gr.Error(str(error), print_exception=False) from None

    def _options(self, language: str, strength: Any, mode: Any, faces: Any, min_face_px: Any, aligned: Any,
                 adjustments: Any) -> EnhanceOptions:
        """The options the controls' values ask for; ``adjustments`` may be the API's JSON text."""
        try:
            return controls.build_options(strength, mode, faces, min_face_px, aligned,
                                          controls.adjustments_from_api(adjustments))
        except (ValueError, TypeError, OverflowError) as error:
            raise gr.Error(text("bad_setting", language, error=error), print_exception=False) from None

    @staticmethod
    def _slider_values(values: Sequence[Any]) -> dict[str, Any]:
        adjustments = controls.available_adjustments()
        return {adjustment.name: value for adjustment, value in zip(adjustments, values, strict=True)}

    def restore_photo(self, path: str | Path | None, options: EnhanceOptions, language: str) -> SingleOutcome:
        """Restore one uploaded photo into a new request folder."""
        if not path:
            raise gr.Error(text("no_photo", language), print_exception=False)
        started = time.perf_counter()
        settings = self.holder.settings
        folder = self.folders.new()
        save = SaveOptions(ext=settings.output_format, quality=settings.quality, max_pixels=settings.max_pixels,
                           strip_metadata=settings.strip_metadata)
        [target] = plan_output_paths([Path(path)], folder, save.extension, suffix="_restored")

        def run(engine: Engine) -> tuple[FileOutcome, dict[str, Any]]:
            used = {"model": engine.model_name, "device": engine.plan.device.type, "precision": engine.plan.precision}
            return restore_file(engine, Path(path), target, options, save), used   # as a batch does each file

        outcome, used = self._with_engine(language, run)
        report, loaded, result = outcome.report, outcome.loaded, outcome.result
        if loaded is None:
            message = (report.error or "").replace(str(path), Path(path).name)
            raise gr.Error(text("cannot_read", language, error=message), print_exception=False)
        if not result.ok:
            raise gr.Error(text("failed", language, error=result.error), print_exception=False)
        if report.status == "failed":    # restored, but the result could not be written
            raise gr.Error(report.error, print_exception=False)
        try:
            before = save_preview(loaded.rgb, folder / "before.jpg")
            after = save_preview(result.image, folder / "after.jpg")
        except GpenError as error:
            raise gr.Error(str(error), print_exception=False) from None
        no_faces = result.face_count == 0 and not options.aligned
        info = {
            "file": target.name, "faces": result.face_count, "width": int(result.image.shape[1]),
            "height": int(result.image.shape[0]), **used, "seconds": round(time.perf_counter() - started, 3),
            "stage_seconds": {stage: round(seconds, 3) for stage, seconds in result.seconds.items()},
            "options": dataclasses.asdict(options),
            "notice": text("no_faces_notice", language) if no_faces else None,
            "note": report.note,
        }
        return SingleOutcome(target, before, after, info)

    def restore_batch(self, uploads: Sequence[str | Path] | None, options: EnhanceOptions, language: str,
                      progress: gr.Progress | None, session: str | None = None) -> BatchOutcome:
        """Restore every uploaded photo (ZIPs unpacked) into a new folder under ``outputs/``. When the
        client of ``session`` goes away the batch stops, keeping the photos done so far."""
        if not uploads:
            raise gr.Error(text("no_files", language), print_exception=False)
        uploads = [Path(upload) for upload in uploads]
        count = count_photos(uploads)
        if count > self.limits.max_files:
            raise gr.Error(text("too_many_files", language, count=count, limit=self.limits.max_files),
                           print_exception=False)
        started = time.perf_counter()
        settings = self.holder.settings
        work = self.folders.new()
        if progress is not None and any(upload.suffix.lower() == ".zip" for upload in uploads):
            progress(0, desc=text("unpacking", language, name=", ".join(upload.name for upload in uploads
                                                                        if upload.suffix.lower() == ".zip")))
        inputs, left_out = collect_inputs(uploads, work / "inputs", self.limits)
        try:
            folder = new_batch_folder(outputs_root())
        except OSError as error:
            log.error("cannot create a folder for the results in %s: %s", outputs_root(), error)
            key = "disk_full" if problem_key(error) == "disk_full" else "results_folder_failed"
            raise gr.Error(text(key, language), print_exception=False) from None
        names = {str(item.path): item.name for item in inputs}
        unit = text("unit_photos", language)

        def advance(done: int, total: int, report: FileReport) -> None:
            if progress is not None:
                progress((done, total), desc=names.get(report.input, Path(report.input).name), unit=unit)

        stopped = False

        def run(engine: Engine) -> list[FileReport]:
            nonlocal stopped
            if progress is not None:
                progress((0, len(inputs)), desc=text("loading_model", language), unit=unit)
            save = SaveOptions(ext=settings.output_format, quality=settings.quality, max_pixels=settings.max_pixels,
                               strip_metadata=settings.strip_metadata)
            with self.clients.stop_signal(session) as stop:
                reports = process_files(engine, [item.path for item in inputs], folder, options, save, advance,
                                        stop=stop)
                stopped = stop.is_set()
                if stopped:
                    log.info("batch stopped, its client went away: %d of %d photos done, kept in %s",
                             sum(report.output is not None for report in reports), len(reports), folder)
                return reports

        reports = self._with_engine(language, run) if inputs else []
        rows = [named_row(report, names.get(report.input, Path(report.input).name)) for report in reports]
        rows += [named_row(row, row.input) for row in left_out]
        try:
            write_report(rows, folder / "report.json")
        except GpenError as error:
            log.warning("%s", error)
        results = [(Path(row.output), row.input) for row in rows if row.output and row.status != "failed"]
        _remove_tree(work / "inputs")
        return BatchOutcome(rows, results, folder, work, time.perf_counter() - started, stopped)

    # ---- the Single tab -------------------------------------------------------------------------
    def enhance_single(self, request: gr.Request, image: str | None, strength: float, mode: str, faces: str,
                       min_face_px: float, aligned: bool, *adjustments: float) -> tuple:
        """Page: before/after slider, result file, faces, device, seconds and the no-face notice."""
        language = language_of_request(request)
        options = self._options(language, strength, mode, faces, min_face_px, aligned,
                                self._slider_values(adjustments))
        outcome = self.restore_photo(image, options, language)
        info = outcome.info
        notice = info["notice"]
        if notice:
            gr.Warning(notice)
        device = f"{info['device']} ({info['precision']}), {info['model']}"
        return ((str(outcome.before_preview), str(outcome.after_preview)),
                gr.update(value=str(outcome.result_file), visible=True), str(info["faces"]), device,
                f"{info['seconds']:.2f}", gr.update(value=notice or "", visible=bool(notice)))

    def api_enhance(self, image: str, strength: float = controls.DEFAULT_STRENGTH_PERCENT,
                    mode: str = controls.mode_names()[0], faces: str = "all", min_face_px: float = 0,
                    aligned: bool = False, adjustments: dict | None = None,
                    request: gr.Request = None) -> tuple[str, dict]:
        """Restore the faces in one photo. Returns the result image (full resolution, in the output
        format chosen in Settings) and a dict: faces, device, model, seconds, notice."""
        language = language_of_request(request)
        options = self._options(language, strength, mode, faces, min_face_px, aligned, adjustments)
        outcome = self.restore_photo(image, options, language)
        return str(outcome.result_file), outcome.info

    # ---- the Batch tab --------------------------------------------------------------------------
    def enhance_batch(self, request: gr.Request, progress: gr.Progress = gr.Progress(),
                      files: list[str] | None = None, strength: float = 100, mode: str = controls.mode_names()[0],
                      faces: str = "all", min_face_px: float = 0, aligned: bool = False, *adjustments: float) -> tuple:
        """Page: gallery of thumbnails, the table, the ZIP of all results and a summary line."""
        language = language_of_request(request)
        options = self._options(language, strength, mode, faces, min_face_px, aligned,
                                self._slider_values(adjustments))
        outcome = self.restore_batch(files, options, language, progress, getattr(request, "session_hash", None))
        if outcome.stopped:                 # nobody is left to see a gallery or a ZIP
            summary = batch_summary(outcome.rows, outcome.seconds, outcome.folder, language)
            return [], report_table(outcome.rows, language), gr.update(), summary
        gallery = []
        for number, (path, name) in enumerate(outcome.results):
            try:
                thumbnail = load_image(path, max_pixels=self.holder.settings.max_pixels).rgb
                gallery.append((str(save_preview(thumbnail, outcome.work / "thumbnails" / f"{number:05d}.jpg",
                                                 THUMBNAIL_SIDE_PX)), name))
            except GpenError as error:
                log.warning("no thumbnail for %s: %s", path, error)
        archive = None
        if outcome.results:
            archive = zip_results([path for path, _ in outcome.results], [outcome.folder / "report.json"],
                                  outcome.work / f"{outcome.folder.name}.zip")
        failed = [row for row in outcome.rows if row.status == "failed"]
        if failed:
            names = ", ".join(Path(row.input).name for row in failed[:5]) + (" …" if len(failed) > 5 else "")
            gr.Warning(shown(f"{text('status_failed', language)}: {names}"))
        return (gallery, report_table(outcome.rows, language),
                gr.update(value=str(archive) if archive else None, visible=archive is not None),
                batch_summary(outcome.rows, outcome.seconds, outcome.folder, language))

    def api_enhance_batch(self, files: list[str], strength: float = controls.DEFAULT_STRENGTH_PERCENT,
                          mode: str = controls.mode_names()[0], faces: str = "all", min_face_px: float = 0,
                          aligned: bool = False, adjustments: dict | None = None, request: gr.Request = None,
                          progress: gr.Progress = gr.Progress()) -> tuple[list[str], list[dict]]:
        """Restore the faces in many photos (or the photos in ZIPs). Returns the result files and one
        report row per input: input, output, status (ok, no_faces, skipped, failed), faces, seconds, error."""
        language = language_of_request(request)
        options = self._options(language, strength, mode, faces, min_face_px, aligned, adjustments)
        outcome = self.restore_batch(files, options, language, progress, getattr(request, "session_hash", None))
        handed = [str(link_or_copy(path, outcome.work / "results" / path.name)) for path, _ in outcome.results]
        report = [dict(dataclasses.asdict(row), output=Path(row.output).name if row.output else None)
                  for row in outcome.rows]
        return handed, report

    # ---- the Settings tab -----------------------------------------------------------------------
    def apply_settings(self, request: gr.Request, device: str, precision: str, batch_size: float, model: str,
                       detector: str, output_format: str, quality: float, strip_metadata: bool,
                       max_megapixels: float) -> tuple:
        """Build the engine for the new settings, swap it in, save the settings."""
        language = language_of_request(request)
        if self.settings_locked:
            gr.Warning(text("settings_locked", language))
            return self.settings_view(language)
        try:
            wanted = Settings(device=device, precision=precision, batch_size=int(round(batch_size)),
                              model=(model or "").strip(), detector=detector, output_format=output_format,
                              quality=int(round(quality)), strip_metadata=bool(strip_metadata),
                              max_pixels=int(round(float(max_megapixels) * 1_000_000)))
        except (ValueError, TypeError) as error:
            gr.Warning(shown(text("bad_setting", language, error=error)))
            return self.settings_view(language)
        if wanted.model not in self.offered_models:
            gr.Warning(text("model_not_offered", language, names=", ".join(self.offered_models)))
            return self.settings_view(language)
        try:
            self.holder.apply(wanted)
            gr.Info(text("settings_applied", language))
        except (GpenError, ValueError) as error:
            key = "settings_saved_not_loaded" if self.holder.settings == wanted else "settings_kept"
            gr.Warning(shown(text(key, language, error=error)))
        try:
            save_settings(self.holder.settings, self.settings_file)
        except OSError as error:
            log.error("cannot save the settings to %s: %s", self.settings_file, error)
            gr.Warning(text("settings_not_saved", language))
        return self.settings_view(language)

    def reload_model(self, request: gr.Request) -> tuple:
        """Build the engine again from the current settings (after model files were added by hand)."""
        language = language_of_request(request)
        if self.settings_locked:
            gr.Warning(text("settings_locked", language))
            return self.settings_view(language)
        try:
            self.holder.apply(self.holder.settings, force=True)
            gr.Info(text("settings_applied", language))
        except (GpenError, ValueError) as error:
            gr.Warning(shown(text("settings_kept", language, error=error)))
        return self.settings_view(language)

    def download_models(self, request: gr.Request, progress: gr.Progress = gr.Progress(),
                        model: str | None = None, detector: str | None = None) -> tuple:
        """Download the files the chosen model and detector need that are missing, then load the engine
        if none is."""
        language = language_of_request(request)
        if self.settings_locked:
            gr.Warning(text("settings_locked", language))
            return self.settings_view(language)
        detector = detector if detector in DETECTOR_CHOICES else self.holder.settings.detector
        missing = missing_models((model or self.holder.settings.model).strip(), self.models_folder, detector)
        if not missing:
            gr.Info(text("nothing_to_download", language))
        for spec in missing:
            def report(done: int, total: int | None, name: str = spec.file_name) -> None:
                megabytes = f"{done / 2**20:.0f}" + (f" / {total / 2**20:.0f} MB" if total else " MB")
                progress(done / total if total else None,
                         desc=f"{text('downloading', language, name=name)}: {megabytes}")
            try:
                resolve_model_file(spec.name, folder=self.models_folder, download=True, progress=report)
            except ModelFileError as error:
                gr.Warning(shown(text("download_failed", language, error=error)))
                return self.settings_view(language)
        if missing:
            gr.Info(text("downloaded", language, names=", ".join(spec.file_name for spec in missing)))
            if not self.holder.state().loaded:
                self.holder.load()
        return self.settings_view(language)

    def settings_view(self, language: str) -> tuple:
        """The Settings tab's controls, status panel and the missing-models banner, as they are now."""
        settings = self.holder.settings
        state = self.holder.state()
        status = render_status(state, language, self.models_folder, self.settings_file, outputs_root())
        files = render_model_files(settings.model, language, self.models_folder, settings.detector)
        banner = gr.update(value=text("models_missing_banner", language), visible=not state.loaded)
        return (settings.device, settings.precision, settings.batch_size, settings.model, settings.detector,
                settings.output_format, settings.quality, settings.strip_metadata, settings.max_pixels / 1_000_000,
                status, files, banner)

    def page_load(self, request: gr.Request) -> tuple:
        """On every page load: the current settings (they may have changed since the page was built) and
        the batch table's headings in the browser's language."""
        language = language_of_request(request)
        return (*self.settings_view(language), report_table([], language))

    @staticmethod
    def mode_changed(mode: str) -> list:
        """The quality sliders set to the chosen mode's preset."""
        values = controls.mode_values(mode) if mode in controls.mode_names() else {}
        return [gr.update(value=values[adjustment.name]) if adjustment.name in values else gr.update()
                for adjustment in controls.available_adjustments()]


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
