"""Shared test set-up: the repo and the tests folder on the import path."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS.parent), str(TESTS)]


@pytest.fixture(scope="session")
def models_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test checkpoints (``tests/tiny_models.py``) under their registry names, built once a run.
    Shared: a test that changes model files copies the folder first."""
    import tiny_models

    folder = tmp_path_factory.mktemp("tiny_models")
    tiny_models.make_tiny_models(folder)
    return folder


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder holding every bad-input case (``tests/bad_inputs.py``), and the sha256 of each file."""
    import bad_inputs as cases

    folder = tmp_path_factory.mktemp("bad_inputs")
    return folder, cases.write_cases(folder)


@pytest.fixture(scope="session")
def limited_app(tmp_path_factory: pytest.TempPathFactory):
    """The app over the tiny models with tight request limits (``--max-file-size 2mb --read-timeout 2``),
    shared by the web tests of bodies, uploads, clients, messages, connections and settings."""
    from web_calls import READ_TIMEOUT_S, start

    running = start(tmp_path_factory.mktemp("limited_app"), "--max-file-size", "2mb",
                    "--read-timeout", str(READ_TIMEOUT_S))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def recorder():
    """An HTTP server on 127.0.0.1 that records every request it gets: the guarded app's web proxy."""
    import threading

    from guarded_app import Recorder

    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def guarded_app(tmp_path_factory: pytest.TempPathFactory, recorder):
    """The app over the tiny models, started by ``guarded_app.start_guarded_app`` (``--max-file-size 1mb
    --max-batch-files 3``), shared by the web security and file tests."""
    import json

    import tiny_models
    from guarded_app import MAX_BATCH_FILES, start_guarded_app

    folder = tmp_path_factory.mktemp("guarded_app")
    models = folder / "models"
    tiny_models.make_tiny_models(models)
    settings = {"device": "cpu", "precision": "auto", "batch_size": 4, "model": "GPEN-BFR-512",
                "output_format": "png", "quality": 95, "max_pixels": 100_000_000}
    (folder / "settings.json").write_text(json.dumps(settings, indent=2))
    running = start_guarded_app(folder, models, recorder, "--max-file-size", "1mb",
                                "--max-batch-files", str(MAX_BATCH_FILES))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def guarded_client(guarded_app):
    from gradio_client import Client

    return Client(guarded_app.url, verbose=False)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for every browser test (``browser_pages``)."""
    from browser_pages import launch, playwright_api, require_browser

    require_browser()
    with playwright_api.sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``tests/test_screenshots.py`` puts the README's screenshots: with ``UPDATE_SCREENSHOTS=1``,
    ``docs/screenshots``; otherwise a temporary folder."""
    import os

    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        folder = TESTS.parent / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")



@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray (two CPUs, no dashboard, no progress bars) shared by every cluster test."""
    import logging

    from gpen.cluster import import_ray, local_runtime_env

    ray = import_ray()   # no skip: CI installs Ray (./run.sh test), and a missing Ray must fail these tests

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, runtime_env=local_runtime_env())
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
