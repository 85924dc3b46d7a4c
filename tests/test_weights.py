"""Reading checkpoints safely, resolving model names to files, and loading restorers."""
from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import shutil
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Callable, Iterator

import pytest

from local_http import serve_on_loopback
import torch

from bad_inputs import first_half
from cli_process import run_cli
from gpen import cli, registry
from gpen.engine import Engine, EngineConfig
from photos import PHOTOS
from gpen.arch import GPEN, build_generator
from gpen.errors import ModelFileError
from gpen.weights import load_restorer, read_state_dict, resolve_model_file

TINY_CONFIG = {"size": 32, "channel_multiplier": 1, "narrow": 0.03125, "style_dim": 16, "n_mlp": 2}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: a single thread avoids thread start-up costing more than the work (0.7 s vs 7 ms here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def network() -> GPEN:
    """A tiny GPEN with every parameter random (noise-injection weights too, so the encoder path counts)."""
    torch.manual_seed(0)
    tiny = build_generator(TINY_CONFIG)
    with torch.no_grad():
        for parameter in tiny.parameters():
            parameter.normal_(0.0, 0.5)
    return tiny.eval()


@pytest.fixture
def checkpoint(tmp_path: Path, network: GPEN) -> Path:
    path = tmp_path / "tiny.pth"
    torch.save(network.state_dict(), path)
    return path


def assert_same_outputs(loaded: GPEN, network: GPEN) -> None:
    image = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        expected = network(image)
    assert torch.equal(loaded(image), expected)


def test_load_plain_checkpoint(checkpoint: Path, network: GPEN) -> None:
    loaded = load_restorer(checkpoint)
    assert isinstance(loaded, GPEN)
    assert loaded.config == network.config
    assert not loaded.training
    assert not any(parameter.requires_grad for parameter in loaded.parameters())
    assert all(tensor.device.type == "cpu" for tensor in loaded.state_dict().values())
    assert_same_outputs(loaded, network)


def _prefixed(state_dict: dict) -> dict:
    return {f"module.{key}": tensor for key, tensor in state_dict.items()}


def _zeros(state_dict: dict) -> dict:
    return {key: torch.zeros_like(tensor) for key, tensor in state_dict.items()}


WRAPPERS: dict[str, Callable[[dict], object]] = {
    "params_ema": lambda sd: {"params_ema": sd},
    "g_ema": lambda sd: {"g": _zeros(sd), "g_ema": sd, "d": {"x": torch.zeros(1)}, "iteration": 5},
    "state_dict": lambda sd: {"state_dict": sd, "epoch": 3},
    "model": lambda sd: {"model": sd},
    "params_ema over params": lambda sd: {"params": _zeros(sd), "params_ema": sd},
    "module prefix": _prefixed,
    "wrapped module prefix": lambda sd: {"state_dict": _prefixed(sd)},
}


@pytest.mark.parametrize("wrap", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_wrapped_checkpoints(wrap: Callable[[dict], object], tmp_path: Path, network: GPEN) -> None:
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(network.state_dict()), path)
    state_dict = read_state_dict(path)
    assert list(state_dict) == list(network.state_dict())
    assert_same_outputs(load_restorer(path), network)


@pytest.mark.parametrize("file_name", ["my weights (v2).ckpt", "GPEN-BFR-512", "renamed.pt"])
def test_renamed_checkpoint(file_name: str, checkpoint: Path, network: GPEN) -> None:
    path = checkpoint.rename(checkpoint.with_name(file_name))
    assert_same_outputs(load_restorer(path), network)
    assert_same_outputs(load_restorer(str(path)), network)


def test_half_precision_checkpoint_loads_as_float32(tmp_path: Path, network: GPEN) -> None:
    path = tmp_path / "half.pth"
    torch.save(network.half().state_dict(), path)
    loaded = load_restorer(path)
    assert all(tensor.dtype == torch.float32 for tensor in loaded.state_dict().values())


BROKEN_FILES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda good: b"",
    "truncated": lambda good: good[: len(good) // 2],
    "text": lambda good: b"<html>404 Not Found</html>\n",
    "random bytes": lambda good: os.urandom(1000),
}


@pytest.mark.parametrize("content", BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_broken_files(content: Callable[[bytes], bytes], checkpoint: Path) -> None:
    broken = checkpoint.with_name("broken.pth")
    broken.write_bytes(content(checkpoint.read_bytes()))
    for load in (read_state_dict, load_restorer):
        with pytest.raises(ModelFileError) as caught:
            load(broken)
        message = str(caught.value)
        assert str(broken) in message and "download it again" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        read_state_dict(tmp_path / "nothing.pth")
    with pytest.raises(ModelFileError, match="nothing.pth"):
        load_restorer(tmp_path / "nothing.pth")


class Exploit:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


@pytest.mark.parametrize("wrap", [lambda payload: payload, lambda payload: {"params_ema": {"weight": payload}}])
def test_malicious_pickle_is_refused(wrap: Callable[[object], object], tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "GPEN-BFR-512.pth"
    torch.save(wrap(Exploit(f"touch {shlex.quote(str(marker))}")), path)
    # The file really does call os.system when unpickled the unsafe way.
    assert any(name.endswith(".system") for name in torch.serialization.get_unsafe_globals_in_checkpoint(path))
    with pytest.raises(ModelFileError) as caught:
        read_state_dict(path)
    assert str(path) in str(caught.value) and "refused" in str(caught.value)
    with pytest.raises(ModelFileError):
        load_restorer(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [[torch.zeros(2)], {}, {"weight": 3}, {1: torch.zeros(2)},
                                     {"params_ema": {"weight": "text"}}], ids=repr)
def test_not_a_state_dict(content: object, tmp_path: Path) -> None:
    path = tmp_path / "odd.pth"
    torch.save(content, path)
    with pytest.raises(ModelFileError, match="state dict of tensors"):
        read_state_dict(path)


def test_wrong_layout(tmp_path: Path, network: GPEN) -> None:
    other = tmp_path / "linear.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    with pytest.raises(ModelFileError, match="not a GPEN checkpoint"):
        load_restorer(other)
    state_dict = network.state_dict()
    del state_dict["generator.convs.1.noise.weight"]
    incomplete = tmp_path / "incomplete.pth"
    torch.save(state_dict, incomplete)
    with pytest.raises(ModelFileError, match="not a GPEN checkpoint or has the wrong layout") as caught:
        load_restorer(incomplete)
    assert str(incomplete) in str(caught.value) and "generator.convs.1.noise.weight" in str(caught.value)


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError) as caught:
        resolve_model_file(tmp_path / "sub" / "model.pth")
    assert str(tmp_path / "sub" / "model.pth") in str(caught.value)
    with pytest.raises(ModelFileError, match="elsewhere.pth"):
        resolve_model_file("elsewhere.pth")


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="GPEN-BFR-512"):
        resolve_model_file("GPEN-Nope", folder=tmp_path, download=False)


def test_not_a_restorer(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="parser"):
        load_restorer("parsenet", folder=tmp_path, download=False)


def test_missing_registry_file_without_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GPEN_NO_DOWNLOAD", raising=False)
    with pytest.raises(ModelFileError) as caught:
        resolve_model_file("GPEN-BFR-512", folder=tmp_path, download=False)
    message = str(caught.value)
    assert message.startswith(f"model file GPEN-BFR-512.pth is not in {tmp_path}. Download it from one of these")
    assert "turned off" not in message          # the caller did not ask to download; downloading is not off
    urls = registry.get_spec("GPEN-BFR-512").urls
    assert len(urls) >= 2 and message.splitlines()[1:] == [f"  - {url}" for url in urls]   # a line each
    assert list(tmp_path.iterdir()) == []


def test_no_download_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GPEN_NO_DOWNLOAD", "1")
    with pytest.raises(ModelFileError, match=r"GPEN-BFR-256.pth is not in .*, and downloading is turned off "
                                              r"\(GPEN_NO_DOWNLOAD is set\)"):
        resolve_model_file("GPEN-BFR-256", folder=tmp_path, download=True)


def test_registry_name_uses_models_dir(monkeypatch: pytest.MonkeyPatch, checkpoint: Path) -> None:
    monkeypatch.setenv("GPEN_MODELS_DIR", str(checkpoint.parent))
    present = checkpoint.rename(checkpoint.with_name("GPEN-BFR-256.pth"))
    assert resolve_model_file("gpen-bfr-256", download=False) == present


@pytest.fixture
def file_server(checkpoint: Path) -> Iterator[str]:
    """Serves the tiny checkpoint at ``/tiny.pth``; everything else is 404. Yields the base URL."""
    body = checkpoint.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/tiny.pth":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve_on_loopback(Handler) as url:
        yield url


def test_download_then_load(monkeypatch: pytest.MonkeyPatch, file_server: str, network: GPEN,
                            tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("GPEN_NO_DOWNLOAD", raising=False)
    spec = registry.get_spec("GPEN-BFR-512")
    mirrored = dataclasses.replace(spec, urls=(f"{file_server}/gone.pth", f"{file_server}/tiny.pth"))
    monkeypatch.setitem(registry._SPECS, "gpen-bfr-512", mirrored)
    folder = tmp_path / "models"
    progress: list[int] = []

    path = resolve_model_file("GPEN-BFR-512", folder=folder, progress=lambda done, total: progress.append(done))
    assert path == folder / "GPEN-BFR-512.pth" and path.is_file()
    assert progress and progress[-1] == path.stat().st_size
    assert list(folder.iterdir()) == [path]

    # The registered 512-px config does not fit this file: the layout is inferred from its tensors.
    with caplog.at_level(logging.WARNING, logger="gpen.weights"):
        loaded = load_restorer("gpen-bfr-512", folder=folder, download=False)
    assert "layout" in caplog.text
    assert loaded.config == network.config
    assert_same_outputs(loaded, network)


def test_registered_config_used_when_it_fits(monkeypatch: pytest.MonkeyPatch, checkpoint: Path,
                                             network: GPEN, caplog: pytest.LogCaptureFixture) -> None:
    spec = dataclasses.replace(registry.get_spec("GPEN-BFR-256"), config=TINY_CONFIG)
    monkeypatch.setitem(registry._SPECS, "gpen-bfr-256", spec)
    checkpoint.rename(checkpoint.with_name("GPEN-BFR-256.pth"))
    with caplog.at_level(logging.WARNING, logger="gpen.weights"):
        loaded = load_restorer("GPEN-BFR-256", folder=checkpoint.parent, download=False)
    assert caplog.text == ""
    assert_same_outputs(loaded, network)

# ---- damaged model files: never loaded, and the CLI says which file and why ----------------------


def damaged(kind: str, data: bytes) -> bytes:
    """An empty file, half a checkpoint, or the error page a proxy saved under the model's name."""
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n" * 40
    return {"empty": b"", "truncated": data[: len(data) // 2], "error page": page}[kind]


MODEL_KINDS = {"restorer": registry.DEFAULT_RESTORER, "detector": registry.DEFAULT_DETECTOR, "parser": registry.PARSER}


@pytest.mark.parametrize("damage", ["empty", "truncated", "error page"])
@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_cli_names_a_damaged_model_file(models_folder, tmp_path, capsys, kind, damage):
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    broken = folder / registry.get_spec(MODEL_KINDS[kind]).file_name
    broken.write_bytes(damaged(damage, broken.read_bytes()))
    code = cli.main([str(PHOTOS / "lowres_portrait2.jpg"), "-o", str(tmp_path / "out"), "--models-dir", str(folder),
                     "--no-download", "-q"])
    error = capsys.readouterr().err
    assert code == 1
    assert f"error: model file {broken} " in error and f"Delete {broken} and download it again" in error
    assert not (tmp_path / "out").exists()


def test_cli_process_with_a_truncated_model_exits_1_naming_the_file(models_folder, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    restorer = folder / "GPEN-BFR-512.pth"
    restorer.write_bytes(first_half(restorer.read_bytes()))
    run = run_cli(folder, str(PHOTOS / "lowres_portrait2.jpg"), "-o", str(tmp_path / "out"), "-q")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"error: model file {restorer} is not a readable PyTorch checkpoint; it may be truncated" in run.stderr
    assert f"Delete {restorer} and download it again" in run.stderr


def test_partial_download_left_by_a_killed_run_is_never_loaded(models_folder, tmp_path):
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    restorer = folder / "GPEN-BFR-512.pth"
    restorer.rename(folder / ".GPEN-BFR-512.pth.tmp-0badc0de")   # a download killed before its rename
    with pytest.raises(ModelFileError, match="GPEN-BFR-512.pth is not in .*. Download it from"):
        Engine(EngineConfig(models_folder=folder, download=False, device="cpu"))
