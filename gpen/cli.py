"""Command line: ``python -m gpen INPUT... -o OUTDIR``.

Exit status: 0 when every input succeeded (a photo without faces is a success), 1 when any failed,
2 for bad usage (including a report or output folder that cannot be used, found before any work),
130 when stopped with Ctrl-C.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator, Sequence, get_args

from tqdm import tqdm

from . import registry
from .allocator import keep_large_buffers
from .batch import SaveOptions, process_files
from .cluster import find_inputs_at, import_ray, restore_on_cluster
from .inputs import find_inputs
from .reports import FileReport, FileStatus, write_report
from .download import tqdm_progress
from .engine import Engine
from .options import (CONTROL_RANGES, DEFAULT_BATCH_SIZE, DEFAULT_STRENGTH_PERCENT, DEFAULT_VIDEO_QUALITY,
                      DEVICE_CHOICES, FACE_CHOICES, MAX_BATCH_SIZE, MODE_CHOICES, OUTPUT_FORMATS, PRECISION_CHOICES, SWITCHES,
                      VIDEO_QUALITY_RANGE, EngineConfig, EnhanceOptions, VideoOptions, check_batch_size,
                      options_for_mode, strength_from_percent)
from .errors import ClusterError, GpenError

log = logging.getLogger("gpen")


def _strength(text: str) -> float:
    """``--strength`` as typed (a percentage) → the fraction ``EnhanceOptions`` takes."""
    try:
        return strength_from_percent(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100 (percent), got {text}") from None


def _control(name: str) -> Callable[[str], float]:
    """An argparse type for a quality control: a number within the control's range."""
    low, high = CONTROL_RANGES[name]

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a number between {low:g} and {high:g}, got {text}")
        return value
    parse.__name__ = name
    return parse


def _video_quality(text: str) -> int:
    low, high = VIDEO_QUALITY_RANGE
    try:
        return VideoOptions(quality=int(text)).quality
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {text}") from None


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of workers from 1 up, got {text}")
    return int(text)


