"""The records the engine's stages hand each other, one direction only:

``prepare`` (detect, choose, align) → ``PreparedPhoto`` → ``restore`` (the network, batched across photos)
→ ``RestoredPhoto`` → ``finish`` (adjust, mask, paste) → ``EnhanceResult``.

Each is frozen and belongs to one call: the engine never keeps one. A face travels as one record with
its crop and its matrix, never as entries of parallel lists.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np

from .faces import Face, RestoredFace


@dataclass(frozen=True)
class AlignedFace:
    """A face cut out for the network: its detection, the aligned crop (size x size RGB uint8) and the
    2x3 matrix that took the photo to the crop. For an aligned input the whole photo is the crop:
    ``face`` and ``matrix`` are None."""

    face: Face | None
    crop: np.ndarray
    matrix: np.ndarray | None


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo with its faces aligned, ready for the network (or the reason it is not)."""

    image: np.ndarray
    faces: tuple[AlignedFace, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def detected(self) -> tuple[Face, ...]:
        return tuple(aligned.face for aligned in self.faces if aligned.face is not None)


@dataclass(frozen=True)
class RestoredPhoto:
    """A prepared photo and the network's output for each of its faces, in the same order."""

    prepared: PreparedPhoto
    crops: tuple[np.ndarray, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class EnhanceResult:
    """One photo's outcome. ``image`` is None only when ``error`` says why."""

    image: np.ndarray | None
    faces: tuple[Face, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    pasted: tuple[RestoredFace, ...] = ()
    """The restored faces as they were pasted (crop, mask, matrix): a 16-bit photo pastes them again."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def face_count(self) -> int:
        return len(self.faces)


@contextlib.contextmanager
def timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Add the time the ``with`` block takes to ``seconds[stage]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - started
