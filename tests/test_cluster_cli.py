"""``python -m gpen ... --cluster local`` as a real process: killed halfway and resumed with --skip-existing
(the inputs named the second time by a file:// URI), and a clear message when Ray is not installed."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_process import REPO, cli_environment, results_in, run_cli
from photos import PHOTOS
from video_models import DETECTOR, trained_models_folder

from gpen.batch import SaveOptions, process_files
from gpen.engine import Engine
from gpen.options import EngineConfig


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return trained_models_folder(tmp_path_factory.mktemp("cluster_cli_models"),
                                 tmp_path_factory.getbasetemp() / "trained_detector")


def test_a_killed_cluster_run_resumes_with_skip_existing(models, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for copy in range(2):
        for photo in PHOTOS.iterdir():
            shutil.copy(photo, inputs / f"{copy}_{photo.name}")
    out = tmp_path / "out"
    arguments = [str(inputs), "-o", str(out), "-q", "--batch-size", "1", "--detector", DETECTOR,
                 "--cluster", "local"]
    # Its own session, so that the kill takes Ray's processes with it, as a crashed machine would.
    process = subprocess.Popen([sys.executable, "-m", "gpen", *arguments], cwd=REPO,
                               env=cli_environment(models), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 120

    def finished() -> int:   # complete results only: a temporary file being written starts with "."
        return sum(not path.name.startswith(".") for path in out.glob("*")) if out.is_dir() else 0
    while time.monotonic() < deadline and finished() < 3 and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    total = len(list(inputs.iterdir()))
    assert 3 <= finished() < total, "the run was not interrupted halfway"

    # The same folder named as a URI: listed and read through a pyarrow filesystem (as s3:// would be).
    resumed = [inputs.as_uri(), *arguments[1:]]
    result = run_cli(models, *resumed, "--skip-existing", "--report", str(tmp_path / "r.json"), timeout=240)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "r.json").read_text())
    assert len(rows) == total
    assert {row["status"] for row in rows} <= {"ok", "no_faces", "skipped"}
    assert sum(row["status"] == "skipped" for row in rows) >= 3
    assert "skipped" in result.stderr and "on the Ray cluster local" in result.stderr
    # Every result there, complete, nothing partial, and each the bytes of a single-machine run.
    sources = sorted(inputs.iterdir())
    assert results_in(out) == sorted(Path(row["output"]).name for row in rows)
    config = EngineConfig(detector=DETECTOR, device="cpu", batch_size=1, models_folder=models, download=False)
    reference = process_files(Engine(config), sources, tmp_path / "reference", save=SaveOptions())
    for report in reference:
        assert (out / Path(report.output).name).read_bytes() == Path(report.output).read_bytes(), report.input


def test_without_ray_the_cluster_option_says_how_to_install_it(models, tmp_path):
    hidden = tmp_path / "no_ray"
    (hidden / "ray").mkdir(parents=True)
    (hidden / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    environment = {"PYTHONPATH": os.pathsep.join([str(hidden), str(REPO)])}
    imported = subprocess.run([sys.executable, "-c", "import gpen.cli, gpen.cluster, gpen.batch"], cwd=REPO,
                              env={**cli_environment(models), **environment}, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    result = run_cli(models, str(PHOTOS / "lowres_portrait2.jpg"), "-o", str(tmp_path / "out"),
                     "--cluster", "local", env=environment)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install -r requirements-cluster.txt" in lines[0], result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(("arguments", "message"), [
    (["--workers", "2"], "--workers goes with --cluster"),
    (["--cluster", "local", "-o", "s3://bucket/out"], "results are written to a folder on this machine"),
])
def test_bad_cluster_usage_exits_2(models, tmp_path, arguments, message):
    output = [] if "-o" in arguments else ["-o", str(tmp_path / "out")]
    result = run_cli(models, str(PHOTOS / "lowres_portrait2.jpg"), *output, *arguments)
    assert result.returncode == 2 and message in result.stderr, result.stderr
