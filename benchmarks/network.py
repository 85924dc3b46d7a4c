"""Benchmark 1: the GPEN network alone, faces per second by batch size, precision and device.

    .venv/bin/python benchmarks/network.py                       # GPEN-BFR-512, CPU, fp32 + bf16
    .venv/bin/python benchmarks/network.py --batch-sizes 1 4 --precisions fp32 bf16 --repeats 3

Random weights at the real size (speed does not depend on the values). Each row is compared with the
official way of computing (``official_style``) at batch 1 in float32, measured in the same run.
The error columns give each fast mode's difference from our float32 output on real face crops.

The baseline runs first, with glibc's allocator as the official code gets it; then the engine's allocator
settings (``gpen.allocator``, as every ``Engine`` applies them) are made and the baseline is timed again
under them, so that the table shows what the settings alone give the official way.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from gpen import registry  # noqa: E402
from gpen.allocator import keep_large_buffers  # noqa: E402
from gpen.arch import build_generator  # noqa: E402
from gpen.devices import DTYPES  # noqa: E402
from official_style import official_style  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def face_batch(size: int, batch: int) -> torch.Tensor:
    """Real aligned faces (the test set's two aligned crops), resized, in [-1, 1]."""
    from PIL import Image

    crops = [np.asarray(Image.open(PHOTOS / name).convert("RGB").resize((size, size), Image.BILINEAR))
             for name in ("aligned_face_512.png", "gray_face.png")]
    stacked = np.stack([crops[index % len(crops)] for index in range(batch)])
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).float() / 127.5 - 1


def seconds_per_call(function, repeats: int) -> float:
    """Best of ``repeats`` timed calls after a warm-up: on a shared machine the minimum is the
    figure least disturbed by other work (as ``timeit`` reports)."""
    function()   # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return min(times)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two network outputs mapped to 0..255 as the engine does."""
    to_pixels = lambda t: ((t.float() * 0.5 + 0.5).clamp(0, 1) * 255)  # noqa: E731
    error = torch.mean((to_pixels(a) - to_pixels(b)) ** 2).item()
    return float("inf") if error == 0 else 10 * np.log10(255 ** 2 / error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="GPEN-BFR-512")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd network")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    network = build_generator(registry.get_spec(args.model).config).eval().requires_grad_(False).to(device)
    size = network.size
    print(f"# {args.model} network, {device.type}"
          f" ({torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or platform.machine()},"
          f" {torch.get_num_threads()} threads), torch {torch.__version__}, {date.today()}")
    print(f"# command: {' '.join(sys.argv)}")

    reference_input = face_batch(size, 1).to(device)
    with torch.inference_mode(), official_style():
        baseline = seconds_per_call(lambda: network(reference_input), args.repeats)
        reference = network(reference_input)
    print(f"\nbaseline (official way, batch 1, fp32): {baseline:.3f} s/face (best of {args.repeats})")
    keep_large_buffers()
    with torch.inference_mode(), official_style():
        tuned = seconds_per_call(lambda: network(reference_input), args.repeats)
    print(f"the official way with the engine's allocator settings: {tuned:.3f} s/face ({baseline / tuned:.1f}x)\n")
    print("| precision | batch | s/face | faces/s | vs baseline | PSNR vs fp32 (dB) |")
    print("|---|---|---|---|---|---|")
    variants = [(precision, False) for precision in args.precisions]
    if args.compile:
        variants += [(precision, True) for precision in args.precisions]
    for precision, compiled in variants:
        dtype = DTYPES[precision]
        runner = torch.compile(network) if compiled else network
        for batch in args.batch_sizes:
            inputs = face_batch(size, batch).to(device)
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32"):
                seconds = seconds_per_call(lambda: runner(inputs), args.repeats) / batch
                output = runner(inputs[:1])
            quality = psnr(output, reference)
            label = f"{precision}{' compiled' if compiled else ''}"
            print(f"| {label} | {batch} | {seconds:.3f} | {1 / seconds:.1f} | {baseline / seconds:.1f}x | {quality:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
