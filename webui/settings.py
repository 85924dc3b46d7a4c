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
from gpen.images import DEFAULT_MAX_PIXELS
from gpen.options import DEVICE_CHOICES, MAX_BATCH_SIZE, OUTPUT_FORMATS, PRECISION_CHOICES

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
SETTINGS_FILE_NAME = "settings.json"
MIN_MAX_PIXELS = 1_000_000          # 1 megapixel: smaller limits would refuse ordinary photos
MAX_MAX_PIXELS = 1_000_000_000      # 1 gigapixel
MAX_SETTINGS_FILE_BYTES = 1 << 20   # a real settings file is a few hundred bytes


@dataclass(frozen=True)
class Settings:
    """The engine's settings (device, precision, batch size, model, detector) and how results are written."""

    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 4
    model: str = registry.DEFAULT_RESTORER
    output_format: str = "same"
    quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    strip_metadata: bool = False
    detector: str = registry.DEFAULT_DETECTOR

    def __post_init__(self) -> None:
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {self.device!r}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {self.precision!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) \
                or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE}, got {self.batch_size!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a model name or a checkpoint path, got {self.model!r}")
        if self.detector not in registry.DETECTOR_CHOICES:
            raise ValueError(f"detector must be one of {registry.DETECTOR_CHOICES}, got {self.detector!r}")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {self.output_format!r}")
        if isinstance(self.quality, bool) or not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be a whole number from 1 to 100, got {self.quality!r}")
        if not isinstance(self.strip_metadata, bool):
            raise ValueError(f"strip_metadata must be true or false, got {self.strip_metadata!r}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) \
                or not MIN_MAX_PIXELS <= self.max_pixels <= MAX_MAX_PIXELS:
            raise ValueError(f"max_pixels must be from {MIN_MAX_PIXELS} to {MAX_MAX_PIXELS}, got {self.max_pixels!r}")

    def engine_fields(self) -> tuple[str, str, int, str, str]:
        """The settings that need a new engine when they change."""
        return self.device, self.precision, self.batch_size, self.model, self.detector


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
    known = {field.name for field in dataclasses.fields(Settings)}
    for name, value in values.items():
        if name not in known:
            log.warning("settings: ignoring unknown setting %r", name)
            continue
        try:
            settings = dataclasses.replace(settings, **{name: value})
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
        handle.write((json.dumps(dataclasses.asdict(settings), indent=2) + "\n").encode("utf-8"))
    return path
