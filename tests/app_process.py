"""The web app as a real process for the app and browser tests: ``python app.py --port N`` on a free
port, with its model, outputs and settings places in a temporary folder."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class AppProcess:
    """A running ``app.py``: its address, places, and the log it wrote."""

    process: subprocess.Popen
    url: str
    port: int
    models: Path
    outputs: Path
    settings_file: Path
    log_file: Path

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)   # app.py stops as on Ctrl+C
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_app(folder: Path, models: Path, *args: str, env: dict[str, str] | None = None,
              preexec_fn: Callable[[], None] | None = None, program: str = "app.py") -> AppProcess:
    """Start the app and wait until it answers; raises with its log when it does not. ``env`` is added
    to (and overrides) the app's environment; ``preexec_fn`` runs in the child before the app starts;
    ``program`` is the script that starts it (``tests/stand_in_app.py`` for the stand-in restorer)."""
    port = free_port()
    outputs, settings_file, log_file = folder / "outputs", folder / "settings.json", folder / "app.log"
    environment = {**os.environ, "GPEN_MODELS_DIR": str(models), "GPEN_NO_DOWNLOAD": "1",
                   "GPEN_OUTPUTS_DIR": str(outputs), "GPEN_SETTINGS_FILE": str(settings_file),
                   "GRADIO_TEMP_DIR": str(folder / "gradio"), "PYTHONUNBUFFERED": "1", **(env or {})}
    settings_file = Path(environment["GPEN_SETTINGS_FILE"])
    outputs = Path(environment["GPEN_OUTPUTS_DIR"])
    with open(log_file, "wb") as log:
        process = subprocess.Popen([sys.executable, program, "--port", str(port), *args], cwd=REPO,
                                   env=environment, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
    app = AppProcess(process, f"http://127.0.0.1:{port}/", port, models, outputs, settings_file, log_file)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{app.log()}")
        try:
            with urllib.request.urlopen(app.url + "gradio_api/info", timeout=2) as response:
                if response.status == 200:
                    return app
        except OSError:
            time.sleep(0.5)
    app.stop()
    raise RuntimeError(f"app.py did not answer within {START_TIMEOUT_S} s:\n{app.log()}")


def start_app_with_tiny_models(folder: Path, *args: str, env: dict[str, str] | None = None) -> AppProcess:
    """The app over a models folder holding the tiny test checkpoints (GPEN-BFR-512 and -256, and the
    tiny detector under both detectors' names)."""
    import tiny_models

    models = folder / "models"
    tiny_models.make_tiny_models(models)
    tiny_models.make_tiny_models(models, restorer_name="GPEN-BFR-256", detector_name="retinaface-mobile0.25")
    return start_app(folder, models, *args, env=env)


@contextlib.contextmanager
def app_behind_a_refusing_proxy(folder: Path) -> Iterator[AppProcess]:
    """The app with no model files and downloading on, every download refused by a web proxy on 127.0.0.1
    that answers 404."""
    from local_http import NotFound, proxy_environment, serve_on_loopback

    (folder / "models").mkdir()
    with serve_on_loopback(NotFound) as proxy:
        running = start_app(folder, folder / "models", env={**proxy_environment(proxy), "GPEN_NO_DOWNLOAD": ""})
        try:
            yield running
        finally:
            running.stop()
