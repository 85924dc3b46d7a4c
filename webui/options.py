"""The restoration controls (strength, mode, faces, quality controls) and how they become ``EnhanceOptions``.

The quality controls are read from ``gpen.options``: a slider for each range in ``CONTROL_RANGES`` and a
checkbox for each name in ``SWITCHES``; a mode sets them to ``MODES[mode]``. A new control in the engine
appears in both tabs, the mode presets and the handlers by itself; it needs only its label in ``i18n``
(until then its field name is shown).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Literal, Mapping

from gpen.options import (CONTROL_RANGES, DEFAULT_STRENGTH_PERCENT, FACE_CHOICES, MODE_CHOICES, MODES, SWITCHES,
                          EnhanceOptions, options_for_mode, strength_from_percent)



@dataclass(frozen=True)
class Adjustment:
    """One quality control: the ``EnhanceOptions`` field it sets, a slider's range or a switch."""

    name: str
    kind: Literal["slider", "switch"]
    minimum: float = 0.0
    maximum: float = 1.0

    @property
    def step(self) -> float:
        return 1.0 if self.maximum - self.minimum >= 20 else 0.01


def available_adjustments() -> tuple[Adjustment, ...]:
    """The quality controls, in the engine's order: the whole-photo sliders, then the face switches."""
    return (*(Adjustment(name, "slider", float(low), float(high)) for name, (low, high) in CONTROL_RANGES.items()),
            *(Adjustment(name, "switch") for name in SWITCHES))


def mode_names() -> tuple[str, ...]:
    """The modes offered, the default first."""
    return MODE_CHOICES


def has_modes() -> bool:
    """Whether choosing a mode changes anything (it sets the quality controls)."""
    return bool(available_adjustments())


def mode_values(mode: str) -> dict[str, float | bool]:
    """The preset values of a mode for the quality controls shown."""
    preset = MODES.get(mode, {})
    return {adjustment.name: bool(preset[adjustment.name]) if adjustment.kind == "switch"
            else float(preset[adjustment.name])
            for adjustment in available_adjustments() if adjustment.name in preset}


def default_value(adjustment: Adjustment) -> float | bool:
    """A control's starting value: the first mode's preset, else the ``EnhanceOptions`` default."""
    preset = mode_values(mode_names()[0])
    if adjustment.name in preset:
        return preset[adjustment.name]
    defaults = {field.name: field.default for field in dataclasses.fields(EnhanceOptions)}
    value = defaults.get(adjustment.name)
    if adjustment.kind == "switch":
        return bool(value)
    return float(value) if isinstance(value, (int, float)) else adjustment.minimum


def build_options(strength_percent: float | None, mode: str | None, faces: str | None,
                  min_face_px: float | None, aligned: bool | None,
                  adjustments: Mapping[str, Any] | None = None) -> EnhanceOptions:
    """The ``EnhanceOptions`` for the controls' values (``None`` means the default): the mode's preset
    with the given adjustments on top. Raises ``ValueError`` for a value out of range."""
    strength = strength_from_percent(DEFAULT_STRENGTH_PERCENT if strength_percent is None else strength_percent)
    faces = faces or "all"
    if faces not in FACE_CHOICES:
        raise ValueError(f"faces must be one of {', '.join(FACE_CHOICES)}, got {faces!r}")
    min_face = float(min_face_px or 0.0)
    if not 0 <= min_face < math.inf:
        raise ValueError(f"min_face_px must be a number of pixels, 0 or more, got {min_face_px}")
    values: dict[str, Any] = dict(strength=strength, faces=faces, min_face_px=min_face, aligned=bool(aligned))
    known = {adjustment.name: adjustment for adjustment in available_adjustments()}
    given = {name: value for name, value in (adjustments or {}).items() if value is not None}
    unknown = sorted(str(name) for name in set(given) - set(known))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"unknown adjustment(s): {shown}; this engine knows: {', '.join(known) or 'none'}")
    overrides = {name: _switch(value) if known[name].kind == "switch" else float(value)
                 for name, value in given.items()}
    mode = mode or mode_names()[0]
    if mode not in mode_names():
        raise ValueError(f"mode must be one of {', '.join(mode_names())}, got {mode!r}")
    return options_for_mode(mode, **values, **overrides)


def adjustments_from_api(value: Any) -> dict[str, Any]:
    """Adjustments from the API: a dict, a JSON string, or nothing."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ValueError(f"adjustments must be a JSON object, got text that is not JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"adjustments must be a JSON object, got {type(value).__name__}")
    return value


def _switch(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
