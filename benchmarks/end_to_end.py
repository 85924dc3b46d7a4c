"""Benchmark 2: whole photos, file in to file out, the engine against the one-at-a-time way.

    .venv/bin/python benchmarks/end_to_end.py --count 16                 # CPU: a short run
    .venv/bin/python benchmarks/end_to_end.py --count 200 --batch-size 32  # GPU

The photos of ``tests/data/photos`` are scaled to 1080 px on the short side and repeated to
``--count`` JPEG files. Both pipelines use the same full-size networks (GPEN-BFR-512, RetinaFace-R50,
ParseNet) with random weights: speed does not depend on the values, but a random detector finds no
faces, so its output is replaced by one centred face per photo after it has run (its full cost is
paid). The baseline is what today's front ends do, strictly in series: read → detect (facexlib's own
``detect_faces``) → restore the face at batch 1 in float32 the official way → parse → paste with
full-photo warps → write. The engine runs ``gpen.batch.process_files`` with its batching, prefetching
and background writing.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]
from gpen import registry  # noqa: E402
from gpen.arch import build_generator  # noqa: E402
from gpen.batch import SaveOptions, process_files  # noqa: E402
from gpen.detection import FaceDetector, build_retinaface  # noqa: E402
from gpen.devices import DTYPES  # noqa: E402
from gpen.engine import Engine, EngineConfig, EnhanceOptions  # noqa: E402
from gpen.faces import Face, align_face, mask_from_parsing, template_points  # noqa: E402
from gpen.parsing import FaceParser, build_parsenet  # noqa: E402
from official_style import official_style  # noqa: E402

PHOTOS = Path(__file__).resolve().parents[1] / "tests" / "data" / "photos"


def centred_face(height: int, width: int, size_px: int = 512) -> Face:
    """One upright face in the middle of the photo, about 40% of its short side."""
    side = 0.4 * min(height, width)
    scale = side / size_px
    landmarks = (template_points(size_px) - size_px / 2) * scale + np.array([width / 2, height / 2])
    box = (width / 2 - side / 2, height / 2 - side / 2, width / 2 + side / 2, height / 2 + side / 2)
    return Face(box, 0.99, landmarks)


class CentredFaceDetector:
    """Runs the real detector (paying its cost), then reports one centred face."""

    def __init__(self, detector: FaceDetector):
        self.detector = detector

    def detect(self, image: np.ndarray) -> list[Face]:
        self.detector.detect(image)
        return [centred_face(*image.shape[:2])]


def make_inputs(folder: Path, count: int) -> list[Path]:
    sources = sorted(PHOTOS.iterdir())
    paths = []
    for index in range(count):
        image = cv2.imread(str(sources[index % len(sources)]), cv2.IMREAD_COLOR)
        scale = 1080 / min(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        path = folder / f"photo_{index:04d}.jpg"
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths.append(path)
    return paths


def baseline_run(paths: list[Path], out: Path, restorer, retinaface, parsenet, device: torch.device) -> None:
    """The one-at-a-time pipeline of today's front ends (official computation, strictly serial)."""
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)                       # BGR
        height, width = image.shape[:2]
        small = image
        if max(height, width) > 1500:
            factor = 1000 / max(height, width)
            small = cv2.resize(image, (round(width * factor), round(height * factor)))
        with torch.inference_mode():
            retinaface.detect_faces(small, conf_threshold=0.9, nms_threshold=0.4)   # priors rebuilt per call
        face = centred_face(height, width)
        crop, matrix = align_face(image[:, :, ::-1].copy(), face.landmarks, 512)
        tensor = torch.from_numpy(crop).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1
        with torch.inference_mode(), official_style():
            restored = restorer(tensor)
            restored = ((restored * 0.5 + 0.5).clamp(0, 1) * 255).to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
            parsed = parsenet(torch.from_numpy(restored).permute(2, 0, 1)[None].float().to(device) / 127.5 - 1)[0]
        mask = mask_from_parsing(parsed.argmax(1)[0].to(torch.uint8).cpu().numpy(), 512)
        inverse = cv2.invertAffineTransform(matrix)
        full_mask = cv2.warpAffine(mask, inverse, (width, height))[:, :, None]          # full-photo warps
        full_face = cv2.warpAffine(restored[:, :, ::-1], inverse, (width, height))
        result = cv2.convertScaleAbs(image * (1 - full_mask) + full_face * full_mask)
        cv2.imwrite(str(out / path.name), result, [cv2.IMWRITE_JPEG_QUALITY, 95])


def print_table(rows: list[tuple[str, float]], photos: int, baseline_seconds: float | None) -> None:
    """The results as a Markdown table, each run's speed against the baseline's."""
    print("| pipeline | total s | s/photo | photos/s | vs baseline |")
    print("|---|---|---|---|---|")
    for name, seconds in rows:
        ratio = f"{baseline_seconds / seconds:.1f}x" if baseline_seconds else "-"
        print(f"| {name} | {seconds:.1f} | {seconds / photos:.2f} | {photos / seconds:.2f} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="photos (the test photos repeated)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also run the engine with a compiled network")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    restorer = build_generator(registry.get_spec("GPEN-BFR-512").config).eval().requires_grad_(False).to(device)
    from facexlib.detection.retinaface import RetinaFace
    from facexlib.parsing.parsenet import ParseNet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        retinaface = RetinaFace(network_name="resnet50", half=False, phase="test", device=device).eval()
    parsenet = ParseNet(in_size=512, out_size=512, parsing_ch=19).eval().to(device)
    detector_model = build_retinaface(retinaface.state_dict())
    parser_model = build_parsenet(parsenet.state_dict())

    work = Path(tempfile.mkdtemp(prefix="gpen-bench-"))
    try:
        (work / "in").mkdir()
        paths = make_inputs(work / "in", args.count)
        print(f"# end to end: {len(paths)} photos (1080p, JPEG in and out), one face each, {device.type}"
              f" ({torch.cuda.get_device_name() if device.type == 'cuda' else platform.machine()},"
              f" {torch.get_num_threads()} threads), torch {torch.__version__}, {date.today()}")
        print(f"# command: {' '.join(sys.argv)}\n")
        rows = []
        baseline_seconds = None
        if not args.skip_baseline:
            (work / "base").mkdir()
            started = time.perf_counter()
            baseline_run(paths, work / "base", restorer, retinaface, parsenet, device)
            baseline_seconds = time.perf_counter() - started
            rows.append(("baseline: one at a time, official computation, fp32", baseline_seconds))
        variants = [(precision, False) for precision in args.precisions]
        variants += [(precision, True) for precision in args.precisions if args.compile]
        for precision, compiled in variants:
            config = EngineConfig(device=device.type, precision=precision, batch_size=args.batch_size,
                                  compile=compiled)
            dtype = DTYPES[precision]
            engine = Engine(config, restorer=restorer,
                            detector=CentredFaceDetector(FaceDetector(detector_model, device, dtype)),
                            parser=FaceParser(parser_model, device, dtype))
            out = work / f"engine_{precision}{'_compiled' if compiled else ''}"
            engine.enhance([cv2.imread(str(paths[0]))[:, :, ::-1].copy()])   # warm-up
            started = time.perf_counter()
            reports = process_files(engine, paths, out, EnhanceOptions(), SaveOptions(ext="jpg"))
            seconds = time.perf_counter() - started
            assert all(report.status == "ok" for report in reports), [r.error for r in reports if r.error]
            rows.append((f"engine: batch {args.batch_size}, {precision}{', compiled' if compiled else ''}, pipelined",
                         seconds))
        print_table(rows, len(paths), baseline_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
