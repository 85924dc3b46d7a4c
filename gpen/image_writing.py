"""Writing image files: whole or not at all, in the format the extension names, with the input's metadata,
grayscale, alpha and 16 bits kept where the format holds them."""
from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image

from gpen.atomic import atomic_file, temporaries_of
from gpen.errors import ImageWriteError, os_error_reason
from gpen.messages import Message
from gpen.images import sixteen_to_eight_bits
from gpen.metadata import ImageMetadata, add_png_chunks, pillow_save_options, png_metadata_chunks

logger = logging.getLogger(__name__)

# Extension -> (PIL format, can hold alpha).
WRITE_FORMATS: dict[str, tuple[str, bool]] = {
    "png": ("PNG", True),
    "jpg": ("JPEG", False),
    "jpeg": ("JPEG", False),
    "webp": ("WEBP", True),
    "bmp": ("BMP", False),
    "tif": ("TIFF", True),
    "tiff": ("TIFF", True),
}


def save_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    quality: int = 95,
    metadata: ImageMetadata | None = None,
    gray: bool = False,
) -> Path:
    """Write an RGB (+ alpha) image atomically; the format comes from the extension.

    ``rgb`` (and ``alpha``) are uint8, or uint16 for a 16-bit result: PNG and TIFF are written with 16
    bits per sample, the other formats at 8 bits. ``gray`` writes the luminance only (for grayscale
    inputs). ``metadata`` (EXIF, ICC profile, resolution, text, XMP) is written where the format holds
    it. PNG, WebP and TIFF keep alpha; JPEG and BMP cannot hold it, so it is dropped. The file appears
    complete under its final name or not at all (temp file, fsync, ``os.replace``); on any failure
    the temp file is removed and ``ImageWriteError`` says why. Returns the path written.
    """
    target = Path(path)
    extension = target.suffix.lower().lstrip(".")
    if extension not in WRITE_FORMATS:
        known = ", ".join(f".{name}" for name in WRITE_FORMATS)
        raise ImageWriteError(
            f"Cannot write {target}: unknown image extension {target.suffix or '(none)'!r}; "
            f"use one of {known}."
        )
    pil_format, keeps_alpha = WRITE_FORMATS[extension]
    _check_arrays(target, rgb, alpha)
    if not 1 <= quality <= 100:
        raise ImageWriteError(f"Cannot write {target}: quality must be 1..100, got {quality}.")
    metadata = metadata or ImageMetadata()
    if not keeps_alpha:
        alpha = None
    if rgb.dtype == np.uint16 and pil_format not in ("PNG", "TIFF"):
        rgb = sixteen_to_eight_bits(rgb)
        alpha = None if alpha is None else sixteen_to_eight_bits(alpha)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageWriteError(Message("write_folder", target=target, reason=os_error_reason(error))) from error
    try:
        with atomic_file(target) as handle:
            _encode(handle, rgb, alpha, pil_format, quality, metadata, gray)
    except Exception as error:   # KeyboardInterrupt and friends pass: atomic_file has cleaned up
        if isinstance(error, OSError):
            said = Message("write_os_error", target=target, reason=os_error_reason(error))
        else:
            said = Message("write_encode", target=target, reason=str(error) or type(error).__name__)
        raise ImageWriteError(said) from error
    return target


def _encode(handle: BinaryIO, rgb: np.ndarray, alpha: np.ndarray | None, pil_format: str, quality: int,
            metadata: ImageMetadata, gray: bool) -> None:
    """Encode the pixels (8 bits with Pillow; 16 bits with OpenCV or tifffile) and the metadata."""
    if rgb.dtype == np.uint16:
        base = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if gray else rgb
        if pil_format == "PNG":
            pixels = base if gray else base[..., ::-1]   # OpenCV wants BGR
            pixels = pixels if alpha is None else np.dstack((pixels, alpha))
            ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            del pixels
            if not ok:
                raise ImageWriteError("OpenCV could not encode the 16-bit PNG")
            handle.write(add_png_chunks(encoded.tobytes(), png_metadata_chunks(metadata)))
        else:
            _write_sixteen_bit_tiff(handle, base if alpha is None else np.dstack((base, alpha)), metadata, gray)
        return
    if gray:
        channels = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)] + ([alpha] if alpha is not None else [])
        image = Image.fromarray(channels[0] if len(channels) == 1 else np.dstack(channels))
        if pil_format == "WEBP":   # WebP holds colour only
            image = image.convert("RGBA" if alpha is not None else "RGB")
    elif alpha is not None:
        image = Image.fromarray(np.dstack((rgb, alpha)))
    else:
        image = Image.fromarray(np.ascontiguousarray(rgb))
    options: dict[str, object] = {"format": pil_format, **pillow_save_options(metadata, pil_format)}
    if pil_format == "PNG":
        options["compress_level"] = 1
    elif pil_format in ("JPEG", "WEBP"):
        options["quality"] = quality
    elif pil_format == "TIFF":
        options["compression"] = "tiff_lzw"
    image.save(handle, **options)


def _write_sixteen_bit_tiff(handle: BinaryIO, pixels: np.ndarray, metadata: ImageMetadata, gray: bool) -> None:
    """A 16-bit TIFF (RGB order, or gray) with its ICC profile and resolution, through tifffile."""
    import tifffile

    extra = []
    if metadata.icc_profile:
        extra.append((34675, 7, len(metadata.icc_profile), metadata.icc_profile, True))   # InterColorProfile
    if metadata.xmp:
        extra.append((700, 1, len(metadata.xmp), metadata.xmp, True))                      # XMP
    has_alpha = pixels.ndim == 3 and pixels.shape[2] in (2, 4)
    encoded = io.BytesIO()   # tifffile wants a named file or an in-memory one
    tifffile.imwrite(encoded, np.ascontiguousarray(pixels), photometric="minisblack" if gray else "rgb",
                     extrasamples=("unassalpha",) if has_alpha else None, compression="zlib",
                     resolution=metadata.dpi, resolutionunit="INCH" if metadata.dpi else None,
                     extratags=extra, metadata=None)
    handle.write(encoded.getbuffer())


def _check_arrays(target: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    if not (
        isinstance(rgb, np.ndarray) and rgb.dtype in (np.uint8, np.uint16) and rgb.ndim == 3 and rgb.shape[2] == 3
    ):
        described = f"{getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', type(rgb).__name__)}"
        raise ImageWriteError(
            f"Cannot write {target}: expected an HxWx3 uint8 (or uint16) RGB array, got {described}."
        )
    if alpha is not None and not (
        isinstance(alpha, np.ndarray) and alpha.dtype == rgb.dtype and alpha.shape == rgb.shape[:2]
    ):
        described = f"{getattr(alpha, 'shape', None)} {getattr(alpha, 'dtype', type(alpha).__name__)}"
        raise ImageWriteError(
            f"Cannot write {target}: expected an HxW {rgb.dtype} alpha of {rgb.shape[:2]}, got {described}."
        )


def remove_stale_temporaries(target: Path) -> int:
    """Remove temporary files a killed run left beside ``target``; returns how many."""
    stale = temporaries_of(target)
    for path in stale:
        try:
            path.unlink()
        except OSError as error:
            logger.warning("Could not remove temporary file %s: %s", path, error)
    return len(stale)
