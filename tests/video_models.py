"""A models folder for the video tests: the tiny restorer and parser, and the trained MobileNet-0.25
detector (``trained_detector``) under its registry name, so that real faces are found in every frame."""
from __future__ import annotations

import shutil
from pathlib import Path

import tiny_models
from gpen import registry
from trained_detector import trained_detector_file

DETECTOR = "retinaface-mobile0.25"


def trained_models_folder(folder: Path, detector_cache: Path) -> Path:
    """Fill ``folder`` (once) and return it; the converted detector is cached in ``detector_cache``."""
    folder = Path(folder)
    target = folder / registry.get_spec(DETECTOR).file_name
    if not target.is_file():
        tiny_models.make_tiny_models(folder)
        shutil.copy(trained_detector_file(detector_cache), target)
        (folder / registry.get_spec("retinaface-r50").file_name).unlink(missing_ok=True)
    return folder
