"""Keeping the networks' large buffers in the process between calls (glibc on Linux).

By default glibc hands every block over 32 MiB straight back to the system when it is freed, and
each thread gets its own memory arena. A network's activations at 512 px are 16–128 MiB each, so
every call used to map fresh pages and have the kernel zero them again: on a 2-core machine that was
a third of GPEN-512's time in bfloat16 (system time 0.7–0.9 s a face; ``benchmarks/RESULTS.md``, section 7).

``keep_large_buffers`` raises the mapping threshold above those sizes, keeps up to 512 MiB of freed
memory for reuse, and caps the arenas at two (which also stops memory creeping up over a long video).
It changes nothing where the allocator is not glibc's, and leaves alone any setting the user made with
glibc's own ``MALLOC_*_`` variables. The settings are process-wide and set once.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 256 << 20   # blocks smaller than this come from the heap and are reused
TRIM_THRESHOLD_BYTES = 512 << 20   # freed memory kept at the top of the heap before returning it
ARENAS = 2

# mallopt parameter numbers from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_SETTINGS = (("MALLOC_MMAP_THRESHOLD_", _M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
             ("MALLOC_TRIM_THRESHOLD_", _M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
             ("MALLOC_ARENA_MAX", _M_ARENA_MAX, ARENAS))


@functools.cache   # once per process (setting the same values twice would do no harm)
def keep_large_buffers() -> bool:
    """Tune glibc's allocator for network-sized buffers; True where it applies.

    Call it early, before worker threads start: the arena cap binds only threads that have not
    allocated yet (the thresholds bind everything)."""
    if not sys.platform.startswith("linux"):
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    for variable, parameter, value in _SETTINGS:
        if variable not in os.environ and mallopt(parameter, value) != 1:
            log.debug("mallopt(%d, %d) was refused", parameter, value)
    return True


def _glibc_mallopt():
    """glibc's ``mallopt``, or None under another C library (musl has no such tuning)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version   # glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt
