"""Compiled network and reduced-precision safeguards give the results of the plain float32 network."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

import tiny_models
from gpen.acceleration import COMPILED_FOLDER, CompiledModule, compile_restorer
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


def test_the_mobilenet_detector_is_not_compiled_where_compiling_costs_more_than_it_saves(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda function, **kwargs: function)
    folder = tmp_path / "models"
    tiny_models.make_tiny_models(folder, detector_name="retinaface-mobile0.25")
    engine = Engine(EngineConfig(models_folder=folder, download=False, device="cpu", compile=True,
                                 detector="retinaface-mobile0.25"))
    assert not isinstance(engine.detector.model, CompiledModule)
    assert isinstance(engine.parser.model, CompiledModule)


COMPILED_START = """
import sys, time
sys.path[:0] = {paths!r}
import numpy as np
import torch
from torch._dynamo.utils import counters
from gpen.engine import Engine, EngineConfig
from photos import read_photo
engine = Engine(EngineConfig(device="cpu", compile=True, download=False, models_folder={folder!r}))
result = engine.enhance([read_photo("portrait_small.jpg")])[0]
assert result.ok and result.faces, result.error
print(counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"])
"""


def test_a_second_start_reuses_the_compiled_code_kept_beside_the_models(tmp_path, models_folder):
    """Two processes in turn compile the same engine: the first writes its compiled graphs under the
    model folder, the second reads them back instead of compiling (torch's FX graph cache counters)."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    tests = Path(__file__).resolve().parent
    script = COMPILED_START.format(paths=[str(tests.parent), str(tests)], folder=str(folder))
    env = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}

    def start() -> tuple[int, int]:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        hits, misses = done.stdout.split()[-2:]
        return int(hits), int(misses)

    first_hits, first_misses = start()
    assert first_misses > 0 and first_hits == 0
    assert any((folder / COMPILED_FOLDER).rglob("*")), "nothing was kept in the model folder"
    second_hits, second_misses = start()
    assert second_hits >= first_misses and second_misses == 0


def test_compiled_code_goes_where_the_user_chose_or_nowhere_new_if_the_folder_cannot_be_written(tmp_path, monkeypatch):
    from gpen.acceleration import keep_compiled_code

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "chosen"))
    assert keep_compiled_code(tmp_path / "models" / COMPILED_FOLDER) == tmp_path / "chosen"
    assert not (tmp_path / "models").exists()

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")
    (tmp_path / "blocked").write_text("a file where the model folder should be")
    assert keep_compiled_code(tmp_path / "blocked" / COMPILED_FOLDER) is None
    assert "TORCHINDUCTOR_CACHE_DIR" not in os.environ

    assert keep_compiled_code(tmp_path / "models" / COMPILED_FOLDER) == tmp_path / "models" / COMPILED_FOLDER
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str((tmp_path / "models" / COMPILED_FOLDER).resolve())
