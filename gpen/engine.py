"""The engine: models loaded once, faces of many photos restored together in batches.

``Engine.enhance`` is the whole pipeline for a list of photos:
detect faces → align crops → restore all crops of all photos in batches → parse masks → paste.
An engine keeps no per-call state, so one instance serves any number of threads.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch

from . import adjustments, registry
from . import faces as face_geometry
from .allocator import keep_large_buffers
from .devices import DevicePlan, inference_context, plan_device
from .acceleration import COMPILED_DETECTORS, COMPILED_FOLDER, compile_restorer, keep_compiled_code
from .detection import FaceDetector
from .errors import GpenError, RestorationError
from .messages import Message, message_of
from .faces import Face, RestoredFace
from .stages import AlignedFace, EnhanceResult, PreparedPhoto, RestoredPhoto, timed
from .options import EngineConfig, EnhanceOptions
from .parsing import FaceParser
from .weights import load_restorer, resolve_model_file

log = logging.getLogger(__name__)

Restorer = Callable[[torch.Tensor], torch.Tensor]


class Engine:
    """Loads the restorer, detector and parser once; ``enhance`` serves any number of threads."""

    def __init__(self, config: EngineConfig | None = None, *, restorer: torch.nn.Module | None = None,
                 detector: FaceDetector | None = None, parser: FaceParser | None = None,
                 progress: Callable[[int, int | None], None] | None = None):
        """Models not given are loaded from the registry / model folder (downloaded if allowed)."""
        keep_large_buffers()
        self.config = config or EngineConfig()
        self.plan: DevicePlan = plan_device(self.config.device, self.config.precision)
        resolve = dict(folder=self.config.models_folder, download=self.config.download, progress=progress)
        if restorer is None:
            restorer = load_restorer(self.config.model, **resolve)
        self.restorer = restorer.to(self.plan.device).eval()
        if self.config.compile:
            keep_compiled_code(Path(self.config.models_folder or registry.models_dir()) / COMPILED_FOLDER)
            self.restorer = compile_restorer(self.restorer)
        self.size_px = int(restorer.size)
        # The detector and the parser stay in float32 whatever the restorer's precision: reduced precision
        # moves landmarks (and so the whole alignment), and the parser's masks were not measured in it.
        self.detector = detector or FaceDetector.from_file(
            resolve_model_file(self.config.detector, **resolve), self.plan.device, torch.float32)
        self.parser = parser or FaceParser.from_file(
            resolve_model_file(registry.PARSER, **resolve), self.plan.device, torch.float32)
        if self.config.compile:
            if isinstance(self.parser, FaceParser):
                self.parser = self.parser.compiled()
            if isinstance(self.detector, FaceDetector) and self.config.detector in COMPILED_DETECTORS:
                self.detector = self.detector.compiled(dynamic=True)   # one graph for every photo size

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
        return [self.finish(restored, options) for restored in self.restore(self.prepare(images, options))]

    def enhance_one(self, image: np.ndarray, options: EnhanceOptions | None = None) -> EnhanceResult:
        return self.enhance([image], options)[0]

    def find_faces(self, image: np.ndarray) -> list[Face]:
        """Every face the detector finds in an RGB uint8 photo, in the order people number them (``number_faces``:
        1 is the leftmost), which ``EnhanceOptions.face_numbers`` refers to."""
        return face_geometry.number_faces(self.detector.detect(np.ascontiguousarray(image)))

    # The three stages of ``enhance``, public so that a batch run can overlap them across photos:
    # prepare (detect, align) → restore (the network, batched across photos) → finish (mask, paste).
    def prepare(self, images: Sequence[np.ndarray], options: EnhanceOptions) -> list[PreparedPhoto]:
        """Stage 1: detect, choose and align the faces of each photo (the whole photo when aligned)."""
        return [self._prepare_one(np.ascontiguousarray(image), options) for image in images]

    def _prepare_one(self, image: np.ndarray, options: EnhanceOptions) -> PreparedPhoto:
        seconds: dict[str, float] = {}
        try:
            with timed(seconds, "detect"):
                check_image(image)
                if options.aligned:
                    return PreparedPhoto(image, (aligned_input(image, self.size_px),), seconds)
                faces = self._align(image, self.detector.detect(image), options)
        except (GpenError, ValueError, RuntimeError, cv2.error) as error:
            return PreparedPhoto(image, (), seconds, _failure("detection_failed", error))
        return PreparedPhoto(image, faces, seconds)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Every face the detector finds in an RGB uint8 image, unchosen and unaligned (for tracking)."""
        check_image(image)
        return self.detector.detect(np.ascontiguousarray(image))

    def prepare_faces(self, image: np.ndarray, faces: Sequence[Face], options: EnhanceOptions) -> PreparedPhoto:
        """Stage 1 for faces found elsewhere (a video's tracked, smoothed faces): choose and align them
        as ``prepare`` does the detector's."""
        image = np.ascontiguousarray(image)
        seconds: dict[str, float] = {}
        try:
            with timed(seconds, "align"):
                check_image(image)
                aligned = self._align(image, faces, options)
        except (GpenError, ValueError, RuntimeError, cv2.error) as error:
            return PreparedPhoto(image, (), seconds, _failure("alignment_failed", error))
        return PreparedPhoto(image, aligned, seconds)

    def _align(self, image: np.ndarray, found: Sequence[Face], options: EnhanceOptions) -> tuple[AlignedFace, ...]:
        """The one alignment path: the faces ``options`` chooses, cut out onto the template."""
        chosen = face_geometry.select_faces(found, options.faces, image.shape[:2], options.min_face_px,
                                            options.face_numbers)
        return tuple(AlignedFace(face, *face_geometry.align_face(image, face.landmarks, self.size_px))
                     for face in chosen)

    def restore(self, photos: Sequence[PreparedPhoto]) -> list[RestoredPhoto]:
        """Stage 2: run the network on the faces of all these photos together, ``batch_size`` at a time.
        Each photo is charged its share of the shared batches' time."""
        started = time.perf_counter()
        owners = [(number, face) for number, photo in enumerate(photos) if photo.error is None
                  for face in photo.faces]
        outputs: list[np.ndarray | Exception] = []
        size = self.config.batch_size
        for start in range(0, len(owners), size):
            outputs += self._restore_batch([face.crop for _, face in owners[start:start + size]])
        share = (time.perf_counter() - started) / max(1, len(owners))
        restored = []
        for number, photo in enumerate(photos):
            mine = [output for (owner, _), output in zip(owners, outputs) if owner == number]
            seconds = {**photo.seconds, "restore": share * len(mine)}
            failure = next((output for output in mine if isinstance(output, Exception)), None)
            error = photo.error
            if error is None and failure is not None:
                error = Message("restoration_failed", reason=message_of(failure))
            restored.append(RestoredPhoto(photo, () if error else tuple(mine), seconds, error))
        return restored

    def _restore_batch(self, crops: list[np.ndarray]) -> list[np.ndarray | Exception]:
        """Restore crops; on out-of-memory split the batch and retry, down to one face."""
        try:
            return list(self.restore_crops(crops))
        except torch.OutOfMemoryError as error:
            if self.plan.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(crops) == 1:
                return [RestorationError(Message("out_of_memory", device=self.plan.device, detail=str(error)))]
            half = len(crops) // 2
            log.warning("out of memory at batch %d; retrying as %d + %d", len(crops), half, len(crops) - half)
            return self._restore_batch(crops[:half]) + self._restore_batch(crops[half:])
        except RuntimeError as error:   # a device-side fault: these faces fail, the engine keeps serving
            said = "network_failed_gpu" if "CUDA error" in str(error) else "network_failed"
            log.error("the network failed on %s: %s", self.plan.device, error)
            return [RestorationError(Message(said, device=self.plan.device, detail=str(error)))] * len(crops)

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

    def finish(self, photo: RestoredPhoto, options: EnhanceOptions) -> EnhanceResult:
        """Stage 3: adjust, mask and paste the restored faces (or blend the restored aligned crop), then
        apply the whole-photo controls (``gpen.adjustments``)."""
        prepared, seconds = photo.prepared, dict(photo.seconds)
        if photo.error is not None:
            return EnhanceResult(None, prepared.detected, seconds, photo.error)
        try:
            if options.aligned:
                image, pasted = finish_aligned_input(prepared.faces[0].crop, photo.crops[0], options, seconds), ()
            else:
                image, pasted = self._paste(prepared, photo.crops, options, seconds)
            with timed(seconds, "adjust"):
                image = adjustments.adjust_photo(image, contrast=options.contrast, brightness=options.brightness,
                                                 sharpen_amount=options.sharpen)
        except (GpenError, ValueError, RuntimeError, cv2.error) as error:
            return EnhanceResult(None, prepared.detected, seconds, _failure("paste_failed", error))
        return EnhanceResult(image, prepared.detected, seconds, pasted=pasted)

    def _paste(self, prepared: PreparedPhoto, crops: Sequence[np.ndarray], options: EnhanceOptions,
               seconds: dict[str, float]) -> tuple[np.ndarray, tuple[RestoredFace, ...]]:
        """The face controls, the parser's masks and the paste of each restored face onto the photo."""
        with timed(seconds, "parse"):
            masks = self.parser.masks(list(crops))   # parsed before the small-face blur, as official
        with timed(seconds, "adjust"):
            # Colour statistics skip the black border that alignment adds beyond the photo's edges.
            seen = [mask * face_geometry.crop_coverage(face.matrix, mask.shape[0], prepared.image.shape)
                    for mask, face in zip(masks, prepared.faces)] if options.skin_protection else masks
            adjusted = [adjustments.adjust_face(crop, face.crop, weights, skin_protection=options.skin_protection,
                                                detail=options.detail)
                        for crop, face, weights in zip(crops, prepared.faces, seen)]
            base = adjustments.denoise(prepared.image, options.denoise)
        with timed(seconds, "paste"):
            pasted = tuple(RestoredFace(soften_if_small(crop, face.face), mask, face.matrix)
                           for crop, face, mask in zip(adjusted, prepared.faces, masks))
            return face_geometry.paste_faces(base, pasted, options.strength), pasted


