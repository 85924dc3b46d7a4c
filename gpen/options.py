"""Every setting of a run, declared once: its type, default and range. The command line, the web UI and
the settings file read them from here (closed sets through ``typing.get_args`` on their ``Literal``).

``EngineConfig`` says how to build an engine, ``EnhanceOptions`` what to do to each photo; the quality
modes are presets of ``EnhanceOptions`` (``options_for_mode``).
"""
from __future__ import annotations

import math
import os
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from . import registry

DeviceChoice = Literal["auto", "cpu", "cuda"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16"]
FaceChoice = Literal["all", "largest", "center"]
Mode = Literal["natural", "strong", "detail"]
OutputFormat = Literal["same", "png", "jpg", "webp"]   # "same" keeps each input's own format
DEVICE_CHOICES: tuple[DeviceChoice, ...] = get_args(DeviceChoice)
PRECISION_CHOICES: tuple[PrecisionChoice, ...] = get_args(PrecisionChoice)
FACE_CHOICES: tuple[FaceChoice, ...] = get_args(FaceChoice)
MODE_CHOICES: tuple[Mode, ...] = get_args(Mode)
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)

# A video's quality: x264's constant rate factor (0 lossless ... 51 worst; 18 looks like the source).
VIDEO_QUALITY_RANGE: tuple[int, int] = (0, 51)
DEFAULT_VIDEO_QUALITY = 18

DEFAULT_BATCH_SIZE = 4
MAX_BATCH_SIZE = 64

# Wherever a person types the strength (the CLI, the page, the API) it is a percentage; in Python
# ``EnhanceOptions.strength`` is the fraction.
DEFAULT_STRENGTH_PERCENT = 100


def strength_from_percent(percent: object) -> float:
    """A strength typed as a percentage (0-100) as the fraction ``EnhanceOptions`` takes, or ``ValueError``."""
    try:
        value = float(percent)
    except (TypeError, ValueError):
        value = math.nan
    if not 0.0 <= value <= 100.0:
        raise ValueError(f"strength must be between 0 and 100 (percent), got {percent}")
    return value / 100.0
# The quality controls that act on the whole photo, and their ranges (inclusive); 0 means "unchanged".
CONTROL_RANGES: dict[str, tuple[float, float]] = {
    "denoise": (0.0, 100.0),
    "sharpen": (0.0, 100.0),
    "contrast": (-100.0, 100.0),
    "brightness": (-100.0, 100.0),
}
# The switches that act on the faces.
SWITCHES: tuple[str, ...] = ("skin_protection", "detail")

# The presets. natural is GPEN's restoration with nothing added: the defaults of EnhanceOptions.
MODES: dict[Mode, dict[str, float | bool]] = {
    "natural": {"denoise": 0.0, "sharpen": 0.0, "contrast": 0.0, "brightness": 0.0,
                "skin_protection": False, "detail": False},
    "strong": {"denoise": 40.0, "sharpen": 40.0, "contrast": 15.0, "brightness": 0.0,
               "skin_protection": True, "detail": False},
    "detail": {"denoise": 20.0, "sharpen": 25.0, "contrast": 0.0, "brightness": 0.0,
               "skin_protection": True, "detail": True},
}


def check_batch_size(value: object) -> int:
    """``value`` as a batch size (a whole number from 1 to ``MAX_BATCH_SIZE``), or ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be a whole number from 1 to {MAX_BATCH_SIZE}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class EngineConfig:
    """How to build an engine. ``model`` is a registry name or a checkpoint path; ``detector`` one of
    ``registry.DETECTOR_CHOICES``. ``precision`` is the restorer's: the detector and the parser run in
    float32 (bf16 detection moved landmarks by up to 2 px in a measurement with the official weights)."""

    model: str = registry.DEFAULT_RESTORER
    detector: registry.DetectorChoice = registry.DEFAULT_DETECTOR
    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    models_folder: Path | None = None
    download: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        check_batch_size(self.batch_size)
        if not isinstance(self.model, (str, os.PathLike)) or not str(self.model).strip():
            raise ValueError(f"model must be a model name or a checkpoint path, got {self.model!r}")
        if self.detector not in registry.DETECTOR_CHOICES:
            raise ValueError(f"detector must be one of {registry.DETECTOR_CHOICES}, got {self.detector!r}")
        if self.device not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {self.device!r}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {self.precision!r}")


@dataclass(frozen=True)
class EnhanceOptions:
    """What to do to each photo. ``strength`` 0..1 blends the restored faces over the originals.

    Quality controls (``gpen.adjustments``; 0 / False changes nothing; the defaults are the
    "natural" mode): ``denoise`` 0..100 and ``sharpen`` 0..100, ``contrast`` and ``brightness``
    -100..100 act on the whole photo; ``skin_protection`` and ``detail`` on the faces only.

    ``face_numbers`` picks faces by their number on the face preview (``gpen.face_boxes``: 1 is the leftmost
    face) instead of the ``faces`` choice; ``min_face_px`` applies either way.
    """

    strength: float = 1.0
    faces: FaceChoice = "all"
    min_face_px: float = 0.0
    aligned: bool = False
    denoise: float = 0.0
    sharpen: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0
    skin_protection: bool = False
    detail: bool = False
    face_numbers: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.face_numbers, tuple) or not all(
                isinstance(number, int) and not isinstance(number, bool) and number >= 1
                for number in self.face_numbers):
            raise ValueError(f"face_numbers must be a tuple of face numbers from 1 up, got {self.face_numbers!r}")
        if not 0.0 <= float(self.strength) <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")
        if self.faces not in FACE_CHOICES:
            raise ValueError(f"faces must be one of {FACE_CHOICES}, got {self.faces!r}")
        if not math.isfinite(self.min_face_px) or self.min_face_px < 0:
            raise ValueError(f"min_face_px must be a finite number >= 0, got {self.min_face_px}")
        for name, (low, high) in CONTROL_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
                raise ValueError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")
        for name in SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    @property
    def changes_whole_photo(self) -> bool:
        """Whether a whole-photo control is on, or the whole photo is the face (aligned mode)."""
        return self.aligned or any(getattr(self, name) for name in CONTROL_RANGES)


def options_for_mode(mode: Mode, **overrides: object) -> EnhanceOptions:
    """The options of a preset, with any field (including strength, faces...) overridden."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODE_CHOICES}, got {mode!r}")
    return EnhanceOptions(**{**MODES[mode], **overrides})


@dataclass(frozen=True)
class VideoOptions:
    """How videos are restored and written: ``quality`` is x264's CRF (lower is better and larger);
    ``smoothing`` steadies each tracked face's landmarks (off: every frame aligned as detected)."""

    quality: int = DEFAULT_VIDEO_QUALITY
    smoothing: bool = True

    def __post_init__(self) -> None:
        low, high = VIDEO_QUALITY_RANGE
        if isinstance(self.quality, bool) or not isinstance(self.quality, numbers.Integral) \
                or not low <= self.quality <= high:
            raise ValueError(f"video quality must be a whole number from {low} to {high}, got {self.quality!r}")
        if not isinstance(self.smoothing, bool):
            raise ValueError(f"smoothing must be True or False, got {self.smoothing!r}")
