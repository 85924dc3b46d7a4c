"""Test doubles for the engine's parts: they stand in for the network or the detector."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from gpen.engine import Engine
from gpen.faces import MASK_SIZE_PX, Face, mask_from_parsing, template_points
from gpen.options import EngineConfig


class IdentityRestorer(torch.nn.Module):
    """Returns its input: what the pipeline alone does to a face."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class FixedDetector:
    """Reports the given faces for every photo."""

    def __init__(self, found: list[Face]):
        self.found = found

    def detect(self, image: np.ndarray) -> list[Face]:
        return list(self.found)


class OutOfMemoryAbove(torch.nn.Module):
    """Wraps a restorer and raises out-of-memory for batches larger than ``limit``."""

    def __init__(self, inner: torch.nn.Module, limit: int):
        super().__init__()
        self.inner, self.limit, self.size = inner, limit, inner.size
        self.batch_sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return self.inner(x)


class TintingRestorer(torch.nn.Module):
    """Returns its input shifted in colour: a restorer that changes skin tone."""

    def __init__(self, size: int, shift: tuple[float, float, float] = (0.25, 0.0, -0.2)):
        super().__init__()
        self.size = size
        self.shift = torch.tensor(shift).view(1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.shift.to(x)).clamp(-1, 1)


class OutOfMemoryOnBlack(OutOfMemoryAbove):
    """Out of memory above ``limit`` faces, and for any batch holding an all-black crop (one face
    that fails even alone)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((x.flatten(1) <= -1).all(dim=1).any()):
            self.batch_sizes.append(x.shape[0])
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return super().forward(x)


class DeviceFault(torch.nn.Module):
    """Raises CUDA's "illegal memory access" error on its first ``failures`` calls and for any
    batch that holds an all-black crop; otherwise restores normally."""

    def __init__(self, inner: torch.nn.Module, failures: int = 0):
        super().__init__()
        self.inner, self.failures, self.size, self.calls = inner, failures, inner.size, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls <= self.failures or bool((x.flatten(1) <= -1).all(dim=1).any()):
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return self.inner(x)


class WholeCropParser:
    """A parser whose paste mask is the whole crop: pasting then shows only geometry and resampling."""

    def masks(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.ones(crop.shape[:2], np.float32) for crop in crops]


class WholeFaceParser:
    """A parser that finds face (skin) all over the crop: its paste mask is the one ``faces.mask_from_parsing``
    makes of that, so the whole crop is pasted and its edge blended in as the real parser's masks are."""

    SKIN_CLASS = 1     # facexlib / CelebAMask-HQ order

    def masks(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        all_face = np.full((MASK_SIZE_PX, MASK_SIZE_PX), self.SKIN_CLASS, np.uint8)
        return [mask_from_parsing(all_face, crop.shape[0]) for crop in crops]


def face_at(x: float, y: float, size_px: float) -> Face:
    """A face whose landmarks sit on GPEN's template in the square (x, y, x + size, y + size)."""
    return Face((x, y, x + size_px, y + size_px), 0.99, template_points(size_px) + (x, y))


def stand_in_engine(restorer: torch.nn.Module | None = None, faces: Sequence[Face] = (face_at(40, 30, 96),),
                    batch_size: int = 4) -> Engine:
    return Engine(EngineConfig(device="cpu", batch_size=batch_size), restorer=restorer or IdentityRestorer(128),
                  detector=FixedDetector(list(faces)), parser=WholeCropParser())
