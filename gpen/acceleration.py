"""Running networks fast: ``torch.compile`` where it pays off, with a fallback when it fails.

Compiling fuses a network's element-wise work (bias, activation, modulation, concatenation) into
few kernels. It costs tens of seconds on the first call for each input shape, so it pays off for long
batch runs and servers, not for one photo. On the CPU faces run one at a time, so one shape is
compiled whatever the batch size. Compiled code is kept on disk beside the model files
(``keep_compiled_code``), so a second start reuses it instead of compiling again.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

COMPILED_FOLDER = "compiled"   # in the model folder: torch's compiled code, reused by later starts

# The detectors compiling pays for. The MobileNet detector gains 0.02 s a 1080p photo (0.06 -> 0.04 s)
# for about 100 s at the first start and 21 s at every later one (its graph takes every photo size);
# ResNet-50 gains 0.16 s a photo (benchmarks/RESULTS.md, section 7).
COMPILED_DETECTORS = frozenset({"retinaface-r50"})


class CompiledModule(nn.Module):
    """A network behind ``torch.compile``. If compiling or running the compiled code fails, the
    plain network takes over for good (with a warning) and results are unchanged.

    ``function`` is what gets compiled (default: the module's ``forward``); outputs may be a tensor
    or a tuple of tensors. ``dynamic`` compiles one graph for all input sizes (for the detector,
    which sees every photo's own size). ``size`` is passed through for restorers.
    """

    def __init__(self, module: nn.Module, function: Callable | None = None, dynamic: bool = False):
        super().__init__()
        self.module = module
        self.size = getattr(module, "size", None)
        self._compiled = torch.compile(function or module.forward, dynamic=dynamic)
        self._fallback = threading.Event()   # set once, never cleared: not per-call state

    def forward(self, x: torch.Tensor):
        if not self._fallback.is_set():
            try:
                return self._run_compiled(x)
            except Exception as error:   # compilers fail in many ways (no C++ compiler, unsupported op)
                log.warning("torch.compile failed (%s: %s); running %s uncompiled", type(error).__name__,
                            str(error).splitlines()[0] if str(error) else "", type(self.module).__name__)
                self._fallback.set()
        return self.module(x)

    def _run_compiled(self, x: torch.Tensor):
        x = x.contiguous(memory_format=torch.channels_last)
        if x.device.type != "cpu" or x.shape[0] == 1:
            return _contiguous(self._compiled(x))
        outputs = [self._compiled(x[index:index + 1]) for index in range(x.shape[0])]
        if isinstance(outputs[0], tuple):
            return tuple(torch.cat(parts).contiguous() for parts in zip(*outputs))
        return torch.cat(outputs).contiguous()


def keep_compiled_code(folder: Path) -> Path | None:
    """Have torch keep compiled code in ``folder`` (made if need be) unless the user chose a place
    (``TORCHINDUCTOR_CACHE_DIR``) or it cannot be written; returns the place in use, or None for
    torch's default (a temporary folder, which may not outlive a restart). Process-wide; the first
    choice holds."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")   # torch writes its default here on first use
    if chosen and os.path.abspath(chosen) != os.path.abspath(default_cache_dir()):
        return Path(chosen)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.info("compiled code is not kept in %s (%s)", folder, error)
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder.resolve())
    return folder


def compile_restorer(network: nn.Module) -> CompiledModule:
    """A GPEN network compiled face by face (its ``_forward`` skips the eager per-face loop)."""
    return CompiledModule(network, network._forward)


def _contiguous(output):
    return tuple(part.contiguous() for part in output) if isinstance(output, tuple) else output.contiguous()
