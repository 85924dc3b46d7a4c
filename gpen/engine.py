"""The engine: models loaded once, faces of many photos restored together in batches.

``Engine.enhance`` is the whole pipeline for a list of photos:
detect faces → align crops → restore all crops of all photos in batches → parse masks → paste.
An engine keeps no per-call state, so one instance serves any number of threads.
"""
from __future__ import annotations

import logging
import math
import numbers
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from . import adjustments, registry
from . import faces as face_geometry
from .devices import DevicePlan, inference_context, plan_device
from .acceleration import CompiledModule, compile_restorer
from .detection import FaceDetector
from .errors import GpenError, RestorationError
from .faces import Face, FaceChoice, RestoredFace
from .parsing import FaceParser
from .weights import load_restorer, resolve_model_file

log = logging.getLogger(__name__)

MAX_BATCH_SIZE = 64


@dataclass(frozen=True)
class EngineConfig:
    """How to build an engine. ``model`` is a registry name or a checkpoint path; ``detector`` one of
    ``registry.DETECTOR_CHOICES``. ``precision`` is the restorer's: the detector and the parser run in
    float32 (bf16 detection moved landmarks by up to 2 px in a measurement with the official weights)."""

    model: str = registry.DEFAULT_RESTORER
    detector: registry.DetectorChoice = registry.DEFAULT_DETECTOR
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 4
    models_folder: Path | None = None
    download: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if not 1 <= int(self.batch_size) <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}, got {self.batch_size}")
        if self.detector not in registry.DETECTOR_CHOICES:
            raise ValueError(f"detector must be one of {registry.DETECTOR_CHOICES}, got {self.detector!r}")


