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
