"""Tests that need something a machine may lack (a browser, a package): skipped with a reason that says
how to get it, except under ``CI=true``, where ``.ci/run`` installs it and a skip would hide a missing
install step, so the test fails instead."""
from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    """True when the tests run under CI (``CI=true``, as ``.ci/run`` is run)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require(available: bool, what: str, how_to_get: str) -> None:
    """Skip the calling test when ``what`` is missing (fail under CI), saying how to get it."""
    if available:
        return
    reason = f"needs {what}; {how_to_get}"
    if in_ci():
        pytest.fail(f"{reason} (under CI=true this is a failure: .ci/run installs it)", pytrace=False)
    pytest.skip(reason)
