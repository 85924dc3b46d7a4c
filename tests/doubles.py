"""Test doubles for the engine's parts: they stand in for the network or the detector."""
from __future__ import annotations

import numpy as np
import torch

from gpen.faces import Face


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