def check_image(image: np.ndarray) -> None:
    """``ValueError`` unless ``image`` is an HxWx3 uint8 (RGB) array."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")


def aligned_input(image: np.ndarray, size_px: int) -> AlignedFace:
    """Aligned mode, as the official ``--aligned``: the whole input, resized to the model size, is the crop."""
    crop = image if image.shape[:2] == (size_px, size_px) else cv2.resize(
        image, (size_px, size_px), interpolation=cv2.INTER_LINEAR)
    return AlignedFace(None, np.ascontiguousarray(crop), None)


def finish_aligned_input(crop: np.ndarray, restored: np.ndarray, options: EnhanceOptions,
                         seconds: dict[str, float]) -> np.ndarray:
    """Aligned mode's result: the face controls with a mask of ones (the input is all face), the photo
    denoised, and the restored crop blended over it by ``strength``."""
    with timed(seconds, "adjust"):
        whole = np.ones(crop.shape[:2], np.float32)
        restored = adjustments.adjust_face(restored, crop, whole, skin_protection=options.skin_protection,
                                           detail=options.detail)
        base = adjustments.denoise(crop, options.denoise).astype(np.float32)
    blended = base + options.strength * (restored.astype(np.float32) - base)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def soften_if_small(crop: np.ndarray, face: Face) -> np.ndarray:
    """Official small-face handling: blur the restored crop of a face detected under 100 px."""
    return face_geometry.soften_small_face(crop) if face.short_side_px < face_geometry.SMALL_FACE_PX else crop


def _failure(message_id: str, error: Exception) -> Message:
    """What a photo's failed stage says: the error's own ``Message`` (a face number that is not there), else
    ``message_id`` with the error's words, which are logged too."""
    said = message_of(error)
    if isinstance(said, Message):
        return said
    log.warning("%s: %s: %s", message_id, type(error).__name__, error)
    return Message(message_id, detail=str(error))
