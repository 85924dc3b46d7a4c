"""The parser: checkpoint layouts inferred, inference-time folding keeps the numbers."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from facexlib.parsing.parsenet import ParseNet
from torch import nn

import tiny_models
from gpen.parsing import FaceParser, build_parsenet, prepare_for_inference
from photos import read_photo


def randomise_batch_norms(model: nn.Module) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    for norm in model.modules():
        if isinstance(norm, nn.BatchNorm2d):
            norm.running_mean.copy_(torch.rand(norm.running_mean.shape, generator=generator) - 0.5)
            norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)
            norm.weight.data.copy_(torch.rand(norm.weight.shape, generator=generator) + 0.5)
            norm.bias.data.copy_(torch.rand(norm.bias.shape, generator=generator) - 0.5)
    return model


def a_face() -> torch.Tensor:
    return torch.from_numpy(read_photo("aligned_face_512.png")).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.mark.parametrize("layout", [tiny_models.TINY_PARSENET, dict(in_size=512, out_size=512, parsing_ch=19)])
def test_layout_is_inferred_from_the_checkpoint_and_gives_the_original_numbers(layout):
    """The official layout at full size and the tests' tiny one: BatchNorms folded, upsampling blocks
    run as sub-pixel convolutions (``gpen.subpixel``), the masks' logits the same as facexlib's."""
    torch.manual_seed(0)
    original = randomise_batch_norms(ParseNet(**layout)).eval()
    rebuilt = build_parsenet(original.state_dict())
    assert [type(block).__name__ for block in rebuilt.decoder] == ["SubpixelUpBlock"] * len(original.decoder)
    with torch.inference_mode():
        expected, output = original(a_face())[0], rebuilt(a_face().contiguous(memory_format=torch.channels_last))[0]
    assert (expected - output).abs().max().item() < 1e-4 * expected.abs().max().item()
    assert (expected.argmax(1) == output.argmax(1)).float().mean().item() > 0.9999


def test_folding_keeps_the_numbers():
    torch.manual_seed(0)
    original = randomise_batch_norms(ParseNet(**tiny_models.TINY_PARSENET)).eval()
    prepared = prepare_for_inference(copy.deepcopy(original))
    assert not any(isinstance(module, nn.BatchNorm2d) for module in prepared.modules())
    with torch.inference_mode():
        expected, output = original(a_face())[0], prepared(a_face().contiguous(memory_format=torch.channels_last))[0]
    assert (expected - output).abs().max().item() < 1e-4


def test_masks_are_soft_face_shaped_and_sized_like_the_crops():
    parser = FaceParser(build_parsenet(tiny_models.tiny_parser_state_dict()), torch.device("cpu"))
    crops = [read_photo("aligned_face_512.png"), read_photo("gray_face.png")[::2, ::2].copy()]
    masks = parser.masks(crops)
    assert [mask.shape for mask in masks] == [(512, 512), (256, 256)]
    for mask in masks:
        assert mask.dtype == np.float32 and 0 <= mask.min() and mask.max() <= 1
        assert mask[:5].max() < 1e-2   # the border is cleared (only the blur's faint tail reaches it)
