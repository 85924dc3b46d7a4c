"""The command line as a real process (``python -m gpen``) over a models folder, for the CLI tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from gpen.inputs import RESULTS_MANIFEST

REPO = Path(__file__).resolve().parents[1]


def cli_environment(models_folder: Path) -> dict[str, str]:
    """The environment a CLI test runs in: these models, and no downloads."""
    return dict(os.environ, GPEN_MODELS_DIR=str(models_folder), GPEN_NO_DOWNLOAD="1", PYTHONUNBUFFERED="1")


@dataclass(frozen=True)
class CliRun:
    """A finished CLI process: its exit status, its output and its peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss_bytes: int


def run_cli(models_folder: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> CliRun:
    """Run the CLI to the end (killed with its children after ``timeout`` seconds); its exit status, output
    and peak memory (measured by a launcher, see ``measured``)."""
    environment = {**cli_environment(models_folder), **(env or {})}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr, \
            tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        process = subprocess.Popen(measured([sys.executable, "-m", "gpen", *args], peak_file), cwd=REPO,
                                   env=environment, stdout=stdout, stderr=stderr, start_new_session=True)
        killer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
        killer.start()
        try:
            process.wait()
        finally:
            killer.cancel()
        outputs = []
        for handle in (stdout, stderr):
            handle.seek(0)
            outputs.append(handle.read().decode("utf-8", "backslashreplace"))
        peak = peak_bytes(peak_file) if peak_file.exists() else 0
    return CliRun(process.returncode, outputs[0], outputs[1], peak)


def start_cli(models_folder: Path, *args: str) -> subprocess.Popen:
    """Start the CLI and return at once (to interrupt it)."""
    return subprocess.Popen([sys.executable, "-m", "gpen", *args], cwd=REPO, env=cli_environment(models_folder),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def results_in(folder: Path) -> list[str]:
    """Every file in an output folder but the list of results the run keeps there (temporaries included)."""
    return sorted(path.name for path in folder.iterdir() if path.name != RESULTS_MANIFEST)


# Linux carries a process's peak memory across fork and exec, so a command forked straight from the test
# process reports at least the test process's own peak. A small launcher in between measures the command alone.
_LAUNCHER = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[2:]); "
             "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
             "sys.exit(code)")


def measured(command: list[str], peak_file: Path) -> list[str]:
    """``command`` run by a launcher that writes its peak resident memory (KiB) to ``peak_file``."""
    return [sys.executable, "-c", _LAUNCHER, str(peak_file), *command]


def peak_bytes(peak_file: Path) -> int:
    """What ``measured`` wrote, in bytes."""
    return int(peak_file.read_text()) * 1024
