"""The command line as a real process (``python -m gpen``) over a models folder, for the CLI tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gpen.inputs import RESULTS_MANIFEST

REPO = Path(__file__).resolve().parents[1]


def cli_environment(models_folder: Path) -> dict[str, str]:
    """The environment a CLI test runs in: these models, and no downloads."""
    return dict(os.environ, GPEN_MODELS_DIR=str(models_folder), GPEN_NO_DOWNLOAD="1", PYTHONUNBUFFERED="1")


def run_cli(models_folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI to the end; its exit status and output."""
    return subprocess.run([sys.executable, "-m", "gpen", *args], cwd=REPO, env=cli_environment(models_folder),
                          capture_output=True, text=True, timeout=timeout)


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
