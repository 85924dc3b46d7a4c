"""The model registry: names, configs that match the official layouts, the models folder."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from gpen import registry
from gpen.arch import build_generator
from gpen.errors import ModelFileError
from reference_data import load_manifest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load_manifest()


def test_restorer_names_cover_the_manifest(manifest: dict) -> None:
    assert set(registry.RESTORER_NAMES) == set(manifest)
    assert registry.DEFAULT_RESTORER in registry.RESTORER_NAMES
    assert registry.get_spec(registry.DEFAULT_DETECTOR).kind == "detector"
    assert registry.get_spec(registry.PARSER).kind == "parser"


@pytest.mark.parametrize("name", registry.RESTORER_NAMES)
def test_restorer_config_builds_the_official_layout(name: str, manifest: dict) -> None:
    spec = registry.get_spec(name)
    expected = manifest[name]
    assert spec.kind == "restorer"
    assert spec.size_px == expected["config"]["size"]
    assert {**spec.config, "blur_kernel": list(spec.config["blur_kernel"])} == expected["config"]
    with torch.device("meta"):
        network = build_generator(spec.config)
    layout = [[key, list(tensor.shape), str(tensor.dtype).removeprefix("torch.")]
              for key, tensor in network.state_dict().items()]
    assert layout == expected["state_dict"]


@pytest.mark.parametrize("name", registry.RESTORER_NAMES + (registry.DEFAULT_DETECTOR, registry.PARSER))
def test_spec_fields(name: str) -> None:
    spec = registry.get_spec(name)
    assert spec.name == name
    assert spec.file_name.endswith(".pth")
    assert spec.urls and all(url.startswith("https://") for url in spec.urls)
    assert spec.sha256 is None  # none are published; never invent one
    assert spec.licence and spec.description
    if spec.kind == "restorer":
        assert spec.file_name == f"{name}.pth"
        assert spec.licence == "non-commercial use only (GPEN licence)"
    else:
        assert spec.size_px is None and spec.config is None


def test_specs_are_frozen_and_hashable() -> None:
    spec = registry.get_spec(registry.DEFAULT_RESTORER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.config["size"] = 1  # type: ignore[index]
    assert hash(spec) == hash(registry.get_spec(registry.DEFAULT_RESTORER))


def test_known_download_locations() -> None:
    assert registry.get_spec("GPEN-BFR-512").urls == (
        "https://public-vigen-video.oss-cn-shanghai.aliyuncs.com/robin/models/GPEN-BFR-512.pth",
        "https://github.com/vinthony/video-retalking/releases/download/v0.0.1/GPEN-BFR-512.pth",
    )
    hires = registry.get_spec("GPEN-BFR-2048")
    assert hires.file_name == "GPEN-BFR-2048.pth"
    assert hires.urls[0].endswith("/cv_gpen_image-portrait-enhancement-hires/resolve/master/pytorch_model-2048.pt")
    assert registry.get_spec("retinaface-r50").urls == (
        "https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth",)


def test_lookup_ignores_case() -> None:
    assert registry.get_spec("gpen-bfr-512") is registry.get_spec("GPEN-BFR-512")
    assert registry.get_spec("ParseNet").name == "parsenet"


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ModelFileError) as caught:
        registry.get_spec("GPEN-BFR-4096")
    message = str(caught.value)
    assert "GPEN-BFR-4096" in message
    assert all(name in message for name in registry.RESTORER_NAMES)


def test_models_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GPEN_MODELS_DIR", raising=False)
    assert registry.models_dir() == REPO_ROOT / "models"
    monkeypatch.setenv("GPEN_MODELS_DIR", str(tmp_path))
    assert registry.models_dir() == tmp_path


def test_model_status(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "GPEN-BFR-512.pth").write_bytes(b"x")
    (tmp_path / "parsing_parsenet.pth").write_bytes(b"x")
    status = registry.model_status(tmp_path)
    assert len(status) == len(registry.RESTORER_NAMES) + len(registry.DETECTOR_CHOICES) + 1
    present = {spec.name for spec, path, exists in status if exists}
    assert present == {"GPEN-BFR-512", "parsenet"}
    assert all(path == tmp_path / spec.file_name for spec, path, _ in status)
    monkeypatch.setenv("GPEN_MODELS_DIR", str(tmp_path))
    assert registry.model_status() == status
