"""The allocator keeps network-sized buffers between calls (glibc), and leaves the user's own settings alone.

Each case runs in a fresh Python process (the settings are process-wide) and counts the page faults of
allocating, filling and freeing a 64 MiB tensor (a GPEN-512 activation) ten times, after ten warm-up
calls: a block handed back to the system faults in all its 16,384 pages again on every use; a kept
block does not."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAULTS_PER_CALL = """
import resource, sys
import torch
sys.path.insert(0, {root!r})
if {tune}:
    from gpen.allocator import keep_large_buffers
    print("applied" if keep_large_buffers() else "not applied", file=sys.stderr)
def call():
    torch.empty(16 << 20, dtype=torch.float32).fill_(1.0)   # 64 MiB, written, freed
for _ in range(10):   # the heap settles in the first few calls (1 to 5 seen)
    call()
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    call()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
"""

PAGES = (64 << 20) // os.sysconf("SC_PAGE_SIZE")


def faults_per_call(tune: bool, **environment: str) -> list[int]:
    """Page faults of each of ten 64 MiB allocate-fill-free calls, in a fresh process."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MALLOC_")}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", FAULTS_PER_CALL.format(root=str(ROOT), tune=tune)],
                            capture_output=True, text=True, env=env, timeout=120, check=True)
    return [int(count) for count in result.stdout.split()]


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator is Linux's")


def calls_faulting_all_pages(faults: list[int]) -> int:
    return sum(count > PAGES * 0.9 for count in faults)


def test_without_tuning_every_call_faults_its_pages_in_again():
    assert calls_faulting_all_pages(faults_per_call(tune=False)) == 10


def test_tuned_the_buffer_is_kept_between_calls():
    """While the heap settles, glibc grows it for a call instead of reusing the freed block (1 to 5 of
    the first calls); after the warm-up, at least 8 of 10 calls must reuse it (all 10 in 10 runs here)."""
    faults = faults_per_call(tune=True)
    assert sum(count < PAGES * 0.05 for count in faults) >= 8, faults


def test_a_threshold_the_user_set_is_left_alone():
    assert calls_faulting_all_pages(faults_per_call(tune=True, MALLOC_MMAP_THRESHOLD_=str(1 << 20))) == 10
