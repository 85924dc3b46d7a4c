"""Where the batch run's stages run: beside the network on a GPU, in turn on a CPU (the thread budget).

On a GPU the network runs on the device, and reading, detecting, pasting and writing on CPU threads
beside it hide their time behind it. On a CPU every stage is a network (the detector, GPEN, the parser)
and each already uses every core through torch's and OpenCV's own thread pools: run side by side they
asked for three times the cores, and a batch cost more per photo than one photo alone (see
``benchmarks/RESULTS.md``). There the stages run one after the other in the calling thread, so the
threads at work never outnumber the cores.
"""
from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Callable, TypeVar

import torch

T = TypeVar("T")


class InCallingThread(Executor):
    """An executor that runs each task at once, in the thread that submits it."""

    def submit(self, function: Callable[..., T], /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as error:   # as a worker thread would: the error is the future's
            future.set_exception(error)
        return future


def overlaps(device: torch.device) -> bool:
    """Whether the stages run beside the network: only where the network has a device of its own."""
    return device.type != "cpu"


def stage_worker(device: torch.device, name: str) -> Executor:
    """One stage's worker: its own thread when the stages overlap, else the calling thread."""
    if overlaps(device):
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    return InCallingThread()
