"""The settings (``webui.settings``): a broken file gives the defaults with a warning, shared files never
collide, an unreadable model file never stops the app or the CLI, and a server open to the network keeps
its settings read-only unless allowed."""
from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from app_process import REPO, AppProcess, start_app
from gradio_client import Client, handle_file
from page_events import PageOutcome, follow, input_index, join, output_index, page_config, page_event, page_inputs
from web_calls import start, write_photo

# ---- unreadable model files ----------------------------------------------------------------------


def without_root_file_access() -> None:
    """In the child: drop root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so that
    file permissions apply to it as to anyone (nothing to do when not root)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:       # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "cannot drop a capability")


@pytest.mark.parametrize("unreadable", ["the model folder", "the model file"])
def test_an_unreadable_model_file_or_folder_never_stops_the_app_or_the_cli(tmp_path, unreadable):
    import tiny_models

    models = tmp_path / "models"
    paths = tiny_models.make_tiny_models(models)
    locked = models if unreadable == "the model folder" else paths["restorer"]
    locked.chmod(0)
    try:
        app = start_app(tmp_path, models, preexec_fn=without_root_file_access)
        try:
            status = page_event(app, "page_load")
            shown = json.dumps(status.data, ensure_ascii=False)
            assert status.success and "permission denied" in shown and "GPEN-BFR-512.pth" in shown
            assert "not ready" in shown                                       # the banner
            with pytest.raises(Exception) as raised:
                Client(app.url, verbose=False).predict(handle_file(str(write_photo(tmp_path / "photo.jpg"))),
                                                       api_name="/enhance")
            message = str(raised.value)
            assert "permission denied" in message and "GPEN-BFR-512.pth" in message
            assert str(models) not in message and "Traceback" not in message
            assert "PermissionError" not in app.log()
        finally:
            app.stop()
        cli = subprocess.run([sys.executable, "-m", "gpen", str(write_photo(tmp_path / "photo.jpg")), "-o",
                              str(tmp_path / "out"), "--models-dir", str(models), "--no-download", "-q"],
                             cwd=REPO, capture_output=True, text=True, timeout=300, preexec_fn=without_root_file_access)
        assert cli.returncode == 1, cli.stderr
        assert "permission denied" in cli.stderr and "Traceback" not in cli.stderr
    finally:
        locked.chmod(0o755)


# ---- broken and shared settings files ------------------------------------------------------------


BROKEN_SETTINGS = {
    "nested 100000 deep": "[" * 100_000 + "]" * 100_000,
    "a 5001-digit integer": '{"quality": 1' + "0" * 5000 + "}",
}


@pytest.mark.parametrize("content", BROKEN_SETTINGS)
def test_a_broken_settings_file_gives_the_defaults_with_a_warning(tmp_path, content):
    from webui.settings import Settings

    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "settings.json").write_text(BROKEN_SETTINGS[content])
    app = start(folder)
    try:
        status = page_event(app, "page_load")
        assert status.success
        assert status.data[output_index(page_config(app), "page_load", "settings-quality")] == Settings().output.quality
        assert "using the defaults" in app.log() and "Traceback" not in app.log()
    finally:
        app.stop()


APPLIES_PER_INSTANCE = 150


def test_two_instances_sharing_a_settings_file_never_collide(limited_app, tmp_path):
    second = start(tmp_path / "second", env={"GPEN_SETTINGS_FILE": str(limited_app.settings_file)})
    try:
        def apply_many(instance: AppProcess, offset: int) -> list[PageOutcome]:
            config = page_config(instance)
            quality = input_index(config, "page_apply", "settings-quality")
            outcomes = []
            for number in range(APPLIES_PER_INSTANCE):
                data = page_inputs(config, "page_apply")
                data[quality] = 50 + (number + offset) % 40
                outcomes.append(follow(instance, join(instance, config, "page_apply", data)))
            return outcomes

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(apply_many, (limited_app, second), (0, 1)))
        outcomes = [outcome for result in results for outcome in result]
        failed = [outcome for outcome in outcomes if not outcome.success or any(
            "could not be saved" in notice or "Error" in notice for notice in outcome.notices)]
        print(f"FIGURE shared settings file: {len(outcomes)} Applies from two instances, {len(failed)} failed")
        assert failed == []
        assert json.loads(limited_app.settings_file.read_text())["quality"] in range(50, 90)
        assert list(limited_app.settings_file.parent.glob(".settings.json*")) == []
    finally:
        second.stop()


def _save_many(path: str, count: int) -> int:
    from webui.settings import Settings, save_settings

    failures = 0
    for number in range(count):
        try:
            save_settings(Settings().with_values(quality=1 + number % 100), Path(path))
        except OSError:
            failures += 1
    return failures


def test_concurrent_writers_of_one_settings_file_never_fail(tmp_path):
    """The race behind the shared file, made likely: two processes writing it as fast as they can."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        failures = pool.starmap(_save_many, [(str(tmp_path / "settings.json"), 3000)] * 2)
    assert failures == [0, 0]
    assert json.loads((tmp_path / "settings.json").read_text())["quality"] in range(1, 101)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["settings.json"]


