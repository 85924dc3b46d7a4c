"""What the Settings tab's buttons do: apply (build the new engine, swap it in, save the settings), reload
the model, download missing model files, and show the settings and the status as they are now."""
from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from gpen.errors import GpenError, ModelFileError
from gpen.registry import DETECTOR_CHOICES, missing_models, models_dir
from gpen.weights import resolve_model_file

from .download_failures import DownloadFailure, DownloadFailures
from .engine_holder import EngineHolder
from .settings import Settings
from .files import outputs_root
from .i18n import language_of_request, said, text
from .messages import show_info, show_warning, shown
from .settings import offered_models, save_settings
from .status import render_model_files, render_status

log = logging.getLogger(__name__)


class SettingsEvents:
    """The Settings tab's events, on the shared engine holder. ``locked``: a server open to the network
    refuses Apply, Reload and Download (unless started with ``--allow-settings``). ``failures``: the last
    failed download of each missing file, app-wide, shown in the status panel until the file is there."""

    def __init__(self, holder: EngineHolder, settings_file: Path, locked: bool = False):
        self.holder = holder
        self.settings_file = settings_file
        self.locked = locked
        self.offered_models = offered_models(holder.settings.engine.model)
        self.failures = DownloadFailures()

    @property
    def models_folder(self) -> Path | None:
        return self.holder.models_folder

    def apply_settings(self, request: gr.Request, device: str, precision: str, batch_size: float, model: str,
                       detector: str, output_format: str, quality: float, strip_metadata: bool,
                       max_megapixels: float) -> tuple:
        """Build the engine for the new settings, swap it in, save the settings."""
        language = language_of_request(request)
        if self.locked:
            show_warning(text("settings_locked", language), language)
            return self.settings_view(language)
        try:
            wanted = self.holder.settings.with_values(
                device=device, precision=precision, batch_size=int(round(batch_size)), model=(model or "").strip(),
                detector=detector, output_format=output_format, quality=int(round(quality)),
                strip_metadata=bool(strip_metadata), max_pixels=int(round(float(max_megapixels) * 1_000_000)))
        except (ValueError, TypeError) as error:
            show_warning(shown(text("bad_setting", language, error=said(error, language))), language)
            return self.settings_view(language)
        if wanted.engine.model not in self.offered_models:
            show_warning(text("model_not_offered", language, names=", ".join(self.offered_models)), language)
            return self.settings_view(language)
        try:
            self.holder.apply(wanted)
            show_info(text("settings_applied", language), language)
        except (GpenError, ValueError) as error:
            self._not_applied(wanted, error, language)
        try:
            save_settings(self.holder.settings, self.settings_file)
        except OSError as error:
            log.error("cannot save the settings to %s: %s", self.settings_file, error)
            show_warning(text("settings_not_saved", language), language)
        return self.settings_view(language)

    def reload_model(self, request: gr.Request) -> tuple:
        """Build the engine again from the current settings (after model files were added by hand) and say
        what was loaded, or why not."""
        language = language_of_request(request)
        if self.locked:
            show_warning(text("settings_locked", language), language)
            return self.settings_view(language)
        self._load(language)
        return self.settings_view(language)

    def _not_applied(self, wanted: Settings, error: Exception, language: str) -> None:
        """Say what becomes of settings whose engine could not be built. Missing model files: the settings
        are kept (and saved) and wait for their files, the running engine (if any) going on meanwhile."""
        engine = wanted.engine
        missing = missing_models(engine.model, self.models_folder, engine.detector)
        if missing and isinstance(error, ModelFileError):
            state = self.holder.wait_for(wanted, error)
            now = text("still_running", language, model=state.model_name) if state.loaded else \
                text("none_running", language)
            show_warning(shown(text("settings_waiting", language, now=now, model=engine.model,
                                  files=", ".join(spec.file_name for spec in missing))), language)
            return
        key = "settings_saved_not_loaded" if self.holder.settings == wanted else "settings_kept"
        show_warning(shown(text(key, language, error=said(error, language))), language)

    def _load(self, language: str) -> None:
        """Build the engine for the settings in force and say what was loaded, or why not (a running
        engine then keeps running)."""
        model = self.holder.settings.engine.model
        try:
            state = self.holder.apply(self.holder.settings, force=True)
        except (GpenError, ValueError) as error:
            running = self.holder.state()
            reason = said(error, language)
            message = text("reload_failed_running", language, model=model, running=running.model_name, error=reason) \
                if running.loaded else text("reload_failed", language, model=model, error=reason)
            show_warning(shown(message), language)
            return
        show_info(text("model_loaded", language, model=state.model_name, device=state.device,
                     precision=state.precision, detector=state.detector), language)

    def download_models(self, request: gr.Request, progress: gr.Progress = gr.Progress(),
                        model: str | None = None, detector: str | None = None) -> tuple:
        """Download the files the chosen model and detector need that are missing, then load the settings in
        force if nothing is loaded or they were waiting for files. A failure is told in a pop-up and kept
        in ``failures`` for the status panel."""
        language = language_of_request(request)
        if self.locked:
            show_warning(text("settings_locked", language), language)
            return self.settings_view(language)
        detector = detector if detector in DETECTOR_CHOICES else self.holder.settings.engine.detector
        missing = missing_models((model or self.holder.settings.engine.model).strip(), self.models_folder, detector)
        if not missing:
            show_info(text("nothing_to_download", language), language)
        for spec in missing:
            def report(done: int, total: int | None, name: str = spec.file_name) -> None:
                megabytes = f"{done / 2**20:.0f}" + (f" / {total / 2**20:.0f} MB" if total else " MB")
                progress(done / total if total else None,
                         desc=f"{text('downloading', language, name=name)}: {megabytes}")
            try:
                resolve_model_file(spec.name, folder=self.models_folder, download=True, progress=report)
            except ModelFileError as error:
                failure = DownloadFailure.of(spec, self.models_folder or models_dir(), error)
                self.failures.record(failure)
                show_warning(shown("\n".join(failure.lines(language))), language)
                return self.settings_view(language)
        if missing:
            show_info(text("downloaded", language, names=", ".join(spec.file_name for spec in missing)), language)
            state, engine = self.holder.state(), self.holder.settings.engine
            if (not state.loaded or state.waiting) and not missing_models(engine.model, self.models_folder,
                                                                          engine.detector):
                self._load(language)
        return self.settings_view(language)

    def settings_view(self, language: str) -> tuple:
        """The Settings tab's controls, status panel and the missing-models banner, as they are now."""
        settings = self.holder.settings
        state = self.holder.state()
        status = render_status(state, language, self.models_folder, self.settings_file, outputs_root(),
                               self.failures.current())
        engine, output = settings.engine, settings.output
        files = render_model_files(engine.model, language, self.models_folder, engine.detector)
        banner = gr.update(value=text("models_missing_banner", language), visible=not state.loaded)
        return (engine.device, engine.precision, engine.batch_size, engine.model, engine.detector,
                output.ext, output.quality, output.strip_metadata, output.max_pixels / 1_000_000,
                status, files, banner)

