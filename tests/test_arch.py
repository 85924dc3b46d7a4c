"""The network reproduces the official forward pass on the reference fixture, on every code path."""
from __future__ import annotations

import pytest
import torch

from gpen.arch import build_generator, infer_config
from reference_data import load_manifest, load_parity_fixture


@pytest.fixture(scope="module")
def fixture() -> dict:
    return load_parity_fixture()


@pytest.fixture(scope="module")
def network(fixture) -> torch.nn.Module:
    network = build_generator(fixture["config"]).eval()
    network.load_state_dict(fixture["state_dict"], strict=True)
    return network


def test_fixture_parity_face_by_face(network, fixture):
    with torch.inference_mode():
        output = network(fixture["input"])
    assert output.shape == fixture["output"].shape
    assert (output - fixture["output"]).abs().max().item() < 1e-4


def test_fixture_parity_single_face(network, fixture):
    with torch.inference_mode():
        output = network(fixture["input"][1:])
    assert (output - fixture["output"][1:]).abs().max().item() < 1e-4


def test_fixture_parity_batched_path_used_on_gpus(network, fixture):
    """The shared-convolution path (modulated activations) that a GPU batch takes."""
    with torch.inference_mode():
        output = network._forward(fixture["input"].contiguous(memory_format=torch.channels_last))
    assert (output - fixture["output"]).abs().max().item() < 1e-4


def test_kernel_buffers_come_from_the_checkpoint(fixture):
    """The fixture's blur kernels are random and asymmetric: a network that ignored them would differ."""
    network = build_generator(fixture["config"]).eval()
    state = {key: value for key, value in fixture["state_dict"].items() if not key.endswith("kernel")}
    network.load_state_dict(state, strict=False)
    with torch.inference_mode():
        assert (network(fixture["input"]) - fixture["output"]).abs().max().item() > 1e-3


def test_unknown_bookkeeping_keys_are_ignored(fixture):
    config = dict(fixture["config"], cls="face_model/gpen_model.py:FullGenerator", device="cuda")
    assert build_generator(config).config == build_generator(fixture["config"]).config


def test_config_is_inferred_from_tensors(fixture, network):
    inferred = infer_config(fixture["state_dict"])
    assert inferred.size == 128 and inferred.channels == network.config.channels
    assert inferred.style_dim == 32 and inferred.n_mlp == 8 and inferred.isconcat


@pytest.mark.parametrize("name", ["GPEN-BFR-256", "GPEN-BFR-512", "GPEN-BFR-1024", "GPEN-BFR-2048",
                                  "GPEN-Colorization-1024", "GPEN-Inpainting-1024", "GPEN-Seg2face-512"])
def test_manifest_layout_is_inferred_back(name):
    entry = load_manifest()[name]
    shapes = {key: torch.empty(shape, device="meta") for key, shape, _ in entry["state_dict"]}
    with torch.device("meta"):
        rebuilt = build_generator(infer_config(shapes))
    assert [(key, list(value.shape)) for key, value in rebuilt.state_dict().items()] == \
        [(key, shape) for key, shape, _ in entry["state_dict"]]


def test_bfloat16_stays_close_and_finite(network, fixture):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        output = network(fixture["input"]).float()
    assert torch.isfinite(output).all()
    assert (output - fixture["output"]).abs().mean().item() < 0.05
