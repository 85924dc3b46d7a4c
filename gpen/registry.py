"""The model registry: every model file the app knows by name, where to get it, and where it lives.

Download locations are the ones the GPEN and facexlib projects publish (see
``reference/PIPELINE.md``). No checksums are published for any of them, so ``sha256`` is
``None`` throughout; fill one in only from a hash the publisher gives.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping, get_args

from gpen.errors import ModelFileError

ModelKind = Literal["restorer", "detector", "parser"]
# The face detectors, chosen like any other setting: the ResNet-50 one is the official pipeline's
# (the default); the MobileNet-0.25 one is several times faster on a CPU and a little less exact on
# small, blurred or turned faces.
DetectorChoice = Literal["retinaface-r50", "retinaface-mobile0.25"]
DETECTOR_CHOICES: tuple[DetectorChoice, ...] = get_args(DetectorChoice)
DEFAULT_DETECTOR: DetectorChoice = "retinaface-r50"

GPEN_BASE_URL = "https://public-vigen-video.oss-cn-shanghai.aliyuncs.com/robin/models/"
GPEN_MIRROR_URL = "https://github.com/vinthony/video-retalking/releases/download/v0.0.1/"
MODELSCOPE_HIRES_URL = (
    "https://www.modelscope.cn/models/damo/cv_gpen_image-portrait-enhancement-hires/resolve/master/")
FACEXLIB_URL = "https://github.com/xinntao/facexlib/releases/download/"

GPEN_LICENCE = "non-commercial use only (GPEN licence)"
FACEXLIB_LICENCE = ("published with facexlib's GitHub releases; facexlib's code is MIT-licensed, "
                    "no separate licence for the weights is stated here")


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model file. ``urls[0]`` is the primary source, the rest are mirrors."""

    name: str
    file_name: str
    kind: ModelKind
    size_px: int | None
    config: Mapping[str, Any] | None = field(compare=False)
    urls: tuple[str, ...]
    sha256: str | None
    licence: str
    description: str


def _gpen_config(size: int, channel_multiplier: int, narrow: float) -> Mapping[str, Any]:
    """The official ``FullGenerator`` constructor arguments, read-only."""
    return MappingProxyType({
        "size": size, "channel_multiplier": channel_multiplier, "narrow": narrow, "style_dim": 512,
        "n_mlp": 8, "blur_kernel": (1, 3, 3, 1), "lr_mlp": 0.01, "isconcat": True,
    })


def _restorer(name: str, size_px: int, channel_multiplier: int, narrow: float, urls: tuple[str, ...],
              description: str) -> ModelSpec:
    return ModelSpec(name=name, file_name=f"{name}.pth", kind="restorer", size_px=size_px,
                     config=_gpen_config(size_px, channel_multiplier, narrow), urls=urls, sha256=None,
                     licence=GPEN_LICENCE, description=description)


