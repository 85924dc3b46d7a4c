"""The one engine every request shares, and the lock that lets it be swapped safely.

Every handler that runs the network holds ``EngineHolder.lock`` while it does (``with holder.use()
as engine``). New settings build a complete new engine first, outside the lock, while jobs may
still run on the old one; only then is the lock taken (waiting for the running job to finish) and
the engine swapped in one assignment. A failed build leaves the running engine untouched.

The settings in force and the settings the running engine was built from differ only after ``wait_for``:
new settings whose model files are missing are kept (and saved) while the running engine goes on, until
a reload builds them.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import torch

from gpen import Engine
from gpen.errors import GpenError
from gpen.messages import message_of

from .settings import Settings

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings], Engine]


@dataclass(frozen=True)
class EngineState:
    """What the status panel shows: the settings, and the engine's description or why there is none.
    ``waiting``: the settings ask for another engine than the one running (see ``EngineHolder.wait_for``)."""

    settings: Settings
    loaded: bool
    model_name: str | None = None
    device: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    note: str = ""
    error: str | None = None
    detector: str | None = None
    waiting: bool = False


@dataclass(frozen=True)
class _Running:
    """The running engine and the settings it was built from (swapped together, in one assignment)."""

    engine: Engine
    settings: Settings


class EngineHolder:
    """Holds the current ``Engine`` (or the reason there is none) and the current ``Settings``."""

    def __init__(self, settings: Settings, models_folder: Path | None = None,
                 factory: EngineFactory | None = None):
        self.lock = threading.Lock()           # held while the network runs and while swapping
        self._build_lock = threading.Lock()    # one build at a time
        self.models_folder = models_folder
        self._factory = factory or self._build
        self._settings = settings
        self._running: _Running | None = None
        self._error: str | None = None

    def _build(self, settings: Settings) -> Engine:
        """A new engine for ``settings``; never downloads (the Settings tab's button does that)."""
        return Engine(replace(settings.engine, models_folder=self.models_folder, download=False))

    @property
    def settings(self) -> Settings:
        return self._settings

    def state(self) -> EngineState:
        running, settings = self._running, self._settings
        if running is None:
            return EngineState(settings, False, error=self._error)
        engine = running.engine
        return EngineState(settings, True, engine.model_name, engine.plan.device.type, engine.plan.precision,
                           engine.config.batch_size, engine.plan.note, detector=running.settings.engine.detector,
                           waiting=running.settings.engine != settings.engine)

    def wait_for(self, settings: Settings, error: GpenError) -> EngineState:
        """Make ``settings`` the settings in force without building them (their model files are missing):
        a running engine keeps running, and the next reload (or start) builds them."""
        with self._build_lock, self.lock:
            self._settings = settings
            if self._running is None:
                self._error = message_of(error)
        return self.state()

    def load(self) -> EngineState:
        """Build the engine for the current settings if there is none; the error is kept, not raised."""
        with contextlib.suppress(GpenError, ValueError):
            with self.use():
                pass
        return self.state()

    @contextlib.contextmanager
    def use(self) -> Iterator[Engine]:
        """The engine, held exclusively for the block. Builds it first if there is none yet (after a
        download, or at start); raises ``ModelFileError`` (or another ``GpenError``) when it cannot."""
        with self.lock:
            if self._running is None:
                try:
                    self._running = _Running(self._factory(self._settings), self._settings)
                    self._error = None
                except (GpenError, ValueError) as error:
                    self._error = message_of(error)
                    raise
            yield self._running.engine

    def apply(self, settings: Settings, force: bool = False) -> EngineState:
        """Switch to ``settings``. A new engine is built only when an engine setting changed (or
        ``force``). When the build fails and an engine is running, it keeps running with the old
        settings and the error is raised; with no engine running the new settings are kept anyway
        (there is nothing to fall back to) and the error is recorded and raised."""
        with self._build_lock:
            if not force and self._running is not None and settings.engine == self._running.settings.engine:
                with self.lock:
                    self._settings = settings
                return self.state()
            try:
                engine = self._factory(settings)
            except (GpenError, ValueError) as error:
                if self._running is None:
                    with self.lock:
                        self._settings, self._error = settings, message_of(error)
                raise
            with self.lock:
                old, self._running = self._running, _Running(engine, settings)
                self._settings, self._error = settings, None
            log.info("engine swapped: %s on %s (%s), batch size %d", engine.model_name, engine.plan.device,
                     engine.plan.precision, engine.config.batch_size)
        del old
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return self.state()

