"""Benchmark: the cluster run (``gpen.cluster``) with 1 and 2 workers on one machine, against the
single-machine batch run (``gpen.batch.process_files``) measured in the same run, plus where one photo's
time goes stage by stage.

    .venv/bin/python benchmarks/cluster.py --count 24                      # tiny test checkpoints
    .venv/bin/python benchmarks/cluster.py --count 24 --models models --detector retinaface-r50

By default the engine is the tests' tiny restorer and parser with the trained MobileNet-0.25 detector
(``tests/video_models.py``): the network is far cheaper than GPEN-BFR-512, so the figures show the
overhead of Ray and the CPU stages around the network, not a GPU's speed. The photos of
``tests/data/photos`` are scaled to ``--short-side`` px and repeated to ``--count`` JPEG files. Ray is
started once (``local``, all CPUs) before the timed runs; each cluster run includes starting its actors
and loading their engines, as a real run does.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from gpen.batch import SaveOptions, process_files, read_photo, write_result  # noqa: E402
from gpen.cluster import connected, restore_on_cluster  # noqa: E402
from gpen.engine import Engine  # noqa: E402
from gpen.options import EngineConfig, EnhanceOptions  # noqa: E402

PHOTOS = ROOT / "tests" / "data" / "photos"


def make_inputs(folder: Path, count: int, short_side: int) -> list[Path]:
    sources = sorted(PHOTOS.iterdir())
    paths = []
    for index in range(count):
        image = cv2.imread(str(sources[index % len(sources)]), cv2.IMREAD_COLOR)
        scale = short_side / min(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        path = folder / f"photo_{index:04d}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


def stage_seconds(engine: Engine, paths: list[Path], out: Path) -> dict[str, float]:
    """Each stage's seconds over all photos, one photo at a time in this process: decode, detect (and
    align), network, parse + adjust + paste, encode + write."""
    totals = dict.fromkeys(("decode", "detect", "network", "paste", "encode+write"), 0.0)
    options, save = EnhanceOptions(), SaveOptions()
    for path in paths:
        started = time.perf_counter()
        read = read_photo(0, path, save.max_pixels)
        totals["decode"] += time.perf_counter() - started
        [prepared] = engine.prepare([read.loaded.rgb], options)
        [restored] = engine.restore([prepared])
        result = engine.finish(restored, options)
        totals["detect"] += restored.seconds.get("detect", 0.0)
        totals["network"] += restored.seconds.get("restore", 0.0)
        totals["paste"] += sum(result.seconds.get(stage, 0.0) for stage in ("parse", "adjust", "paste"))
        started = time.perf_counter()
        write_result(out / path.name, read.loaded, result, options, save)
        totals["encode+write"] += time.perf_counter() - started
    return totals


class Clock:
    """When a run started and when each of its files came back (its progress callback)."""

    def __init__(self) -> None:
        self.started, self.returns = time.perf_counter(), []

    def __call__(self, done: int, total: int, report: object) -> None:
        self.returns.append(time.perf_counter())

    def row(self, name: str, workers: str) -> tuple[str, str, float, float]:
        """(run, workers, total s, s to the first result). Ray hands results back a block at a time, so
        the time to the first one includes the actors' start but also some of their work."""
        return name, workers, self.returns[-1] - self.started, self.returns[0] - self.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--short-side", type=int, default=720)
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: the tiny test models)")
    parser.add_argument("--detector", default=None)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="gpen-cluster-bench-") as scratch:
        scratch = Path(scratch)
        if args.models is None:
            from video_models import DETECTOR, trained_models_folder
            args.models = trained_models_folder(scratch / "models", scratch / "detector_cache")
            args.detector = args.detector or DETECTOR
        config = EngineConfig(detector=args.detector or "retinaface-r50", device="cpu", batch_size=args.batch_size,
                              models_folder=args.models, download=False)
        (scratch / "in").mkdir()
        paths = make_inputs(scratch / "in", args.count, args.short_side)
        # Each run starts cold, as a fresh process does: the engine is built inside the timing (a cluster
        # run's actors build theirs inside it too). The stages are measured afterwards, warm.
        clock = Clock()
        engine = Engine(config)
        process_files(engine, paths, scratch / "single", on_progress=clock)
        timings = [clock.row("single machine (process_files)", "-")]
        (scratch / "stages").mkdir()
        stages = stage_seconds(engine, paths, scratch / "stages")
        del engine
        with connected("local"):
            for name in ("ray", "ray.data"):
                logging.getLogger(name).setLevel(logging.ERROR)
            for workers in (1, 2):
                shutil.rmtree(scratch / "cluster", ignore_errors=True)
                clock = Clock()
                restore_on_cluster(paths, scratch / "cluster", config, workers=workers, on_progress=clock)
                timings.append(clock.row("cluster, local Ray", str(workers)))
        print_tables(args, paths, timings, stages)


def print_tables(args: argparse.Namespace, paths: list[Path], timings: list[tuple[str, str, float, float]],
                 stages: dict[str, float]) -> None:
    print(f"# cluster: {len(paths)} photos ({args.short_side} px short side, JPEG in and out), "
          f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"models {args.models.name}, detector {args.detector}")
    print(f"# command: {' '.join(sys.argv)}\n")
    baseline = timings[0][2]
    print("| run | workers | total s | photos/s | vs single machine | first result s |")
    print("|---|---|---|---|---|---|")
    for name, workers, seconds, first in timings:
        print(f"| {name} | {workers} | {seconds:.1f} | {len(paths) / seconds:.2f} | {baseline / seconds:.2f}x | "
              f"{first:.1f} |")
    total = sum(stages.values())
    print("\n| stage (one photo at a time, this process, warm) | s/photo | share |")
    print("|---|---|---|")
    for stage, seconds in stages.items():
        print(f"| {stage} | {seconds / len(paths):.3f} | {100 * seconds / total:.0f} % |")


if __name__ == "__main__":
    main()