_ALL_SPECS = (
    _restorer("GPEN-BFR-256", 256, 1, 0.5, (GPEN_BASE_URL + "GPEN-BFR-256.pth",),
              "Face restoration, light model (256 px)."),
    _restorer("GPEN-BFR-512", 512, 2, 1.0,
              (GPEN_BASE_URL + "GPEN-BFR-512.pth", GPEN_MIRROR_URL + "GPEN-BFR-512.pth"),
              "Face restoration, the default model (512 px)."),
    _restorer("GPEN-BFR-1024", 1024, 2, 1.0, (MODELSCOPE_HIRES_URL + "pytorch_model.pt",),
              "Face restoration, high resolution (1024 px); published on ModelScope as pytorch_model.pt."),
    _restorer("GPEN-BFR-2048", 2048, 2, 1.0, (MODELSCOPE_HIRES_URL + "pytorch_model-2048.pt",),
              "Face restoration for large selfies (2048 px); published on ModelScope as "
              "pytorch_model-2048.pt."),
    _restorer("GPEN-Colorization-1024", 1024, 2, 1.0, (GPEN_BASE_URL + "GPEN-Colorization-1024.pth",),
              "Colourises an aligned grey face (1024 px)."),
    _restorer("GPEN-Inpainting-1024", 1024, 2, 1.0, (GPEN_BASE_URL + "GPEN-Inpainting-1024.pth",),
              "Fills in white brush strokes on an aligned face (1024 px)."),
    _restorer("GPEN-Seg2face-512", 512, 2, 1.0, (GPEN_BASE_URL + "GPEN-Seg2face-512.pth",),
              "Draws a face from a colour parsing map (512 px); input and output are not scaled to "
              "[-1, 1] as for the other models."),
    ModelSpec(name="retinaface-r50", file_name="detection_Resnet50_Final.pth", kind="detector", size_px=None,
              config=None, urls=(FACEXLIB_URL + "v0.1.0/detection_Resnet50_Final.pth",), sha256=None,
              licence=FACEXLIB_LICENCE,
              description="RetinaFace (ResNet-50) face detector from facexlib: the official pipeline's, the default."),
    ModelSpec(name="retinaface-mobile0.25", file_name="detection_mobilenet0.25_Final.pth", kind="detector",
              size_px=None, config=None, urls=(FACEXLIB_URL + "v0.1.0/detection_mobilenet0.25_Final.pth",),
              sha256=None, licence=FACEXLIB_LICENCE,
              description="RetinaFace (MobileNet-0.25) face detector from facexlib: several times faster on a "
                          "CPU, a little less exact on hard faces."),
    ModelSpec(name="parsenet", file_name="parsing_parsenet.pth", kind="parser", size_px=None, config=None,
              urls=(FACEXLIB_URL + "v0.2.2/parsing_parsenet.pth",), sha256=None, licence=FACEXLIB_LICENCE,
              description="ParseNet face parser from facexlib (masks for pasting faces back)."),
)

# Keyed by lower-case name for case-insensitive lookup.
_SPECS: dict[str, ModelSpec] = {spec.name.lower(): spec for spec in _ALL_SPECS}

RESTORER_NAMES: tuple[str, ...] = tuple(spec.name for spec in _ALL_SPECS if spec.kind == "restorer")
DEFAULT_RESTORER = "GPEN-BFR-512"
PARSER = "parsenet"


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name, ignoring case; an unknown name raises ``ModelFileError``."""
    try:
        return _SPECS[name.strip().lower()]
    except KeyError:
        known = ", ".join(spec.name for spec in _SPECS.values())
        raise ModelFileError(f"unknown model {name!r}; known models: {known}") from None


def models_dir() -> Path:
    """The folder model files live in: ``$GPEN_MODELS_DIR`` if set, else ``models/`` in the repository."""
    override = os.environ.get("GPEN_MODELS_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    return Path(__file__).resolve().parent.parent / "models"


def model_status(folder: Path | None = None) -> list[tuple[ModelSpec, Path, bool]]:
    """Every registered model with its path in ``folder`` (default ``models_dir()``) and whether it is there."""
    folder = Path(folder) if folder is not None else models_dir()
    return [(spec, folder / spec.file_name, _is_file(folder / spec.file_name)) for spec in _SPECS.values()]


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; False where it cannot be looked at (a folder without permission):
    loading it then says why."""
    try:
        return path.is_file()
    except OSError:
        return False


def needed_models(model: str, detector: str = DEFAULT_DETECTOR) -> list[ModelSpec]:
    """The registry files an engine with this restorer (a name or a checkpoint path) and detector needs:
    the restorer (unless it is a path), the detector and the parser."""
    try:
        restorer = get_spec(model)
    except ModelFileError:
        restorer = None
    first = [restorer] if restorer is not None and restorer.kind == "restorer" else []
    return first + [get_spec(detector), get_spec(PARSER)]


def missing_models(model: str, folder: Path | None = None, detector: str = DEFAULT_DETECTOR) -> list[ModelSpec]:
    """The files ``needed_models`` names that are not in the models folder."""
    present = {spec.name for spec, _, exists in model_status(folder) if exists}
    return [spec for spec in needed_models(model, detector) if spec.name not in present]
