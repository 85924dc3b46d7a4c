"""What the user chose in the Settings tab, kept across restarts in a small JSON file.

The file is ``settings.json`` next to ``app.py`` unless ``GPEN_SETTINGS_FILE`` names another. A
missing, unreadable or partly wrong file never stops the app: bad values fall back to the defaults
(with a warning in the log) and the rest is kept; a file that is not JSON at all (or nested too deep,
or holding a number too long to read, or larger than 1 MB) gives the defaults.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpen import registry
from gpen.atomic import atomic_file
from gpen.batch import SaveOptions
from gpen.options import EngineConfig

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SETTINGS_FILE_NAME = "settings.json"
MIN_MAX_PIXELS = 1_000_000          # 1 megapixel: smaller limits would refuse ordinary photos
MAX_MAX_PIXELS = 1_000_000_000      # 1 gigapixel
MAX_SETTINGS_FILE_BYTES = 1 << 20   # a real settings file is a few hundred bytes


# The settings file is flat: each of its names is one field of the engine's config or of the output options.
FILE_FIELDS: dict[str, tuple[str, str]] = {
    "device": ("engine", "device"),
    "precision": ("engine", "precision"),
    "batch_size": ("engine", "batch_size"),
    "model": ("engine", "model"),
    "detector": ("engine", "detector"),
    "output_format": ("output", "ext"),
    "quality": ("output", "quality"),
    "max_pixels": ("output", "max_pixels"),
    "strip_metadata": ("output", "strip_metadata"),
}


@dataclass(frozen=True)
class Settings:
    """What the Settings tab chooses: how the engine is built (its model, detector, device, precision and
    batch size; the models folder and downloading are the command line's) and how results are written."""

    engine: EngineConfig = EngineConfig()
    output: SaveOptions = SaveOptions()

    def __post_init__(self) -> None:
        if self.output.ext is None or self.output.skip_existing:
            raise ValueError("the web results are written in a chosen format and never skipped")
        if not MIN_MAX_PIXELS <= self.output.max_pixels <= MAX_MAX_PIXELS:
            raise ValueError(f"max_pixels must be from {MIN_MAX_PIXELS} to {MAX_MAX_PIXELS}, "
                             f"got {self.output.max_pixels!r}")

    def with_values(self, **values: Any) -> "Settings":
        """These settings with some changed, named as in the settings file (``ValueError`` on a bad one)."""
        parts = {"engine": {}, "output": {}}
        for name, value in values.items():
            if name not in FILE_FIELDS:
                raise ValueError(f"unknown setting {name!r}")
            part, field_name = FILE_FIELDS[name]
            parts[part][field_name] = value
        return Settings(dataclasses.replace(self.engine, **parts["engine"]),
                        dataclasses.replace(self.output, **parts["output"]))

    def as_file(self) -> dict[str, Any]:
        """The settings as the file holds them."""
        return {name: getattr(getattr(self, part), field_name) for name, (part, field_name) in FILE_FIELDS.items()}


def offered_models(started_with: str) -> tuple[str, ...]:
    """The models the Settings tab offers: the face-restoration models by name, and the model the app
    started with (a checkpoint path given with ``--model`` or kept in the settings file). Nothing else can
    be chosen from the page, so a page visitor cannot have the server read any other file as a model."""
    names = tuple(registry.RESTORER_NAMES[:4])
    return names if started_with in names else (*names, started_with)


def settings_path() -> Path:
    """``$GPEN_SETTINGS_FILE`` if set, else ``settings.json`` next to ``app.py``."""
    override = os.environ.get("GPEN_SETTINGS_FILE", "").strip()
    return Path(override).expanduser() if override else REPO / SETTINGS_FILE_NAME


def settings_from_dict(values: dict[str, Any], base: Settings | None = None) -> Settings:
    """``base`` (default: the defaults) with each valid value of ``values`` applied; bad ones are logged."""
    settings = base or Settings()
    for name, value in values.items():
        if name not in FILE_FIELDS:
            log.warning("settings: ignoring unknown setting %r", name)
            continue
        try:
            settings = settings.with_values(**{name: value})
        except (ValueError, TypeError) as error:
            log.warning("settings: ignoring %s=%r (%s)", name, value, error)
    return settings


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults where the file is missing or a value is bad."""
    path = Path(path) if path is not None else settings_path()
    try:
        if path.stat().st_size > MAX_SETTINGS_FILE_BYTES:
            log.warning("settings: %s is larger than %d bytes, so it is not a settings file of this app; "
                        "using the defaults", path, MAX_SETTINGS_FILE_BYTES)
            return Settings()
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        # ValueError covers bad JSON and integers too long to convert; RecursionError, nesting too deep
        log.warning("settings: cannot read %s (%s: %s); using the defaults", path, type(error).__name__,
                    str(error)[:200])
        return Settings()
    if not isinstance(values, dict):
        log.warning("settings: %s does not hold a JSON object; using the defaults", path)
        return Settings()
    return settings_from_dict(values)


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings as JSON (whole, then renamed into place) and return the path."""
    path = Path(path) if path is not None else settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of its own for each write: two instances sharing the file never collide.
    with atomic_file(path) as handle:
        handle.write((json.dumps(settings.as_file(), indent=2) + "\n").encode("utf-8"))
    return path
