"""Measure: how steady a face is on a still camera, with and without the tracks' smoothing.

    /work/main/.venv/bin/python benchmarks/video_jitter.py

A 320x240 clip of 60 frames from a still camera on a real face (``tests/data/photos/portrait_small.jpg``)
with sensor noise in every frame (sigma 4 levels), H.264-encoded, is restored twice through
``gpen.video.restore_video``, with ``smoothing`` off and on. Jitter is the mean frame-to-frame movement of
the 5 landmarks the faces were aligned by, and of the four corners of the pasted face region, in pixels.
A pan at 9.5 px a frame shows how closely the smoothed landmarks follow real motion. The trained MobileNet
detector finds the faces; the tiny test restorer is enough (jitter comes from detection, not from GPEN).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from gpen.engine import Engine, EngineConfig  # noqa: E402
from gpen.options import VideoOptions  # noqa: E402
from gpen.tracking import mean_movement_px, pasted_region_corners  # noqa: E402
from gpen.video import restore_video  # noqa: E402
from video_clips import pan_frames, still_frames, write_clip  # noqa: E402
from video_models import DETECTOR, trained_models_folder  # noqa: E402


def faces_of(outcome) -> list:
    return [faces[0] for faces in outcome.faces if len(faces) == 1]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gpen-jitter-") as folder:
        work = Path(folder)
        models = trained_models_folder(work / "models", work)
        engine = Engine(EngineConfig(detector=DETECTOR, models_folder=models, download=False, device="cpu"))
        still = write_clip(work / "still.mp4", still_frames(60))
        pan = write_clip(work / "pan.mp4", pan_frames(20, (380, 220), (560, 220)))
        rows, followed = [], {}
        for smoothing in (False, True):
            video = VideoOptions(smoothing=smoothing)
            faces = faces_of(restore_video(engine, still, work / f"still_{smoothing}.mp4", video=video))
            rows.append(("smoothed (One-Euro)" if smoothing else "raw detections", len(faces),
                         mean_movement_px([face.landmarks for face in faces]),
                         mean_movement_px([pasted_region_corners(face.matrix, engine.size_px) for face in faces])))
            followed[smoothing] = faces_of(restore_video(engine, pan, work / f"pan_{smoothing}.mp4", video=video))
        print("| still camera, 60 frames | frames with the face | landmark jitter px | pasted region jitter px |")
        print("|---|---|---|---|")
        for name, count, landmarks, region in rows:
            print(f"| {name} | {count} | {landmarks:.3f} | {region:.3f} |")
        print(f"| smoothed / raw | | {rows[1][2] / rows[0][2]:.2f} | {rows[1][3] / rows[0][3]:.2f} |")
        lag = np.mean([np.linalg.norm(raw.landmarks - smooth.landmarks, axis=1).mean()
                       for raw, smooth in zip(followed[False], followed[True])])
        print(f"\npan at 9.5 px a frame: smoothed landmarks {lag:.2f} px from the detected ones on average")


if __name__ == "__main__":
    main()
