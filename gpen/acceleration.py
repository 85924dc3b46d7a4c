"""Running the network fast: ``torch.compile`` where it pays off, with a fallback when it fails.

Compiling fuses the network's element-wise work (bias, activation, modulation, concatenation) into
few kernels. It costs a minute or two on the first call for each batch shape, so it pays off for long
batch runs and servers, not for one photo. On the CPU faces run one at a time, so one shape is
compiled whatever the batch size.
"""
from __future__ import annotations

import logging
import threading

import torch
from torch import nn

log = logging.getLogger(__name__)


class CompiledRestorer(nn.Module):
    """A GPEN network behind ``torch.compile``; if compiling or running the compiled code fails, the
    plain network takes over for good (with a warning) and results are unchanged."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network
        self.size = network.size
        self._compiled = torch.compile(network._forward, dynamic=False)
        self._fallback = threading.Event()   # set once, never cleared: not per-call state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._fallback.is_set():
            try:
                return self._run_compiled(x)
            except Exception as error:   # compilers fail in many ways (no C++ compiler, unsupported op)
                log.warning("torch.compile failed (%s: %s); running the network uncompiled",
                            type(error).__name__, str(error).splitlines()[0] if str(error) else "")
                self._fallback.set()
        return self.network(x)

    def _run_compiled(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        if x.device.type == "cpu" and x.shape[0] > 1:
            return torch.cat([self._compiled(x[index:index + 1]) for index in range(x.shape[0])]).contiguous()
        return self._compiled(x).contiguous()
