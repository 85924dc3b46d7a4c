"""Benchmark: memory over a long video: the process's resident memory as the frames go by.

    /work/main/.venv/bin/python benchmarks/video_memory.py --frames 600 --size 1280x720

A clip panning slowly over a face (``tests/video_clips.long_pan``, one face in every frame) is made one
frame at a time, then restored by ``gpen.video.restore_video`` with the trained RetinaFace MobileNet-0.25
and the tests' tiny GPEN and ParseNet (memory per frame does not depend on the network's size). The
resident memory is read from ``/proc/self/statm`` after every ``--every`` frames; the yardstick is what
the decoded frames alone would take if they were all held at once.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from gpen.engine import Engine, EngineConfig  # noqa: E402
from gpen.video import restore_video  # noqa: E402
from video_clips import long_pan  # noqa: E402
from video_models import DETECTOR, trained_models_folder  # noqa: E402

MIB = 2**20


def resident_mib() -> float:
    """This process's resident memory now, in MiB."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / MIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--every", type=int, default=50, help="frames between readings")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="gpen-video-memory-"))
    try:
        models = trained_models_folder(work / "models", work / "detector")
        source = long_pan(work / "pan.mp4", args.frames, (width, height))
        engine = Engine(EngineConfig(detector=DETECTOR, models_folder=models, download=False, device="cpu"))
        readings: list[tuple[int, float]] = []
        outcome = restore_video(engine, source, work / "out" / "pan.mp4",
                                on_frame=lambda done, total: readings.append((done, resident_mib()))
                                if done % args.every == 0 else None)
        assert outcome.report.status == "ok", outcome.report.error
        held = args.frames * width * height * 3 / MIB
        print(f"# video memory: {args.frames} frames of {width}x{height}, one face each, batch size "
              f"{engine.config.batch_size}, {date.today()}")
        print(f"# command: {' '.join(sys.argv)}\n")
        print("| frames done | resident MiB | change since the first reading MiB |")
        print("|---|---|---|")
        for done, mib in readings:
            print(f"| {done} | {mib:.0f} | {mib - readings[0][1]:+.0f} |")
        growth = readings[-1][1] - readings[0][1]
        print(f"\nall {args.frames} decoded frames held at once would take {held:.0f} MiB; the resident memory "
              f"changed by {growth:+.0f} MiB from frame {readings[0][0]} to frame {readings[-1][0]} "
              f"({growth / held:+.2f}x that)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
