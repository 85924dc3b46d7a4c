"""Benchmark: how long a process that compiles takes to its first result, the first time and the second.

    .venv/bin/python benchmarks/compiled_start.py

Two fresh processes in turn, each: import, build an engine with ``compile=True`` (full-size GPEN-BFR-512
in bf16, ParseNet, the trained RetinaFace MobileNet-0.25, which the engine leaves uncompiled; random
weights where no trained ones ship), restore one 1080p portrait (its three faces), and report the
seconds from process start to that result and of a second call. Both use one new model folder, where the engine keeps compiled code (``models/compiled`` in a real
install, see ``gpen.acceleration.keep_compiled_code``): the first process compiles and writes it, the
second reads it back. Uncompiled, the same first result is shown for comparison (a third process).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ONE_START = """
import time
started = time.perf_counter()
import sys
sys.path[:0] = {paths!r}
import torch
from detection import photo_1080p
from trained_detector import trained_detector_file
from gpen import registry
from gpen.arch import build_generator
from gpen.detection import FaceDetector
from gpen.engine import Engine, EngineConfig
from gpen.parsing import FaceParser, build_parsenet
from facexlib.parsing.parsenet import ParseNet
cpu = torch.device("cpu")
torch.manual_seed(0)
restorer = build_generator(registry.get_spec("GPEN-BFR-512").config).eval().requires_grad_(False)
parser = FaceParser(build_parsenet(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict()), cpu)
detector = FaceDetector.from_file(trained_detector_file({folder!r}), cpu, torch.float32)
compiled = {compiled!r}
engine = Engine(EngineConfig(device="cpu", precision="bf16", compile=compiled, models_folder={folder!r},
                             detector="retinaface-mobile0.25"), restorer=restorer, detector=detector, parser=parser)
image = photo_1080p()
assert engine.enhance_one(image).ok
first = time.perf_counter() - started
again = time.perf_counter()
engine.enhance_one(image)
print(f"{{first:.1f}} {{time.perf_counter() - again:.2f}}")
"""


def start(folder: Path, compiled: bool) -> tuple[float, float]:
    """Seconds from process start to the first result, and of the next call."""
    paths = [str(REPO), str(REPO / "benchmarks"), str(REPO / "tests")]
    env = {key: value for key, value in os.environ.items() if key != "TORCHINDUCTOR_CACHE_DIR"}
    done = subprocess.run([sys.executable, "-c", ONE_START.format(paths=paths, folder=str(folder), compiled=compiled)],
                          capture_output=True, text=True, env=env, check=True)
    first, again = done.stdout.split()[-2:]
    return float(first), float(again)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(f"# a compiled engine's first and second start (bf16, 1080p portrait), {time.strftime('%Y-%m-%d')}")
    print(f"# command: {' '.join(sys.argv)}\n")
    print("| process | to the first result, s | the next call, s |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="gpen-compiled-start-") as folder:
        for name, compiled in (("not compiled", False), ("compiled, first start (compiles)", True),
                               ("compiled, second start (kept code)", True)):
            first, again = start(Path(folder), compiled)
            print(f"| {name} | {first:.1f} | {again:.2f} |", flush=True)


if __name__ == "__main__":
    main()