def _batch_size(text: str) -> int:
    try:
        return check_batch_size(int(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_engine_arguments(parser: argparse.ArgumentParser, with_defaults: bool = True) -> None:
    """The engine's settings as options: model, detector, device, precision, batch size. Without
    defaults (the web app) an option not given is None, and the settings file's value is used."""
    def default(value: object) -> object:
        return value if with_defaults else None
    parser.add_argument("--model", default=default(registry.DEFAULT_RESTORER),
                        help=f"model name ({', '.join(registry.RESTORER_NAMES)}) or checkpoint path")
    parser.add_argument("--detector", choices=registry.DETECTOR_CHOICES, default=default(registry.DEFAULT_DETECTOR),
                        help="face detector: retinaface-r50 (the official one, default) or retinaface-mobile0.25 "
                             "(several times faster on a CPU, a little less exact on hard faces)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default=default("auto"))
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default=default("auto"),
                        help="the restoring network's precision (the detector and parser stay in fp32)")
    parser.add_argument("--batch-size", type=_batch_size, default=default(DEFAULT_BATCH_SIZE),
                        help=f"faces per network batch (1-{MAX_BATCH_SIZE})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gpen", description="Restore the faces in photos and videos with GPEN. Inputs are never "
                                           "modified.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image or video (MP4, MOV, MKV, WebM, AVI) files, folders or glob patterns")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUTDIR", help="folder for the results")
    add_engine_arguments(parser)
    parser.add_argument("--compile", action="store_true",
                        help="compile the networks with torch.compile (the first photo takes a minute or two; pays off "
                             "for long runs)")
    parser.add_argument("--strength", type=_strength, default=DEFAULT_STRENGTH_PERCENT / 100, metavar="PERCENT",
                        help="how much of the restored face replaces the original: 0 keeps the original, 100 (the "
                             "default) the restored face")
    controls = parser.add_argument_group(
        "quality controls", "--mode picks a preset; any control given explicitly overrides the preset's value. "
        "0 / off changes nothing.")
    controls.add_argument("--mode", choices=MODE_CHOICES, default="natural",
                          help="preset of the controls below (default: natural, every control at 0 / off)")
    controls.add_argument("--denoise", type=_control("denoise"), metavar="0..100",
                          help="remove noise and grain from the photo around the faces")
    controls.add_argument("--sharpen", type=_control("sharpen"), metavar="0..100",
                          help="sharpen the whole photo (halo-limited)")
    controls.add_argument("--contrast", type=_control("contrast"), metavar="-100..100",
                          help="luminance contrast of the whole photo (colours kept)")
    controls.add_argument("--brightness", type=_control("brightness"), metavar="-100..100",
                          help="luminance brightness of the whole photo (colours kept)")
    controls.add_argument("--skin-protection", action=argparse.BooleanOptionalAction, default=None,
                          help="keep each restored face's mean colour equal to the original face's")
    controls.add_argument("--detail", action=argparse.BooleanOptionalAction, default=None,
                          help="boost fine detail inside the faces")
    parser.add_argument("--faces", choices=FACE_CHOICES, default="all", help="which faces to restore")
    parser.add_argument("--min-face", type=float, default=0.0, metavar="PX", help="skip faces smaller than this")
    parser.add_argument("--aligned", action="store_true", help="inputs are aligned face crops (no detection)")
    parser.add_argument("--ext", choices=OUTPUT_FORMATS, default="same",
                        help="output format (default: same as each input)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (1-100)")
    low, high = VIDEO_QUALITY_RANGE
    parser.add_argument("--video-quality", type=_video_quality, default=DEFAULT_VIDEO_QUALITY, metavar=f"{low}..{high}",
                        help=f"videos: H.264 CRF, lower is better and larger (default {DEFAULT_VIDEO_QUALITY})")
    parser.add_argument("--smoothing", action=argparse.BooleanOptionalAction, default=True,
                        help="videos: steady each tracked face's landmarks across frames (default: on)")
    parser.add_argument("--strip-metadata", action="store_true",
                        help="leave out EXIF (with GPS), XMP and text from the results; the colour profile stays")
    parser.add_argument("--skip-existing", action="store_true", help="skip inputs whose result exists (resume)")
    parser.add_argument("--face-boxes", action="store_true",
                        help="also write each photo with numbered boxes on the faces it restored (and their landmarks) "
                             "into OUTDIR/face-boxes/, to check what was restored")
    parser.add_argument("--report", type=Path, metavar="FILE.json", help="write a JSON row per input")
    parser.add_argument("--cluster", metavar="ADDRESS",
                        help="run on Ray (pip install -r requirements-cluster.txt): 'local' starts Ray on this "
                             "machine, 'auto' or ray://HOST:PORT joins a running cluster; OUTDIR must be a folder "
                             "every node sees")
    parser.add_argument("--workers", type=_workers, default=None, metavar="N",
                        help="with --cluster: engines running at once (default 1; one per GPU on a GPU cluster)")
    parser.add_argument("--models-dir", type=Path, default=None, help="folder of model files (default: models/)")
    parser.add_argument("--no-download", action="store_true", help="never download missing model files")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    keep_large_buffers()   # before any thread starts
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if not 1 <= args.quality <= 100:
        parser.error("--quality must be between 1 and 100")
    inputs, missing, filesystem = _find_inputs(parser, args)
    if not inputs and not missing:
        parser.error("no image or video files found in the inputs given")
    if args.workers is not None and not args.cluster:
        parser.error("--workers goes with --cluster")
    earlier = _earlier_report(parser, args.report, inputs)
    try:
        if args.cluster:
            import_ray()
        options = enhance_options(args)
        engine = None if args.cluster else _load_engine(args)   # a cluster's workers load their own
    except (GpenError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    _check_output_folder(parser, args.output)   # created only once there is something to put in it
    if engine is not None and engine.plan.note:
        print(f"note: {engine.plan.note}", file=sys.stderr)
    bar = tqdm(total=len(inputs), unit="file", disable=args.quiet, file=sys.stderr)

    def advance(done: int, total: int, report: FileReport) -> None:
        bar.set_postfix_str(Path(report.input).name[-40:], refresh=False)
        bar.update(1)

    def frame_done(done: int, total: int) -> None:
        bar.set_postfix_str(f"video frame {done}/{total or '?'}")

    stop = threading.Event()
    try:
        with _first_interrupt_sets(stop):
            reports = missing + _run(args, inputs, filesystem, engine, options, advance, frame_done, stop)
    except ClusterError as error:
        bar.close()
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.close()
        print("\nstopped at once (second Ctrl-C); finished results are complete, no report written",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
    reports = [_kept_from(earlier, report) for report in reports]
    if args.report:
        try:
            write_report(reports, args.report)
        except GpenError as error:
            print(f"error: the report could not be written: {error}", file=sys.stderr)
            _print_summary(reports, _described(args, engine))
            return 1
    _print_summary(reports, _described(args, engine))
    if stop.is_set():
        return 130
    return 0 if all(report.succeeded for report in reports) else 1


def _find_inputs(parser: argparse.ArgumentParser,
                 args: argparse.Namespace) -> tuple[list[Path], list[FileReport], object | None]:
    """The inputs, the rows of those not found, and the ``pyarrow.fs`` filesystem that inputs given as URIs
    (s3://, gs://, file://; with --cluster only) are read through, else None."""
    if _URI.match(str(args.output)):
        parser.error(f"-o {args.output}: results are written to a folder on this machine or a shared filesystem")
    if not any(_URI.match(item) for item in args.inputs):
        return (*find_inputs(args.inputs), None)
    if not args.cluster:
        parser.error("inputs given as URIs (s3://, gs://, file://) are read with --cluster only")
    try:
        filesystem, inputs = find_inputs_at(args.inputs)
    except (GpenError, ImportError) as error:
        parser.error(str(error))
    return inputs, [], filesystem


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")   # s3://..., file:///...; not a drive letter (C:/)


def _run(args: argparse.Namespace, inputs: list[Path], filesystem: object | None, engine: Engine | None,
         options: EnhanceOptions,
         advance: Callable[[int, int, FileReport], None], frame_done: Callable[[int, int], None],
         stop: threading.Event) -> list[FileReport]:
    """The run itself: on this machine with ``engine``, or on the Ray cluster ``--cluster`` names."""
    save = SaveOptions(ext=args.ext, quality=args.quality, skip_existing=args.skip_existing,
                       strip_metadata=args.strip_metadata, face_boxes=args.face_boxes)
    video = VideoOptions(args.video_quality, args.smoothing)
    if engine is None:
        for name in ("ray", "ray.data"):   # Ray's own progress lines: the bar shows ours
            logging.getLogger(name).setLevel(logging.ERROR)
        return restore_on_cluster(inputs, args.output, engine_config(args), options, save, address=args.cluster,
                                  workers=args.workers or 1, filesystem=filesystem, video=video,
                                  on_progress=advance, stop=stop)
    return process_files(engine, inputs, args.output, options, save, advance, stop, video=video, on_frame=frame_done)


def _described(args: argparse.Namespace, engine: Engine | None) -> str:
    if engine is None:
        return f"{Path(str(args.model)).stem} on the Ray cluster {args.cluster}, {args.workers or 1} workers"
    return f"{engine.model_name} on {engine.plan.device.type}, {engine.plan.precision}"


@contextlib.contextmanager
def _first_interrupt_sets(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C once: finish the photos in progress, then report (``stop`` is set). Twice: stop at once."""
    if threading.current_thread() is not threading.main_thread():   # signals reach the main thread only
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after the photos in progress (Ctrl-C again to stop at once)", file=sys.stderr)
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _earlier_report(parser: argparse.ArgumentParser, report: Path | None,
                    inputs: Sequence[Path]) -> dict[str, dict]:
    """The rows of an earlier report at ``report``, by input. A report path that names an input, a
    folder, or an existing file that is not an earlier report is refused before any work."""
    if report is None:
        return {}
    target = report.resolve()
    if any(target == Path(item).resolve() for item in inputs):
        parser.error(f"--report {report} is one of the inputs; it would be overwritten")
    if target.is_dir():
        parser.error(f"--report {report} is a folder; give a file name such as report.json")
    if not target.exists():
        return {}
    try:
        rows = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(rows, list) or not all(isinstance(row, dict) and "input" in row and "status" in row
                                                 for row in rows):
            raise ValueError("not a list of report rows")
    except (OSError, ValueError) as error:
        parser.error(f"--report {report} exists and is not an earlier report of this program ({error}); "
                     "it would be overwritten: choose another file name")
    return {row["input"]: row for row in rows}


def _kept_from(earlier: dict[str, dict], report: FileReport) -> FileReport:
    """A skipped file's row as the earlier run reported it, when that run restored it."""
    row = earlier.get(report.input)
    if report.status != "skipped" or not row or row.get("status") not in ("ok", "no_faces"):
        return report
    try:
        return FileReport(input=report.input, output=report.output, status=row["status"],
                          faces=int(row.get("faces") or 0), seconds=float(row.get("seconds") or 0.0),
                          note="skipped: restored by an earlier run (its row is kept)")
    except (TypeError, ValueError):
        return report


def _check_output_folder(parser: argparse.ArgumentParser, folder: Path) -> None:
    """Create the output folder and try writing in it, before any work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gpen-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        parser.error(f"the output folder {folder} cannot be created or written ({reason}); nothing was done")


def enhance_options(args: argparse.Namespace) -> EnhanceOptions:
    """The options the parsed arguments ask for: the --mode preset, then the explicit controls."""
    explicit = {name: getattr(args, name) for name in (*CONTROL_RANGES, *SWITCHES)
                if getattr(args, name) is not None}
    return options_for_mode(args.mode, strength=args.strength, faces=args.faces,
                                        min_face_px=args.min_face, aligned=args.aligned, **explicit)


def engine_config(args: argparse.Namespace) -> EngineConfig:
    """The engine the parsed arguments ask for."""
    return EngineConfig(model=args.model, detector=args.detector, device=args.device, precision=args.precision,
                        batch_size=args.batch_size, models_folder=args.models_dir, download=not args.no_download,
                        compile=args.compile)


def _load_engine(args: argparse.Namespace) -> Engine:
    progress, close = tqdm_progress("downloading model") if not args.quiet else (None, lambda: None)
    try:
        return Engine(engine_config(args), progress=progress)
    finally:
        close()


def _print_summary(reports: Sequence[FileReport], described: str) -> None:
    counts = {status: sum(report.status == status for report in reports)
              for status in get_args(FileStatus)}
    faces = sum(report.faces for report in reports)
    stopped = f", {counts['stopped']} stopped" if counts["stopped"] else ""
    print(f"{counts['ok']} restored ({faces} faces), {counts['no_faces']} without faces, "
          f"{counts['skipped']} skipped, {counts['failed']} failed{stopped} [{described}]", file=sys.stderr)
    if counts["stopped"]:
        print(f"  stopped: the run was interrupted before {counts['stopped']} of the files; run the same command "
              "with --skip-existing to go on", file=sys.stderr)
    for report in reports:
        if report.status == "failed":
            reason = report.error if report.input in (report.error or "") else f"{report.input}: {report.error}"
            print(f"  failed: {reason}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
