"""Small random checkpoints for tests, saved to disk and loaded back through the real loading code.

Run as a script to fill a folder: ``python tests/tiny_models.py FOLDER``.
"""
from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gpen import faces, registry  # noqa: E402
from gpen.arch import build_generator  # noqa: E402

TINY_GPEN_CONFIG = {"size": 64, "channel_multiplier": 1, "narrow": 0.03125, "style_dim": 16, "n_mlp": 2}
TINY_PARSENET = dict(in_size=512, out_size=512, min_feat_size=128, base_ch=4, parsing_ch=19, res_depth=1,
                     ch_range=[4, 8])


def tiny_gpen_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A small GPEN (64 px) whose output depends on its input (noise weights non-zero)."""
    torch.manual_seed(seed)
    network = build_generator(TINY_GPEN_CONFIG)
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if name.endswith("noise.weight"):
                parameter.fill_(0.5)
    return network.state_dict()


def tiny_detector_state_dict(seed: int = 0, finds: str = "grid") -> dict[str, torch.Tensor]:
    """facexlib's RetinaFace with the MobileNet-0.25 backbone and random weights, whose heads are set
    so that its output is predictable through the real detection code:

    - ``finds="grid"``: every large (512 px) anchor of the coarsest level is a face whose box is the
      anchor and whose landmarks sit on GPEN's template within it, so NMS leaves a grid of faces;
    - ``finds="none"``: no anchor scores above the threshold, so no photo has a face.
    """
    from facexlib.detection.retinaface import RetinaFace

    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RetinaFace(network_name="mobile0.25", half=False, phase="test", device="cpu")
    box_scale = 2.0        # boxes twice the anchor: fewer, larger faces survive NMS
    template_offsets = (torch.tensor(faces.GPEN_TEMPLATE_512, dtype=torch.float32) - 256) / 512 / 0.1 * box_scale
    size_offset = math.log(box_scale) / 0.2
    with torch.no_grad():
        for level in range(3):
            for head in (model.ClassHead[level], model.BboxHead[level], model.LandmarkHead[level]):
                head.conv1x1.weight.zero_()
                head.conv1x1.bias.zero_()
            class_bias = model.ClassHead[level].conv1x1.bias.view(2, 2)       # anchor, (background, face)
            class_bias[:, 0] = 10.0
            if finds == "grid" and level == 2:
                class_bias[1] = torch.tensor([-10.0, 10.0])                  # the 512-px anchor is a face
            model.LandmarkHead[level].conv1x1.bias.copy_(template_offsets.flatten().repeat(2))
            model.BboxHead[level].conv1x1.bias.copy_(torch.tensor([0.0, 0.0, size_offset, size_offset]).repeat(2))
    return model.state_dict()


def tiny_parser_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """facexlib's ParseNet, narrow and shallow, random weights."""
    from facexlib.parsing.parsenet import ParseNet

    torch.manual_seed(seed)
    return ParseNet(**TINY_PARSENET).state_dict()


def make_tiny_models(folder: Path, restorer_name: str = registry.DEFAULT_RESTORER,
                     detector_finds: str = "grid", detector_name: str = registry.DEFAULT_DETECTOR) -> dict[str, Path]:
    """Write a tiny restorer and detector (under registry names) and parser into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "restorer": folder / registry.get_spec(restorer_name).file_name,
        "detector": folder / registry.get_spec(detector_name).file_name,
        "parser": folder / registry.get_spec(registry.PARSER).file_name,
    }
    torch.save(tiny_gpen_state_dict(), paths["restorer"])
    torch.save(tiny_detector_state_dict(finds=detector_finds), paths["detector"])
    torch.save(tiny_parser_state_dict(), paths["parser"])
    return paths


if __name__ == "__main__":
    for kind, path in make_tiny_models(Path(sys.argv[1])).items():
        print(kind, path)
