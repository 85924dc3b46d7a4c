"""The official GPEN code's way of computing, as a baseline for benchmarks (written for this project).

``official_style()`` temporarily makes our network compute the way the official implementation does:
one modulated weight per sample run as a grouped convolution, NCHW tensors, ``upfirdn2d`` as
pad/reshape/permute chains, and out-of-place activations. Same numbers, the official speed profile.
Benchmarks only: never used by the engine.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
import torch.nn.functional as F

from gpen import arch


def _upfirdn2d_native(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    batch, channels, height, width = x.shape
    out = x.permute(0, 2, 3, 1).reshape(-1, height, 1, width, 1, channels)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1])
    out = out.view(-1, height * up, width * up, channels)
    out = F.pad(out, [0, 0, pad[0], pad[1], pad[0], pad[1]])
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, height * up + sum(pad), width * up + sum(pad))
    weight = torch.flip(kernel, [0, 1]).view(1, 1, *kernel.shape).to(out.dtype)
    out = F.conv2d(out, weight)
    return out.reshape(batch, channels, out.shape[2], out.shape[3])


def _modulated_conv_grouped(self: arch.ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    batch, in_channels, height, width = x.shape
    out_channels, kernel_size = self.weight.shape[1], self.weight.shape[-1]
    modulation = self.modulation(style).view(batch, 1, in_channels, 1, 1)
    weight = self.scale * self.weight * modulation
    if self.demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, out_channels, 1, 1, 1)
    if self.upsample:
        weight = weight.transpose(1, 2).reshape(batch * in_channels, out_channels, kernel_size, kernel_size)
        out = F.conv_transpose2d(x.reshape(1, batch * in_channels, height, width), weight, stride=2, groups=batch)
        out = out.view(batch, out_channels, out.shape[2], out.shape[3])
        return self.blur(out)
    weight = weight.view(batch * out_channels, in_channels, kernel_size, kernel_size)
    out = F.conv2d(x.reshape(1, batch * in_channels, height, width), weight, padding=self.padding, groups=batch)
    return out.view(batch, out_channels, out.shape[2], out.shape[3])


def _leaky_out_of_place(self: arch.FusedLeakyReLU, x: torch.Tensor) -> torch.Tensor:
    return math.sqrt(2) * F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)


@contextlib.contextmanager
def official_style() -> Iterator[None]:
    """Within this block, every GPEN network computes the official way."""
    saved = (arch.upfirdn2d, arch.ModulatedConv2d.forward, arch.FusedLeakyReLU.forward, arch.GPEN.forward)
    arch.upfirdn2d = _upfirdn2d_native
    arch.ModulatedConv2d.forward = _modulated_conv_grouped
    arch.FusedLeakyReLU.forward = _leaky_out_of_place
    arch.GPEN.forward = arch.GPEN._forward
    try:
        yield
    finally:
        arch.upfirdn2d, arch.ModulatedConv2d.forward, arch.FusedLeakyReLU.forward, arch.GPEN.forward = saved
