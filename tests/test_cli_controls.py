"""The quality controls from the command line: presets, explicit overrides and range checks."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpen.options import options_for_mode
from gpen.cli import build_parser, enhance_options, main
from gpen.engine import EnhanceOptions
from cli_process import REPO, cli_environment
from photos import PHOTOS

def cli_command(models_folder: Path, *args: str) -> dict:
    return dict(args=[sys.executable, "-m", "gpen", *args], cwd=REPO, env=cli_environment(models_folder), text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_mode_and_explicit_controls_reach_the_engine(models_folder, tmp_path):
    source = tmp_path / "photo.jpg"
    shutil.copy(PHOTOS / "lowres_portrait2.jpg", source)
    runs = {
        "natural": [],
        "strong": ["--mode", "strong"],
        "undone": ["--mode", "strong", "--denoise", "0", "--sharpen", "0", "--contrast", "0", "--no-skin-protection"],
    }
    images = {}
    for name, flags in runs.items():
        result = subprocess.run(**cli_command(models_folder, str(source), "-o", str(tmp_path / name), "--ext", "png",
                                              "-q", "--report", str(tmp_path / f"{name}.json"), *flags), timeout=300)
        assert result.returncode == 0, result.stderr
        rows = json.loads((tmp_path / f"{name}.json").read_text())
        assert [row["status"] for row in rows] == ["ok"] and rows[0]["faces"] > 0
        images[name] = np.asarray(Image.open(tmp_path / name / "photo.png").convert("RGB"))
    assert not np.array_equal(images["strong"], images["natural"])
    assert np.array_equal(images["undone"], images["natural"])     # explicit flags override every preset value


@pytest.mark.parametrize("flags, expected", [
    ([], EnhanceOptions()),
    (["--mode", "detail"], options_for_mode("detail")),
    (["--mode", "strong", "--sharpen", "10", "--no-skin-protection", "--strength", "50"],
     options_for_mode("strong", sharpen=10.0, skin_protection=False, strength=0.5)),
    (["--strength", "80"], EnhanceOptions(strength=0.8)),
    (["--strength", "0"], EnhanceOptions(strength=0.0)),
    (["--contrast", "-30", "--brightness", "12.5", "--detail"],
     EnhanceOptions(contrast=-30.0, brightness=12.5, detail=True)),
])
def test_flags_become_options(flags, expected):
    assert enhance_options(build_parser().parse_args(["in.jpg", "-o", "out", *flags])) == expected


@pytest.mark.parametrize("flags", [
    ["--denoise", "101"], ["--denoise", "-1"], ["--sharpen", "100.5"], ["--contrast", "-101"],
    ["--brightness", "200"], ["--sharpen", "nan"], ["--contrast", "lots"], ["--mode", "dramatic"],
    ["--strength", "101"], ["--strength", "-1"], ["--strength", "nan"], ["--strength", "full"],
])
def test_out_of_range_controls_are_usage_errors(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["in.jpg", "-o", "out", *flags])
    assert exit_info.value.code == 2
    assert flags[0] in capsys.readouterr().err


def test_out_of_range_exits_2_from_the_command_line(models_folder, tmp_path):
    result = subprocess.run(**cli_command(models_folder, str(PHOTOS / "lowres_portrait2.jpg"),
                                          "-o", str(tmp_path / "out"), "--contrast", "150"), timeout=300)
    assert result.returncode == 2
    assert "--contrast" in result.stderr and "between -100 and 100" in result.stderr
    assert not (tmp_path / "out").exists()
