"""The official pipeline's reference data kept in ``reference/`` (see ``reference/README.md``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
MANIFEST_PATH = REFERENCE / "gpen_state_dict_manifest.json"
PARITY_PATH = REFERENCE / "gpen_parity_small.npz"


def load_parity_fixture() -> dict[str, Any]:
    """The small GPEN parity fixture: ``config``, ``state_dict``, ``input``, ``output`` and ``notes``."""
    with np.load(PARITY_PATH, allow_pickle=False) as archive:
        state_dict = {key.removeprefix("state_dict/"): torch.from_numpy(archive[key].copy())
                      for key in archive.files if key.startswith("state_dict/")}
        return {"config": json.loads(str(archive["config_json"])), "state_dict": state_dict,
                "input": torch.from_numpy(archive["input"].copy()),
                "output": torch.from_numpy(archive["output"].copy()), "notes": str(archive["notes"])}


def load_manifest() -> dict[str, Any]:
    """The state-dict manifest of each official model, keyed by model name."""
    return json.loads(MANIFEST_PATH.read_text())["models"]
