"""Choosing the device and the numeric precision the network runs in."""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Iterator, Literal

import torch

from .messages import Message
from .options import DEVICE_CHOICES, PRECISION_CHOICES

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class DevicePlan:
    """Where and in what precision the network runs, and why (``note`` is shown to the user)."""

    device: torch.device
    precision: Literal["fp32", "bf16", "fp16"]
    note: str = ""

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.precision]


def cuda_available() -> bool:
    return torch.cuda.is_available()


def cpu_has_fast_bf16() -> bool:
    """True where oneDNN can use AMX or AVX-512 bf16 instructions for convolutions."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def plan_device(device: str = "auto", precision: str = "auto") -> DevicePlan:
    """Resolve the user's choices. CUDA asked for where there is none falls back to CPU with a note."""
    if device not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {device!r}")
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {precision!r}")
    no_gpu = device == "cuda" and not cuda_available()
    if no_gpu:
        log.warning(Message("note_no_cuda"))
        device = "cpu"
    chosen = torch.device("cuda" if device in ("auto", "cuda") and cuda_available() else "cpu")
    if precision == "auto":
        if chosen.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            precision = "fp32"
    fp16_on_cpu = precision == "fp16" and chosen.type == "cpu"
    if fp16_on_cpu:
        precision = "fp32"
    notes = [Message(said) for said, applies in (("note_no_cuda", no_gpu), ("note_fp16_on_cpu", fp16_on_cpu))
             if applies]
    note = Message("notes", first=notes[0], second=notes[1]) if len(notes) == 2 else (notes[0] if notes else "")
    return DevicePlan(chosen, precision, note)


@contextlib.contextmanager
def inference_context(plan: DevicePlan) -> Iterator[None]:
    """``inference_mode`` plus autocast to the planned precision (nothing for fp32)."""
    with torch.inference_mode():
        if plan.precision == "fp32":
            yield
        else:
            with torch.autocast(plan.device.type, dtype=plan.dtype):
                yield


class NetworkOnDevice:
    """A network placed on a device and run in a precision (autocast when that is not float32).

    The base of the detector and the parser; ``build`` turns a checkpoint's state dict into the
    network and ``kind`` names it in errors.
    """

    kind = "network"

    def __init__(self, model: torch.nn.Module, device: torch.device, dtype: torch.dtype = torch.float32):
        self.model = model.to(device)
        self.device = device
        self.dtype = dtype

    @staticmethod
    def build(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
        raise NotImplementedError

    @classmethod
    def from_file(cls, path, device: torch.device, dtype: torch.dtype = torch.float32):
        """Read a checkpoint safely and build the network from it."""
        from .errors import ModelFileError
        from .weights import read_state_dict

        try:
            return cls(cls.build(read_state_dict(path)), device, dtype)
        except RuntimeError as error:
            raise ModelFileError(f"{path} is not a {cls.kind} checkpoint facexlib can load: {error}") from error

    def compiled(self, dynamic: bool = False) -> "NetworkOnDevice":
        """The same network wrapped in ``torch.compile`` (falling back to the plain network if compiling
        fails), as a new object: this one may be shared with other engines. ``dynamic`` compiles one
        graph for every input size."""
        from .acceleration import CompiledModule

        return type(self)(CompiledModule(self.model, dynamic=dynamic), self.device, self.dtype)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32)
