"""The GPEN network: a U-Net-like encoder feeding a StyleGAN2 generator.

Written for this project in plain PyTorch so that it runs on CPU and CUDA alike, and laid out so that
the official checkpoints load unchanged: every parameter and persistent buffer has the official name
and shape (see ``reference/gpen_state_dict_manifest.json``).

Where we compute differently from the official code (same numbers, within float rounding):
- For a batch of several faces on a GPU, modulated convolutions scale the *activations* by the
  style and run one shared convolution for the whole batch, then demodulate the output, instead of
  building one weight per sample and running a grouped convolution. This is what makes batching pay.
- For one face, and face by face on the CPU (where batching buys nothing), the style and the
  demodulation are folded into the small weights instead, saving two passes over every activation.
- Blurs and upsampling (``upfirdn2d``) are depthwise convolutions instead of pad/reshape chains, and
  bias + leaky ReLU + gain run in place.

Tensors are NCHW float in [-1, 1], RGB.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SLOPE = 0.2
ACTIVATION_GAIN = math.sqrt(2.0)


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything needed to build the network; ``channels`` maps resolution to feature channels."""

    size: int
    channels: dict[int, int]
    style_dim: int = 512
    n_mlp: int = 8
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    lr_mlp: float = 0.01
    isconcat: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def official_channels(size: int, channel_multiplier: float, narrow: float) -> dict[int, int]:
    """Channel table of the official ``FullGenerator`` (``int`` truncates, as there)."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
            128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
            512: 32 * channel_multiplier, 1024: 16 * channel_multiplier,
            2048: 8 * channel_multiplier}
    return {resolution: int(value * narrow) for resolution, value in base.items() if resolution <= size}


def config_from_dict(config: Mapping[str, Any]) -> GeneratorConfig:
    """Read a config as written in the official manifest (unknown keys such as ``cls`` are ignored)."""
    size = int(config["size"])
    if size < 8 or size & (size - 1):
        raise ValueError(f"GPEN size must be a power of two >= 8, got {size}")
    channels = official_channels(size, config.get("channel_multiplier", 2), config.get("narrow", 1.0))
    return GeneratorConfig(
        size=size,
        channels=channels,
        style_dim=int(config.get("style_dim", 512)),
        n_mlp=int(config.get("n_mlp", 8)),
        blur_kernel=tuple(config.get("blur_kernel", (1, 3, 3, 1))),
        lr_mlp=float(config.get("lr_mlp", 0.01)),
        isconcat=bool(config.get("isconcat", True)),
    )


def build_generator(config: Mapping[str, Any] | GeneratorConfig) -> "GPEN":
    """Build the network from a manifest-style config dict (or a ``GeneratorConfig``)."""
    if not isinstance(config, GeneratorConfig):
        config = config_from_dict(config)
    return GPEN(config)


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> GeneratorConfig:
    """Infer the configuration of any GPEN checkpoint from its tensors alone.

    ``lr_mlp`` is a run-time scale that leaves no trace in the tensors; every known checkpoint
    uses the official 0.01.
    """
    try:
        encoder_layers = sorted({int(key.split(".")[0][3:]) for key in state_dict if key.startswith("ecd")})
        size = 2 ** (len(encoder_layers) + 1)
        channels = {size: state_dict["ecd0.0.0.weight"].shape[0]}
        for index in encoder_layers[1:]:
            channels[size >> index] = state_dict[f"ecd{index}.0.1.weight"].shape[0]
        n_mlp = len([key for key in state_dict if key.startswith("generator.style.") and key.endswith(".weight")])
        style_dim = state_dict["generator.style.1.weight"].shape[0]
        conv1_out = state_dict["generator.conv1.conv.weight"].shape[1]
        isconcat = state_dict["generator.conv1.activate.bias"].shape[0] == 2 * conv1_out
        kernel_size = state_dict["ecd1.0.0.kernel"].shape[0] if "ecd1.0.0.kernel" in state_dict else 4
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"not a GPEN generator state dict (missing or odd entry: {error})") from error
    blur_kernel = (1, 3, 3, 1) if kernel_size == 4 else tuple([1] * kernel_size)
    return GeneratorConfig(size=size, channels=channels, style_dim=style_dim, n_mlp=n_mlp,
                           blur_kernel=blur_kernel, isconcat=isconcat)


def make_kernel(kernel: tuple[int, ...] | list[int]) -> torch.Tensor:
    """Separable 2-D FIR kernel normalised to sum 1 (the buffers loaded from a checkpoint win)."""
    k = torch.tensor(kernel, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, and convolve (true convolution: the kernel is flipped)."""
    batch, channels, height, width = x.shape
    if up > 1:
        stuffed = x.new_zeros(batch, channels, height * up, width * up)
        stuffed[:, :, ::up, ::up] = x
        x = stuffed
    # contiguous: oneDNN's fast depthwise path needs it (an expanded view is several times slower)
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).expand(channels, 1, *kernel.shape).contiguous()
    if pad[0] == pad[1]:
        return F.conv2d(x, weight, padding=pad[0], groups=channels)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return F.conv2d(x, weight, groups=channels)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Bias, leaky ReLU(0.2) and the sqrt(2) gain of StyleGAN2's fused activation."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.to(x.dtype).view(shape), NEGATIVE_SLOPE) * ACTIVATION_GAIN


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU + gain, computed in place: every caller passes a tensor it just made."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.add_(self.bias.to(x.dtype).view(1, -1, 1, 1))
        return F.leaky_relu_(x, NEGATIVE_SLOPE).mul_(ACTIVATION_GAIN)


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class Blur(nn.Module):
    def __init__(self, kernel: tuple[int, ...], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel: tuple[int, ...], factor: int = 2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualConv2d(nn.Module):
    """Convolution with the equalised learning rate applied at run time (stored weights are unscaled)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class ConvLayer(nn.Sequential):
    """Encoder layer: [blur +] equalised convolution (stride 2 when downsampling) + fused activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: tuple[int, ...] = (1, 3, 3, 1)):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False))
        layers.append(FusedLeakyReLU(out_channels))
        super().__init__(*layers)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution, computed as modulate-activations → shared conv → demodulate."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, blur_kernel: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        self.upsample = upsample
        self.demodulate = demodulate
        self.padding = kernel_size // 2
        if upsample:  # registered first: the official state dict lists the blur kernel before the weight
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        modulation = self.modulation(style)                      # (batch, in)
        if x.shape[0] == 1:
            return self._forward_single(x, modulation)
        weight = self.weight[0] * self.scale                      # (out, in, k, k)
        x = x * modulation.to(x.dtype)[:, :, None, None]
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2)
        else:
            out = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        if self.demodulate:
            energy = weight.float().square().sum([2, 3])          # (out, in)
            demod = torch.rsqrt(modulation.float().square() @ energy.t() + 1e-8)
            out = out * demod.to(out.dtype)[:, :, None, None]
        if self.upsample:
            out = self.blur(out)
        return out

    def _forward_single(self, x: torch.Tensor, modulation: torch.Tensor) -> torch.Tensor:
        """One sample: modulate and demodulate the weights (small) instead of the activations (large),
        in three passes over them (scale and modulate; the norms; demodulate into the input's precision)."""
        weight = self.weight[0] * (modulation.float().view(1, -1, 1, 1) * self.scale)
        if self.demodulate:
            norms = torch.linalg.vector_norm(weight, dim=(1, 2, 3))
            demod = torch.rsqrt(norms.square() + 1e-8).view(-1, 1, 1, 1)
        else:
            demod = torch.ones(1, 1, 1, 1, device=weight.device)
        if self.upsample:   # conv_transpose2d takes (in, out, k, k); laid out so, it runs faster
            return self.blur(F.conv_transpose2d(x, _scaled(weight.transpose(0, 1), demod.transpose(0, 1), x.dtype),
                                                stride=2))
        return F.conv2d(x, _scaled(weight, demod, x.dtype), padding=self.padding)