@dataclass(frozen=True)
class EnhanceOptions:
    """What to do to each photo. ``strength`` 0..1 blends the restored faces over the originals.

    Quality controls (``gpen.adjustments``; 0 / False changes nothing; the defaults are the
    "natural" mode): ``denoise`` 0..100 and ``sharpen`` 0..100, ``contrast`` and ``brightness``
    -100..100 act on the whole photo; ``skin_protection`` and ``detail`` on the faces only.
    """

    strength: float = 1.0
    faces: FaceChoice = "all"
    min_face_px: float = 0.0
    aligned: bool = False
    denoise: float = 0.0
    sharpen: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0
    skin_protection: bool = False
    detail: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.strength) <= 1.0:
            raise ValueError(f"strength must be between 0 and 1, got {self.strength}")
        if self.faces not in face_geometry.FACE_CHOICES:
            raise ValueError(f"faces must be one of {face_geometry.FACE_CHOICES}, got {self.faces!r}")
        if not math.isfinite(self.min_face_px) or self.min_face_px < 0:
            raise ValueError(f"min_face_px must be a finite number >= 0, got {self.min_face_px}")
        for name, (low, high) in adjustments.CONTROL_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high:
                raise ValueError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")
        for name in adjustments.SWITCHES:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class EnhanceResult:
    """One photo's outcome. ``image`` is None only when ``error`` says why."""

    image: np.ndarray | None
    faces: tuple[Face, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    pasted: tuple[RestoredFace, ...] = ()
    """The restored faces as they were pasted (crop, mask, matrix): a 16-bit photo pastes them again."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def face_count(self) -> int:
        return len(self.faces)


@dataclass
class PhotoJob:
    """One photo on its way through the pipeline: made by ``Engine.prepare``, filled by
    ``Engine.restore``, consumed by ``Engine.finish``. Belongs to one call; the engine never keeps it."""

    image: np.ndarray
    faces: list[Face] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    matrices: list[np.ndarray] = field(default_factory=list)
    restored: list[np.ndarray | None] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None


Restorer = Callable[[torch.Tensor], torch.Tensor]


class Engine:
    """Loads the restorer, detector and parser once; ``enhance`` serves any number of threads."""

    def __init__(self, config: EngineConfig | None = None, *, restorer: torch.nn.Module | None = None,
                 detector: FaceDetector | None = None, parser: FaceParser | None = None,
                 progress: Callable[[int, int | None], None] | None = None):
        """Models not given are loaded from the registry / model folder (downloaded if allowed)."""
        self.config = config or EngineConfig()
        self.plan: DevicePlan = plan_device(self.config.device, self.config.precision)
        resolve = dict(folder=self.config.models_folder, download=self.config.download, progress=progress)
        if restorer is None:
            restorer = load_restorer(self.config.model, **resolve)
        self.restorer = restorer.to(self.plan.device).eval()
        if self.config.compile:
            self.restorer = compile_restorer(self.restorer)
        self.size_px = int(restorer.size)
        # The detector and the parser stay in float32 whatever the restorer's precision: reduced precision
        # moves landmarks (and so the whole alignment), and the parser's masks were not measured in it.
        self.detector = detector or FaceDetector.from_file(
            resolve_model_file(self.config.detector, **resolve), self.plan.device, torch.float32)
        self.parser = parser or FaceParser.from_file(
            resolve_model_file(registry.PARSER, **resolve), self.plan.device, torch.float32)
        if self.config.compile:   # new wrappers: the originals may be shared with other engines
            if isinstance(self.parser, FaceParser):
                self.parser = FaceParser(CompiledModule(self.parser.model), self.parser.device, self.parser.dtype)
            if isinstance(self.detector, FaceDetector):   # one graph for every photo size
                self.detector = FaceDetector(CompiledModule(self.detector.model, dynamic=True),
                                             self.detector.device, self.detector.dtype)

    @property
    def model_name(self) -> str:
        return Path(str(self.config.model)).stem

    # ---- the pipeline ----------------------------------------------------------------------
    def enhance(self, images: Sequence[np.ndarray], options: EnhanceOptions | None = None) -> list[EnhanceResult]:
        """Restore every chosen face in each RGB uint8 photo; one result per photo, in order.

        A photo that fails (for example a face the network cannot restore) gets an error in its
        result; the others are unaffected.
        """
        options = options or EnhanceOptions()
        jobs = self.prepare(images, options)
        self.restore(jobs)
        return [self.finish(job, options) for job in jobs]

    def enhance_one(self, image: np.ndarray, options: EnhanceOptions | None = None) -> EnhanceResult:
        return self.enhance([image], options)[0]

    # The three stages of ``enhance``, public so that a batch run can overlap them across photos:
    # prepare (detect, align) → restore (the network, batched across photos) → finish (mask, paste).
    def prepare(self, images: Sequence[np.ndarray], options: EnhanceOptions) -> list[PhotoJob]:
        """Stage 1: detect, choose and align the faces of each photo."""
        jobs = [PhotoJob(np.ascontiguousarray(image)) for image in images]
        for job in jobs:
            self._prepare(job, options)
        return jobs

    def restore(self, jobs: Sequence[PhotoJob]) -> None:
        """Stage 2: run the network on the faces of all these photos together, in batches."""
        self._restore_all([job for job in jobs if job.error is None])

    def _prepare(self, job: PhotoJob, options: EnhanceOptions) -> None:
        """Detect, choose and align the faces of one photo (or take the whole photo when aligned)."""
        started = time.perf_counter()
        try:
            if job.image.ndim != 3 or job.image.shape[2] != 3 or job.image.dtype != np.uint8:
                raise ValueError(f"expected an HxWx3 uint8 RGB image, got {job.image.dtype} {job.image.shape}")
            if options.aligned:
                # As the official --aligned: the whole input, resized to the model size, is the crop.
                size = self.size_px
                crop = job.image if job.image.shape[:2] == (size, size) else cv2.resize(
                    job.image, (size, size), interpolation=cv2.INTER_LINEAR)
                job.crops.append(np.ascontiguousarray(crop))
            else:
                found = self.detector.detect(job.image)
                job.faces = face_geometry.select_faces(found, options.faces, job.image.shape[:2], options.min_face_px)
                for face in job.faces:
                    crop, matrix = face_geometry.align_face(job.image, face.landmarks, self.size_px)
                    job.crops.append(crop)
                    job.matrices.append(matrix)
        except (GpenError, ValueError, RuntimeError, cv2.error) as error:
            job.error = f"face detection failed: {error}"
        job.seconds["detect"] = time.perf_counter() - started

    def _restore_all(self, jobs: list[PhotoJob]) -> None:
        """Run the network on the crops of all photos together, ``batch_size`` at a time."""
        started = time.perf_counter()
        owners = [(job, index) for job in jobs for index in range(len(job.crops))]
        for job in jobs:
            job.restored = [None] * len(job.crops)
        size = self.config.batch_size
        for start in range(0, len(owners), size):
            chunk = owners[start:start + size]
            outputs = self._restore_batch([job.crops[index] for job, index in chunk])
            for (job, index), output in zip(chunk, outputs):
                if isinstance(output, Exception):
                    job.error = job.error or f"face restoration failed: {output}"
                else:
                    job.restored[index] = output
        elapsed = time.perf_counter() - started
        total = max(1, len(owners))
        for job in jobs:   # each photo is charged its share of the shared batches
            job.seconds["restore"] = elapsed * len(job.crops) / total

    def _restore_batch(self, crops: list[np.ndarray]) -> list[np.ndarray | Exception]:
        """Restore crops; on out-of-memory split the batch and retry, down to one face."""
        try:
            return list(self.restore_crops(crops))
        except torch.OutOfMemoryError as error:
            if self.plan.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(crops) == 1:
                return [RestorationError(f"out of memory on {self.plan.device} even for a single face ({error})")]
            half = len(crops) // 2
            log.warning("out of memory at batch %d; retrying as %d + %d", len(crops), half, len(crops) - half)
            return self._restore_batch(crops[:half]) + self._restore_batch(crops[half:])
        except RuntimeError as error:   # a device-side fault: these faces fail, the engine keeps serving
            advice = " The GPU is in an error state: restart the program." if "CUDA error" in str(error) else ""
            log.error("the network failed on %s: %s", self.plan.device, error)
            return [RestorationError(f"the network failed on {self.plan.device}: {error}.{advice}")] * len(crops)

    def restore_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """The network on aligned RGB uint8 crops (N x size x size x 3) → restored crops, same shape."""
        batch = torch.from_numpy(np.stack(crops))
        if self.plan.device.type == "cuda":   # page-locked memory lets the copy run asynchronously
            batch = batch.pin_memory()
        batch = batch.to(self.plan.device, non_blocking=True)
        batch = batch.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        with inference_context(self.plan):
            output = self.restorer(batch)
        if self.plan.precision != "fp32" and not bool(torch.isfinite(output).all()):
            # fp16 can overflow in StyleGAN2-type generators: never paste that, redo it in float32.
            log.warning("non-finite values in a %s batch; recomputing it in float32", self.plan.precision)
            with torch.inference_mode():
                output = self.restorer(batch)
        output = ((output.float() * 0.5 + 0.5).clamp_(0, 1) * 255).to(torch.uint8)  # truncates, as official
        return output.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def finish(self, job: PhotoJob, options: EnhanceOptions) -> EnhanceResult:
        """Stage 3: adjust, mask and paste the restored faces (or blend the restored aligned crop), then
        apply the whole-photo controls (``gpen.adjustments``)."""
        if job.error is not None:
            return EnhanceResult(None, tuple(job.faces), job.seconds, job.error)
        started = time.perf_counter()
        adjusting = 0.0
        try:
            if options.aligned:
                # The aligned input is all face: the face controls see a mask of ones.
                adjust_started = time.perf_counter()
                whole = np.ones(job.crops[0].shape[:2], np.float32)
                restored = adjustments.adjust_face(job.restored[0], job.crops[0], whole,
                                                   skin_protection=options.skin_protection, detail=options.detail)
                base = adjustments.denoise(job.crops[0], options.denoise).astype(np.float32)
                adjusting += time.perf_counter() - adjust_started
                blended = base + options.strength * (restored.astype(np.float32) - base)
                image = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
            else:
                mask_started = time.perf_counter()
                masks = self.parser.masks(job.restored)   # parsed before the small-face blur, as official
                job.seconds["parse"] = time.perf_counter() - mask_started
                adjust_started = time.perf_counter()
                # Colour statistics skip the black border that alignment adds beyond the photo's edges.
                seen = [mask * face_geometry.crop_coverage(matrix, mask.shape[0], job.image.shape)
                        for mask, matrix in zip(masks, job.matrices)] if options.skin_protection else masks
                restored = [adjustments.adjust_face(crop, original, weights, skin_protection=options.skin_protection,
                                                    detail=options.detail)
                            for crop, original, weights in zip(job.restored, job.crops, seen)]
                base = adjustments.denoise(job.image, options.denoise)
                adjusting += time.perf_counter() - adjust_started
                restored = [soften_if_small(crop, face) for crop, face in zip(restored, job.faces)]
                pasted = tuple(RestoredFace(crop, mask, matrix)
                               for crop, mask, matrix in zip(restored, masks, job.matrices))
                image = face_geometry.paste_faces(base, pasted, options.strength)
            adjust_started = time.perf_counter()
            image = adjustments.adjust_photo(image, contrast=options.contrast, brightness=options.brightness,
                                             sharpen_amount=options.sharpen)
            adjusting += time.perf_counter() - adjust_started
        except (GpenError, ValueError, RuntimeError, cv2.error) as error:
            return EnhanceResult(None, tuple(job.faces), job.seconds, f"pasting faces failed: {error}")
        job.seconds["adjust"] = adjusting
        job.seconds["paste"] = time.perf_counter() - started - job.seconds.get("parse", 0.0) - adjusting
        return EnhanceResult(image, tuple(job.faces), job.seconds, pasted=() if options.aligned else pasted)


def soften_if_small(crop: np.ndarray, face: Face) -> np.ndarray:
    """Official small-face handling: blur the restored crop of a face detected under 100 px."""
    return face_geometry.soften_small_face(crop) if face.short_side_px < face_geometry.SMALL_FACE_PX else crop