# ---- settings on a shared server -----------------------------------------------------------------


def shared_server_probe(folder: str) -> None:
    """Run inside a private network namespace (see the test below): start the app on all interfaces,
    with and without --allow-settings, press Apply, Reload and Download, and print what happened as JSON."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=30)
    findings: dict[str, Any] = {}
    for name, extra in (("locked", []), ("allowed", ["--allow-settings"])):
        instance = start(Path(folder) / name, "--host", "0.0.0.0", *extra)
        try:
            config = page_config(instance)
            components = {component["props"].get("elem_id"): component["props"] for component in config["components"]}
            quality = input_index(config, "page_apply", "settings-quality")
            saved = instance.settings_file.read_bytes() if instance.settings_file.exists() else None
            apply = page_event(instance, "page_apply", {quality: 42})
            findings[name] = {
                "notice visible": components["settings-locked"].get("visible"),
                "apply button interactive": components["settings-apply"].get("interactive"),
                "apply notices": apply.notices, "apply success": apply.success,
                "settings file changed": (instance.settings_file.read_bytes()
                                          if instance.settings_file.exists() else None) != saved,
                "saved quality": json.loads(instance.settings_file.read_text()).get("quality")
                if instance.settings_file.exists() else None,
                "reload notices": page_event(instance, "page_reload").notices,
                "download notices": page_event(instance, "page_download").notices,
                "log says read-only": "the settings are read-only" in instance.log(),
            }
        finally:
            instance.stop()
    print("PROBE " + json.dumps(findings))


def test_on_a_shared_server_settings_are_read_only_unless_allowed(tmp_path):
    """The app listens on all interfaces, inside a network namespace of its own whose only interface is
    loopback: "beyond loopback" for the app, while nothing can reach it from another machine."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here (needs root): {probe.stderr.strip()}")
    tests = Path(__file__).resolve().parent
    code = f"import sys; sys.path[:0] = [{str(tests)!r}, {str(REPO)!r}]; import {Path(__file__).stem} as t; " \
           f"t.shared_server_probe({str(tmp_path)!r})"
    run = subprocess.run(["unshare", "--net", sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    lines = [line for line in run.stdout.splitlines() if line.startswith("PROBE ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-3000:]
    findings = json.loads(lines[-1].removeprefix("PROBE "))
    locked, allowed = findings["locked"], findings["allowed"]
    assert locked["notice visible"] is True and locked["apply button interactive"] is False
    assert any("read-only" in notice for notice in locked["apply notices"]), locked
    assert not locked["settings file changed"]
    assert any("read-only" in notice for notice in locked["reload notices"])
    assert any("read-only" in notice for notice in locked["download notices"])
    assert locked["log says read-only"]
    assert allowed["notice visible"] is False and allowed["apply button interactive"] is not False
    assert allowed["apply success"] and allowed["saved quality"] == 42
    assert not any("read-only" in notice for notice in allowed["apply notices"])


# ---- the settings event offers only its own models -----------------------------------------------


def test_the_settings_handler_builds_only_the_models_it_offers(tmp_path):
    """Behind the page's list of choices: the handler itself never builds an engine for another model."""
    from webui.engine_holder import EngineHolder
    from webui.files import RequestFolders
    from webui.handlers import Handlers
    from webui.settings import Settings

    built: list[Settings] = []
    settings_file = tmp_path / "settings.json"
    for started_with in ("GPEN-BFR-512", str(tmp_path / "own.pth")):
        holder = EngineHolder(Settings().with_values(model=started_with), models_folder=tmp_path,
                              factory=lambda settings: built.append(settings))
        handlers = Handlers(holder, RequestFolders(tmp_path / "requests"), settings_file)
        offered = handlers.settings.offered_models
        assert started_with in offered and "GPEN-BFR-256" in offered
        with pytest.warns(UserWarning, match="The model must be one of"):
            handlers.settings.apply_settings(None, "cpu", "auto", 4, "/etc/passwd", "retinaface-r50", "png", 95, False,
                                             100)
    assert built == [] and not settings_file.exists()
