"""The web app with a stand-in restorer, for the README's screenshots: ``python tests/stand_in_app.py ARGS``
takes ``app.py``'s arguments and starts the real app, except that every engine it builds restores each face
with ``IdentityRestorer`` (the face it is given, unchanged) and pastes it through ``WholeFaceParser`` (the
whole crop, its edge blended in), while the detector is loaded from the models folder as usual (the trained
RetinaFace MobileNet-0.25 of ``tests/trained_detector.py``, so real faces are found).

The real GPEN and parser weights cannot be downloaded where this project is built, and the tests' tiny
random GPEN turns every face into coloured noise: with this stand-in the screenshots show the interface
on real faces, and say so (README, "Screenshots"). Test code only; the product never imports it.
"""
from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
STAND_IN_SIZE_PX = 512          # the crop size of GPEN-BFR-512, whose place the stand-in takes
DETECTOR = "retinaface-mobile0.25"


def stand_in_models(folder: Path, trained_detector: Path) -> Path:
    """A models folder for the stand-in app: the trained detector under the MobileNet detector's file name, and
    the tiny restorer and parser files, so that the Settings tab finds every file it looks for (the stand-in
    app never runs those two)."""
    import tiny_models
    from gpen import registry

    tiny_models.make_tiny_models(folder, detector_name=DETECTOR)
    shutil.copy(trained_detector, folder / registry.get_spec(DETECTOR).file_name)
    return folder


def use_stand_in_engine() -> None:
    """Make every engine the app builds use the stand-in restorer and parser (the detector stays the file's)."""
    from doubles import IdentityRestorer, WholeFaceParser
    from gpen import Engine
    from webui.engine_holder import EngineHolder

    def build(holder: EngineHolder, settings) -> Engine:
        config = replace(settings.engine, models_folder=holder.models_folder, download=False)
        return Engine(config, restorer=IdentityRestorer(STAND_IN_SIZE_PX), parser=WholeFaceParser())

    EngineHolder._build = build


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(TESTS)]
    import app

    use_stand_in_engine()
    sys.exit(app.main(sys.argv[1:]))
