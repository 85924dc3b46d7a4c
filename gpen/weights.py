"""Model files: finding them by name or path, fetching missing ones, and reading them safely.

Checkpoints are read with ``torch.load(..., weights_only=True)`` only: a file that needs anything
beyond tensors and plain containers is refused, never loaded the unsafe way.
"""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

from . import arch, registry
from gpen.download import ProgressCallback, download_file
from gpen.errors import ModelFileError
from gpen.messages import Message

logger = logging.getLogger(__name__)

# Training scripts wrap the generator's weights in a dict; the EMA weights are the ones to use.
WRAPPER_KEYS = ("params_ema", "g_ema", "state_dict", "params", "model")
PATH_SUFFIXES = (".pth", ".pt")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint's tensors, unwrapping training wrappers and ``module.`` prefixes."""
    path = Path(path)
    try:
        if not _is_file(path):
            raise ModelFileError(Message("model_not_a_file", path=path))
        if path.stat().st_size == 0:
            raise ModelFileError(Message("model_empty", path=path))
        with open(path, "rb") as handle:
            head = handle.read(4)
    except PermissionError:
        raise ModelFileError(Message("model_permission", path=path)) from None
    except OSError as error:
        raise ModelFileError(Message("model_unreadable", path=path, reason=error.strerror or str(error))) from None
    if not head.startswith((b"PK\x03\x04", b"\x80")):   # a zip archive or a legacy pickle
        raise ModelFileError(Message("model_not_checkpoint", path=path, head=repr(head)))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if str(error).startswith("Weights only load failed"):
            detail = " ".join(line.strip() for line in str(error).splitlines() if "global" in line.lower())
            raise ModelFileError(Message("model_unsafe", path=path, detail=detail or "unsupported content")) from None
        raise ModelFileError(Message("model_corrupt", path=path, detail=str(error))) from None
    except Exception as error:  # torch raises many types here: RuntimeError, EOFError, KeyError, OSError...
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ModelFileError(Message("model_corrupt", path=path, detail=f"{type(error).__name__}: {reason}")) from None
    state_dict = _unwrap(loaded)
    if state_dict is None:
        raise ModelFileError(Message("model_no_state_dict", path=path, found=_describe(loaded)))
    return {key.removeprefix("module."): tensor for key, tensor in state_dict.items()}


def _is_tensor_dict(value: Any) -> bool:
    return (isinstance(value, Mapping) and len(value) > 0
            and all(isinstance(key, str) and isinstance(tensor, torch.Tensor) for key, tensor in value.items()))


def _unwrap(loaded: Any, depth: int = 0) -> Mapping[str, torch.Tensor] | None:
    if _is_tensor_dict(loaded):
        return loaded
    if not isinstance(loaded, Mapping) or depth >= 2:
        return None
    for key in WRAPPER_KEYS:
        if isinstance(loaded.get(key), Mapping):
            inner = _unwrap(loaded[key], depth + 1)
            if inner is not None:
                return inner
    return None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(repr(key) for key in list(value)[:6])
        return f"a dict with keys {keys}{', ...' if len(value) > 6 else ''}" if value else "an empty dict"
    return type(value).__name__


def downloads_disabled() -> bool:
    """``GPEN_NO_DOWNLOAD`` is set: missing model files are never downloaded."""
    return os.environ.get("GPEN_NO_DOWNLOAD", "").strip().lower() not in ("", "0", "false", "no")


def _is_path(model: str | Path) -> bool:
    if isinstance(model, Path):
        return True
    separators = [os.sep] + ([os.altsep] if os.altsep else [])
    return (any(separator in model for separator in separators) or model.lower().endswith(PATH_SUFFIXES)
            or Path(model).is_file())


def resolve_model_file(model: str | Path, *, folder: Path | None = None, download: bool = True,
                       progress: ProgressCallback | None = None, timeout_s: float = 30.0) -> Path:
    """The file for a model given by path or registry name, downloading a missing registry file.

    ``GPEN_NO_DOWNLOAD=1`` in the environment turns downloading off, as ``download=False`` does; either
    way a missing file raises ``ModelFileError`` naming the file, the folder and its addresses.
    """
    if _is_path(model):
        path = Path(model).expanduser()
        if not _is_file(path):
            raise ModelFileError(Message("model_path_missing", path=path, names=", ".join(registry.RESTORER_NAMES)))
        return path
    spec = registry.get_spec(str(model))
    folder = Path(folder) if folder is not None else registry.models_dir()
    path = folder / spec.file_name
    if _is_file(path):
        return path
    if download and not downloads_disabled():
        return download_file(spec.urls, path, sha256=spec.sha256, timeout_s=timeout_s, progress=progress)
    raise ModelFileError(missing_file_message(spec, folder))


def missing_file_message(spec: registry.ModelSpec, folder: Path) -> Message:
    """Why ``spec``'s file cannot be used (it is not in ``folder``) and how to get it, one address a line.

    Says that downloading is turned off only where ``GPEN_NO_DOWNLOAD`` is set; a caller that merely
    did not ask to download (the web app building its engine) gets the plain advice."""
    addresses = "\n".join(f"  - {url}" for url in spec.urls)
    said = "model_missing_no_download" if downloads_disabled() else "model_missing"
    return Message(said, file=spec.file_name, folder=folder, addresses=addresses)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, except that a folder on the way that cannot be searched is an error that says
    so (``is_file`` raises a bare ``PermissionError`` there)."""
    try:
        return path.is_file()
    except PermissionError:
        folder = path.parent
        raise ModelFileError(Message("model_folder_permission", folder=folder, file=path.name)) from None
    except OSError as error:
        raise ModelFileError(Message("model_cannot_look", path=path, reason=error.strerror or str(error))) from None


def load_restorer(model: str | Path, **resolve_kwargs: Any) -> arch.GPEN:
    """Load a GPEN network (eval mode, no gradients) from a registry name or a checkpoint path.

    The layout is inferred from the tensors, so renamed, self-trained and other-size checkpoints
    load too; for a registry name the registered config is used when it fits the file.
    """
    spec = None if _is_path(model) else registry.get_spec(str(model))
    if spec is not None and spec.kind != "restorer":
        raise ModelFileError(f"{spec.name} is a {spec.kind} model, not a face restorer; choose one of: "
                             f"{', '.join(registry.RESTORER_NAMES)}.")
    path = resolve_model_file(model, **resolve_kwargs)
    state_dict = read_state_dict(path)
    try:
        config = arch.infer_config(state_dict)
    except ValueError as error:
        raise ModelFileError(Message("model_not_gpen", path=path, detail=str(error))) from None
    if spec is not None and spec.config is not None:
        registered = arch.config_from_dict(spec.config)
        if registered == config:
            config = registered
        else:
            logger.warning("%s does not have the layout registered for %s; using the layout of its tensors",
                           path, spec.name)
    # Build without allocating random weights, then take the file's tensors as they are (as float32).
    with torch.device("meta"):
        network = arch.build_generator(config)
    tensors = {key: tensor.float() if tensor.is_floating_point() else tensor for key, tensor in state_dict.items()}
    try:
        network.load_state_dict(tensors, strict=True, assign=True)
    except RuntimeError as error:
        raise ModelFileError(Message("model_wrong_layout", path=path, detail=_first_lines(str(error)))) from None
    return network.eval().requires_grad_(False)


def _first_lines(text: str, count: int = 4) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:count]) + (" ..." if len(lines) > count else "")
