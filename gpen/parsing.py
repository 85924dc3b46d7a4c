"""Face parsing with facexlib's ParseNet, turned into GPEN's soft paste masks.

The ParseNet layout (widths, depth) is inferred from the checkpoint, so the official
``parsing_parsenet.pth`` and the small ones the tests make load through the same code. After
loading, BatchNorm is folded into the convolutions and the upsampling blocks run at the low resolution
(``prepare_for_inference``, ``gpen.subpixel``): same numbers, less arithmetic and memory traffic.
"""
from __future__ import annotations

import re
from typing import Sequence

import cv2
import numpy as np
import torch
from torch import nn

from .devices import NetworkOnDevice
from .errors import ModelFileError
from .faces import MASK_SIZE_PX, mask_from_parsing
from .subpixel import SubpixelUpBlock


def build_parsenet(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """facexlib's ParseNet (512 in, 512 out) shaped after its state dict."""
    from facexlib.parsing.parsenet import ParseNet

    def blocks(prefix: str) -> list[int]:
        return sorted({int(match.group(1)) for key in state_dict if (match := re.match(rf"{prefix}\.(\d+)\.", key))})

    try:
        encoder, body = blocks("encoder"), blocks("body")
        base_channels = state_dict["encoder.0.conv2d.weight"].shape[0]
        widths = [tensor.shape[0] for key, tensor in state_dict.items()
                  if key.endswith("conv2d.weight") and key.startswith(("encoder.", "body.", "decoder.")) and key != "encoder.0.conv2d.weight"]
        parsing_channels = state_dict["out_mask_conv.conv2d.weight"].shape[0]
    except KeyError as error:
        raise ModelFileError(f"not a ParseNet checkpoint (missing {error})") from error
    down_steps = len(encoder) - 1
    model = ParseNet(in_size=MASK_SIZE_PX, out_size=MASK_SIZE_PX, min_feat_size=MASK_SIZE_PX >> down_steps,
                     base_ch=base_channels, parsing_ch=parsing_channels, res_depth=len(body),
                     ch_range=[min(widths), max(widths)])
    model.load_state_dict(state_dict, strict=True)
    return prepare_for_inference(model.eval().requires_grad_(False))


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm into the convolution before it, then compute each upsampling
    block as sub-pixel convolutions. Same numbers within float rounding."""
    for layer in model.modules():
        norm = getattr(getattr(layer, "norm", None), "norm", None)
        conv = getattr(layer, "conv2d", None)
        if isinstance(norm, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d):
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
            conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
            conv.bias = nn.Parameter((bias - norm.running_mean) * scale + norm.bias, requires_grad=False)
            layer.norm.norm = nn.Identity()
    decoder = getattr(model, "decoder", ())
    for index, block in enumerate(decoder):
        if _upsamples(block):
            decoder[index] = SubpixelUpBlock(block)
    return model


def _upsamples(block: nn.Module) -> bool:
    """Whether a ParseNet block is ``ResidualBlock(scale='up')`` as ``SubpixelUpBlock`` computes it: both
    layers on the doubled input are padded 3×3 convolutions of stride 1, with no normalisation left."""
    layers = (getattr(block, "shortcut_func", None), getattr(block, "conv1", None))
    if not all(isinstance(layer, nn.Module) and isinstance(getattr(layer, "conv2d", None), nn.Conv2d)
               for layer in layers):
        return False
    for layer in layers:
        if layer.conv2d.kernel_size != (3, 3) or layer.conv2d.stride != (1, 1) or not layer.use_pad:
            return False
        if not (isinstance(layer.norm.norm, nn.Identity) or layer.norm.norm_type == "none"):
            return False
    return layers[1].scale_func(torch.zeros(1, 1, 1, 1)).shape[-1] == 2


class FaceParser(NetworkOnDevice):
    """Soft paste masks for restored face crops. Safe to share between threads."""

    kind = "ParseNet"
    build = staticmethod(build_parsenet)

    @torch.inference_mode()
    def masks(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One float32 mask in [0, 1] per RGB uint8 crop, at the crop's own size."""
        if not crops:
            return []
        resized = [crop if crop.shape[0] == MASK_SIZE_PX else
                   cv2.resize(crop, (MASK_SIZE_PX, MASK_SIZE_PX), interpolation=cv2.INTER_LINEAR) for crop in crops]
        batch = torch.from_numpy(np.stack(resized)).to(self.device).permute(0, 3, 1, 2).float()   # channels-last
        batch = batch / 127.5 - 1.0
        with self.autocast():
            logits = self.model(batch)[0]
        classes = logits.argmax(1).to(torch.uint8).cpu().numpy()
        return [mask_from_parsing(parsed, crop.shape[0]) for parsed, crop in zip(classes, crops)]
