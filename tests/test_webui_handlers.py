"""The web app's handlers and its shared engine, in this process: a batch's progress, settings that build a
new engine first and swap it in only between jobs, a failed build that keeps the running engine, and the
download button (``webui.handlers``, ``webui.jobs``, ``webui.engine_holder``, ``webui.settings_events``)."""
from __future__ import annotations

import re
import shutil

import pytest
from bad_inputs import corrupt_file
from photos import PHOTOS

from webui import options as controls
from webui.settings import Settings

BATCH_PHOTOS = ("portrait_small.jpg", "lowres_portrait.jpg", "lowres_portrait2.jpg")


@pytest.fixture
def handlers(models_folder, tmp_path, monkeypatch):
    from webui.engine_holder import EngineHolder
    from webui.files import RequestFolders
    from webui.handlers import Handlers

    monkeypatch.setenv("GPEN_OUTPUTS_DIR", str(tmp_path / "outputs"))
    holder = EngineHolder(Settings().with_values(batch_size=2), models_folder=models_folder)
    return Handlers(holder, RequestFolders(tmp_path / "requests"), tmp_path / "settings.json")


def test_batch_progress_advances_per_photo_with_its_name(handlers, tmp_path):
    calls = []
    uploads = [PHOTOS / name for name in BATCH_PHOTOS] + [corrupt_file(tmp_path)]
    outcome = handlers.jobs.restore_batch(uploads, controls.build_options(100, None, None, None, None), "en",
                                          lambda progress, desc=None, unit=None: calls.append((progress, desc)))
    per_photo = [(progress, desc) for progress, desc in calls if isinstance(progress, tuple) and progress[0] > 0]
    assert [progress for progress, _ in per_photo] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    line = re.compile(r"\d+ faces · \d+:\d\d elapsed · about \d+:\d\d left( · now: (.+))?")
    matches = [line.fullmatch(desc) for _, desc in per_photo]
    assert all(matches), per_photo
    working = [match.group(2) for match in matches]        # the photo being worked on after each one
    assert working[-1] is None and set(working[:-1]) <= {*BATCH_PHOTOS, "broken.jpg"}, working
    assert [row.status for row in outcome.rows] == ["ok", "ok", "ok", "failed"]


class FakeEngine:
    """Stands in for ``gpen.Engine`` where only the swapping is tested."""

    def __init__(self, settings: Settings):
        from types import SimpleNamespace

        self.settings = settings
        self.model_name = settings.engine.model
        self.config = SimpleNamespace(batch_size=settings.engine.batch_size)
        self.plan = SimpleNamespace(device=SimpleNamespace(type="cpu"), precision="fp32", note="")


def test_new_settings_build_first_and_swap_only_when_no_job_runs():
    import threading

    from webui.engine_holder import EngineHolder

    built: list[Settings] = []
    holder = EngineHolder(Settings(), factory=lambda settings: built.append(settings) or FakeEngine(settings))
    job_running, job_may_finish = threading.Event(), threading.Event()
    seen: list[Settings] = []

    def job():
        with holder.use() as engine:
            job_running.set()
            job_may_finish.wait(10)
            seen.append(engine.settings)

    worker = threading.Thread(target=job)
    worker.start()
    job_running.wait(10)
    wanted = Settings().with_values(batch_size=8)
    swapper = threading.Thread(target=holder.apply, args=(wanted,))
    swapper.start()
    for _ in range(100):          # the new engine is built while the job still runs...
        if len(built) == 2:
            break
        threading.Event().wait(0.02)
    assert built == [Settings(), wanted]
    assert holder.settings == Settings()        # ...but not swapped in under it
    job_may_finish.set()
    worker.join(10)
    swapper.join(10)
    assert seen == [Settings()]
    assert holder.settings == wanted
    with holder.use() as engine:
        assert engine.settings == wanted


def test_a_failed_build_keeps_the_running_engine(tmp_path):
    from gpen.errors import ModelFileError
    from webui.engine_holder import EngineHolder

    def factory(settings):
        if settings.engine.model == "GPEN-BFR-1024":
            raise ModelFileError("model file GPEN-BFR-1024.pth is not in the folder")
        return FakeEngine(settings)

    holder = EngineHolder(Settings(), factory=factory)
    assert holder.load().loaded
    with pytest.raises(ModelFileError):
        holder.apply(Settings().with_values(model="GPEN-BFR-1024"))
    assert holder.settings == Settings() and holder.state().loaded


def test_download_button_fetches_what_the_model_needs_then_loads_it(models_folder, handlers, tmp_path,
                                                                   monkeypatch):
    from gpen import registry
    from webui import settings_events as settings_events_module

    folder = tmp_path / "models"
    folder.mkdir()
    handlers.holder.models_folder = folder
    fetched = []

    def fake_download(name, folder, download, progress):   # copies the test models instead
        path = folder / registry.get_spec(name).file_name
        progress(0, 100)
        shutil.copy(models_folder / path.name, path)
        progress(100, 100)
        fetched.append(name)
        return path

    monkeypatch.setattr(settings_events_module, "resolve_model_file", fake_download)
    assert not handlers.holder.load().loaded
    progress_calls = []
    handlers.settings.download_models(None, lambda *args, **kwargs: progress_calls.append(args), "GPEN-BFR-512")
    assert fetched == ["GPEN-BFR-512", "retinaface-r50", "parsenet"]
    assert len(progress_calls) == 6 and handlers.holder.state().loaded
