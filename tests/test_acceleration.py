"""Compiled network and reduced-precision safeguards give the results of the plain float32 network."""
from __future__ import annotations

import logging

import numpy as np
import torch

import tiny_models
from gpen.acceleration import CompiledModule, compile_restorer
from gpen.arch import build_generator
from gpen.engine import Engine, EngineConfig
from photos import read_photo


def tiny_network() -> torch.nn.Module:
    network = build_generator(tiny_models.TINY_GPEN_CONFIG).eval().requires_grad_(False)
    network.load_state_dict(tiny_models.tiny_gpen_state_dict())
    return network


def faces(count: int) -> torch.Tensor:
    crop = read_photo("aligned_face_512.png")[::8, ::8]
    return torch.from_numpy(np.stack([crop] * count)).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_compiled_network_matches_the_plain_one():
    network = tiny_network()
    compiled = compile_restorer(network)
    with torch.inference_mode():
        expected = network(faces(3))
        output = compiled(faces(3))
    assert not compiled._fallback.is_set()
    assert (output - expected).abs().max().item() < 1e-4


def test_a_failing_compiler_falls_back_to_the_plain_network(monkeypatch, caplog):
    def broken_compile(function, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    network = tiny_network()
    compiled = compile_restorer(network)
    with torch.inference_mode(), caplog.at_level(logging.WARNING):
        output = compiled(faces(2))
        assert torch.equal(output, network(faces(2)))
    assert compiled._fallback.is_set() and "torch.compile failed" in caplog.text


class OverflowsWhenReduced(torch.nn.Module):
    """Gives infinities under autocast, as fp16 StyleGAN2 layers can; correct in float32."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner, self.size = inner, inner.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.inner(x)
        return output * float("inf") if torch.is_autocast_enabled("cpu") else output


def test_non_finite_reduced_precision_output_is_recomputed_in_float32(caplog):
    network = tiny_network()
    reference = Engine(EngineConfig(device="cpu", precision="fp32"), restorer=network, detector=object(), parser=object())
    reduced = Engine(EngineConfig(device="cpu", precision="bf16"), restorer=OverflowsWhenReduced(network),
                     detector=object(), parser=object())
    crops = [read_photo("gray_face.png")[::8, ::8].copy()]
    with caplog.at_level(logging.WARNING):
        output = reduced.restore_crops(crops)
    assert np.array_equal(output, reference.restore_crops(crops))
    assert "recomputing it in float32" in caplog.text


def test_compiled_parser_matches_the_plain_one():
    from gpen.parsing import build_parsenet

    parser = build_parsenet(tiny_models.tiny_parser_state_dict())
    crops = torch.from_numpy(np.stack([read_photo("aligned_face_512.png"), read_photo("gray_face.png")]))
    crops = crops.permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.inference_mode():
        expected = parser(crops)
        output = CompiledModule(parser)(crops)
    assert isinstance(output, tuple) and len(output) == len(expected)
    for got, want in zip(output, expected):
        assert (got - want).abs().max().item() < 1e-4


def test_compile_wraps_the_detector_and_parser_in_new_objects_and_keeps_the_results(tmp_path, monkeypatch):
    """compile=True gives the engine compiled copies; the networks it was handed (which other engines may
    share) stay as they were, and the results match the plain engine's."""
    monkeypatch.setattr(torch, "compile", lambda function, **kwargs: function)   # compiling itself is slow
    folder = tiny_models.make_tiny_models(tmp_path / "models")["parser"].parent
    plain = Engine(EngineConfig(models_folder=folder, download=False, device="cpu"))
    compiled = Engine(EngineConfig(models_folder=folder, download=False, device="cpu", compile=True),
                      detector=plain.detector, parser=plain.parser)
    assert isinstance(compiled.detector.model, CompiledModule)
    assert isinstance(compiled.parser.model, CompiledModule)
    assert not isinstance(plain.detector.model, CompiledModule) and not isinstance(plain.parser.model, CompiledModule)
    photo = read_photo("lowres_portrait.jpg")
    assert np.array_equal(compiled.enhance_one(photo).image, plain.enhance_one(photo).image)