def _scaled(weight: torch.Tensor, factor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``weight * factor`` written once, contiguous, in ``dtype``."""
    out = torch.empty(weight.shape, dtype=dtype, device=weight.device)
    return torch.mul(weight, factor, out=out)


class NoiseInjection(nn.Module):
    """GPEN's 'noise' is the encoder feature of the same resolution, scaled and concatenated."""

    def __init__(self, isconcat: bool = True):
        super().__init__()
        self.isconcat = isconcat
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        scaled = self.weight.to(x.dtype) * feature
        return torch.cat((x, scaled), dim=1) if self.isconcat else x + scaled


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: tuple[int, ...] = (1, 3, 3, 1), isconcat: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection(isconcat)
        self.activate = FusedLeakyReLU(out_channels * (2 if isconcat else 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), feature))


class ToRGB(nn.Module):
    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True,
                 blur_kernel: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias.to(x.dtype)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class StyleGenerator(nn.Module):
    """The StyleGAN2 decoder with one style vector for every layer and encoder features as noise."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        channels, style_dim, kernel = config.channels, config.style_dim, config.blur_kernel
        widen = 2 if config.isconcat else 1
        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=config.lr_mlp, activation=True) for _ in range(config.n_mlp)])
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], 3, style_dim, blur_kernel=kernel, isconcat=config.isconcat)
        self.to_rgb1 = ToRGB(channels[4] * widen, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_channels = channels[4]
        for log_resolution in range(3, int(math.log2(config.size)) + 1):
            out_channels = channels[2 ** log_resolution]
            self.convs.append(StyledConv(in_channels * widen, out_channels, 3, style_dim, upsample=True,
                                         blur_kernel=kernel, isconcat=config.isconcat))
            self.convs.append(StyledConv(out_channels * widen, out_channels, 3, style_dim,
                                         blur_kernel=kernel, isconcat=config.isconcat))
            self.to_rgbs.append(ToRGB(out_channels * widen, style_dim, blur_kernel=kernel))
            in_channels = out_channels

    def forward(self, style: torch.Tensor, features: list[torch.Tensor]) -> torch.Tensor:
        """``features`` are the encoder outputs from 4×4 up to full size."""
        latent = self.style(style)
        out = self.conv1(self.input(style.shape[0]).to(features[0].dtype), latent, features[0])
        skip = self.to_rgb1(out, latent)
        for index, to_rgb in enumerate(self.to_rgbs):
            feature = features[index + 1]
            out = self.convs[2 * index](out, latent, feature)
            out = self.convs[2 * index + 1](out, latent, feature)
            skip = to_rgb(out, latent, skip)
        return skip


class GPEN(nn.Module):
    """GPEN's ``FullGenerator``: encoder → style vector → generator. NCHW RGB in [-1, 1] in and out."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.size = config.size
        channels = config.channels
        self.generator = StyleGenerator(config)
        self.encoder_names = [f"ecd{index}" for index in range(int(math.log2(config.size)) - 1)]
        self.ecd0 = nn.Sequential(ConvLayer(3, channels[config.size], 1))
        in_channels = channels[config.size]
        for index, name in enumerate(self.encoder_names[1:], start=1):
            out_channels = channels[config.size >> index]
            setattr(self, name, nn.Sequential(
                ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=config.blur_kernel)))
            in_channels = out_channels
        self.final_linear = nn.Sequential(EqualLinear(channels[4] * 16, config.style_dim, activation=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last all the way through: oneDNN's convolutions, and above all its depthwise
        # blurs, are many times faster on it than on NCHW. The result is returned in NCHW.
        x = x.contiguous(memory_format=torch.channels_last)
        if x.shape[0] > 1 and x.device.type == "cpu":
            return torch.cat([self._forward(x[index:index + 1]) for index in range(x.shape[0])]).contiguous()
        return self._forward(x).contiguous()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        for name in self.encoder_names:
            x = getattr(self, name)(x)
            features.append(x)
        style = self.final_linear(x.flatten(1).float())
        return self.generator(style, features[::-1])
