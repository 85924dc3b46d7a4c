"""Reading image files: every input mode normalised to RGB uint8 (and kept at 16 bits where it had them).

The contract used by the whole engine: an image is an HxWx3 ``uint8`` array in RGB order, C-contiguous;
alpha, when the file has it, travels separately as an HxW ``uint8`` array.

Pixel limits are checked from the header, before any pixel is decoded, and by this module only: PIL's
own decompression-bomb check reads the process-wide ``Image.MAX_IMAGE_PIXELS`` (which other code may
change, or set to ``None``) and warns on an ordinary 10000x10000 photo, so files are identified with
PIL's format plugins directly instead of ``Image.open``, which runs that check.
"""
from __future__ import annotations

import io
import logging
import os
import re
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np
from PIL import (
    BmpImagePlugin,  # noqa: F401  (importing a plugin registers its format)
    GifImagePlugin,  # noqa: F401
    Image,
    ImageFile,
    JpegImagePlugin,  # noqa: F401
    PngImagePlugin,  # noqa: F401
    TiffImagePlugin,  # noqa: F401
    UnidentifiedImageError,
    WebPImagePlugin,  # noqa: F401
)

from gpen.errors import ImageReadError, ImageTooLargeError, os_error_reason
from gpen.messages import Message
from gpen.metadata import ImageMetadata, read_metadata

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest image accepted by default: a 10000x10000 photo passes, a 40000x40000 one is refused."""

SUPPORTED_INPUT_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)
"""File extensions (lower case, with the dot) that a batch picks up as inputs."""

UNREADABLE_IMAGE_EXTENSIONS = frozenset({".heic", ".heif", ".avif", ".jxl", ".jp2", ".dng", ".cr2", ".nef", ".arw",
                                         ".raf", ".orf", ".rw2", ".psd"})
"""Image files a folder may hold that this loader cannot read: they get a report row saying so."""

# Only these PIL formats are ever decoded: others (EPS runs Ghostscript, for one) are refused.
_READ_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")

_BYTES_NAME = "<bytes>"
_ORIENTATION_TAG = 0x0112
_PIL_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_BAND_ROWS = 256   # rows converted at a time, so that wide temporaries stay small on huge photos

Decoded = tuple[np.ndarray, "np.ndarray | None", "np.ndarray | None", "np.ndarray | None"]
"""(rgb uint8, alpha uint8, rgb uint16, alpha uint16): the 16-bit arrays only for 16-bit files."""

# Errors PIL raises on data it cannot decode (after the format was recognised).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image in the engine's contract, plus what the file said about itself."""

    rgb: np.ndarray
    """HxWx3 uint8, RGB order, C-contiguous, EXIF orientation applied."""
    alpha: np.ndarray | None
    """HxW uint8 when the file has transparency (RGBA, LA, PA, palette or colour-key transparency)."""
    format: str
    """PIL's format name: "JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF" (or "MPO" for some camera JPEGs)."""
    source_mode: str
    """The file's own PIL mode before conversion, e.g. "RGB", "CMYK", "I;16", "P"."""
    bit_depth: int
    """8, or 16 when the file stores more than 8 bits per sample (16-bit PNG/TIFF, 32-bit int/float)."""
    metadata: ImageMetadata = ImageMetadata()
    """EXIF, ICC profile, resolution, text and XMP, for the output file (``gpen.metadata``)."""
    gray: bool = False
    """The file is grayscale (its output is written grayscale too)."""
    frames: int = 1
    """Frames or pages in the file; only the first is read."""
    rgb16: np.ndarray | None = None
    """HxWx3 uint16, the same pixels at full precision, for files with 16 bits per sample."""
    alpha16: np.ndarray | None = None
    """HxW uint16 alpha at full precision, when ``rgb16`` is set and the file has alpha."""


# ----------------------------------------------------------------------------------------------
# Reading


def load_image(
    source: str | os.PathLike[str] | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> LoadedImage:
    """Decode a JPEG, PNG, WebP, BMP, TIFF or GIF (first frame) file or byte string.

    The pixel count is checked against ``max_pixels`` from the header, before decoding. Raises
    ``ImageTooLargeError`` for images over the limit and ``ImageReadError`` for anything unreadable;
    every message names the file (for in-memory data ``name``, the file the bytes came from, else ``<bytes>``).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or _BYTES_NAME
        with io.BytesIO(bytes(source)) as handle:
            return _load_from_handle(handle, name, max_pixels)
    name = os.fspath(source)
    try:
        handle = open(name, "rb")  # noqa: SIM115  (closed by the with below)
    except FileNotFoundError:
        raise ImageReadError(Message("read_missing", name=name)) from None
    except IsADirectoryError:
        raise ImageReadError(Message("read_folder", name=name)) from None
    except PermissionError:
        raise ImageReadError(Message("read_permission", name=name)) from None
    except OSError as error:
        raise ImageReadError(Message("read_os_error", name=name, reason=os_error_reason(error))) from error
    with handle:
        return _load_from_handle(handle, name, max_pixels)


def _load_from_handle(handle: BinaryIO, name: str, max_pixels: int) -> LoadedImage:
    if _is_empty(handle):
        raise ImageReadError(Message("read_empty", name=name))
    image = _identify(handle, name, max_pixels)
    try:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLargeError(Message("read_too_large", name=name, width=width, height=height,
                                             pixels=width * height, limit=max_pixels))
        source_format = image.format or "unknown"
        source_mode = image.mode
        bit_depth = _bit_depth(image)
        frames = int(getattr(image, "n_frames", 1) or 1)
        orientation = _orientation(image, name)
        decoded = None
        if bit_depth == 16 and image.mode in ("RGB", "RGBA"):
            # PIL keeps only the high byte of 16-bit colour samples; OpenCV gives all 16 bits. PIL's own
            # decode is skipped: a second copy of a 100-megapixel photo is gigabytes.
            decoded = _decode_sixteen_bit_colour(handle, (height, width), name)
        if decoded is None:
            _decode(image, name, max_pixels)
            decoded = _to_rgb_and_alpha(image, name)
        metadata = read_metadata(image)
    finally:
        image.close()
    rgb, alpha, rgb16, alpha16 = decoded
    # One orientation step for every array, on views; the copies below make them contiguous.
    oriented = [None if array is None else np.ascontiguousarray(_apply_orientation(array, orientation))
                for array in (rgb, alpha, rgb16, alpha16)]
    return LoadedImage(
        rgb=oriented[0],
        alpha=oriented[1],
        format=source_format,
        source_mode=source_mode,
        bit_depth=bit_depth,
        metadata=metadata,
        gray=source_mode in _GRAY_MODES,
        frames=frames,
        rgb16=oriented[2],
        alpha16=oriented[3],
    )


def _is_empty(handle: BinaryIO) -> bool:
    position = handle.tell()
    empty = handle.read(1) == b""
    handle.seek(position)
    return empty


def _identify(handle: BinaryIO, name: str, max_pixels: int) -> ImageFile.ImageFile:
    """Read only the header, with PIL's plugins for the supported formats and without its global limit."""
    handle.seek(0)
    prefix = handle.read(16)
    for format_id in _READ_FORMATS:
        if format_id not in Image.OPEN:
            continue
        factory, accept = Image.OPEN[format_id]
        if accept is not None:
            verdict = accept(prefix)
            if not verdict or isinstance(verdict, str):
                continue
        handle.seek(0)
        try:
            return factory(handle, "")
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue  # not this format after all: try the next, as Image.open does
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise _pil_refused_size(name, error, max_pixels) from error
        except _DECODE_ERRORS as error:
            raise ImageReadError(Message("read_corrupt", name=name, detail=str(error))) from error
    raise ImageReadError(Message("read_not_image", name=name))


def _decode(image: ImageFile.ImageFile, name: str, max_pixels: int) -> None:
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _pil_refused_size(name, error, max_pixels) from error
    except UnidentifiedImageError as error:
        raise ImageReadError(Message("read_not_image_detail", name=name, detail=str(error))) from error
    except _DECODE_ERRORS as error:
        raise ImageReadError(Message("read_corrupt", name=name, detail=str(error))) from error


def _pil_refused_size(name: str, error: Exception, max_pixels: int) -> ImageTooLargeError:
    """PIL's own bomb check fired anyway (a GIF frame can grow the canvas): report it as ours."""
    match = _PIL_BOMB_PIXELS.search(str(error))
    if match:
        return ImageTooLargeError(Message("read_bomb", name=name, pixels=int(match.group(1)), limit=max_pixels))
    return ImageTooLargeError(Message("read_bomb_unknown", name=name, limit=max_pixels))


def _bit_depth(image: ImageFile.ImageFile) -> int:
    """Bits per sample the file stores: read from the decoder's raw mode, so call before ``load``."""
    if image.mode.startswith("I") or image.mode == "F":
        return 16
    if image.format in ("PNG", "TIFF"):
        for tile in image.tile:
            arguments = tile.args
            raw_mode = arguments if isinstance(arguments, str) else (arguments or ("",))[0]
            if isinstance(raw_mode, str) and ";16" in raw_mode:
                return 16
    return 8


def _orientation(image: Image.Image, name: str) -> int:
    try:
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception as error:  # noqa: BLE001  a broken EXIF block must not make the photo unreadable
        logger.debug("Ignoring unreadable EXIF in %s: %s", name, error)
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """What ``ImageOps.exif_transpose`` does for each EXIF orientation, on an HxW or HxWxC array."""
    if orientation == 1:
        return array
    swapped = (1, 0, *range(2, array.ndim))
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.transpose(swapped)
    if orientation == 6:
        return np.rot90(array, k=-1)
    if orientation == 7:
        return array[::-1, ::-1].transpose(swapped)
    return np.rot90(array, k=1)  # 8


def _decode_sixteen_bit_colour(handle: BinaryIO, shape: tuple[int, int], name: str) -> Decoded | None:
    """Full-precision RGB(A) from a 16-bit PNG or TIFF, or None to let PIL decode it at 8 bits."""
    handle.seek(0)
    data = np.frombuffer(handle.read(), dtype=np.uint8)
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:  # e.g. over OpenCV's own pixel limit
        decoded = None
    del data
    if (
        decoded is None
        or decoded.shape[:2] != shape
        or decoded.ndim != 3
        or decoded.shape[2] not in (3, 4)
        or decoded.dtype not in (np.uint8, np.uint16)
    ):
        logger.debug("OpenCV could not decode %s at 16 bits; using PIL's 8-bit result.", name)
        return None
    if decoded.dtype == np.uint8:
        rgb = decoded[..., 2::-1]
        return rgb, (decoded[..., 3] if decoded.shape[2] == 4 else None), None, None
    rgb16 = np.ascontiguousarray(decoded[..., 2::-1])
    alpha16 = np.ascontiguousarray(decoded[..., 3]) if decoded.shape[2] == 4 else None
    del decoded
    return (sixteen_to_eight_bits(rgb16), None if alpha16 is None else sixteen_to_eight_bits(alpha16),
            rgb16, alpha16)


def sixteen_to_eight_bits(values: np.ndarray) -> np.ndarray:
    """Round value/257 (65535 -> 255, 32896 -> 128), clipping anything outside 0..65535; a band of
    rows at a time, so that the wide temporaries stay small."""
    result = np.empty(values.shape, np.uint8)
    for top in range(0, values.shape[0], _BAND_ROWS):
        band = np.clip(values[top:top + _BAND_ROWS].astype(np.int64), 0, 65535)
        result[top:top + _BAND_ROWS] = (band + 128) // 257
    return result


def _float_to_eight_bits(values: np.ndarray) -> np.ndarray:
    """Float samples in 0..1 are scaled to 0..255; larger ranges are taken as 0..255 and clipped."""
    finite = np.nan_to_num(values.astype(np.float64, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    scale = 255.0 if finite.size and float(finite.max()) <= 1.0 else 1.0
    return np.clip(np.rint(finite * scale), 0, 255).astype(np.uint8)


def _to_rgb_and_alpha(image: Image.Image, name: str) -> Decoded:
    mode = image.mode
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I;16N, I (32-bit): 16-bit gray
        gray16 = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        gray = sixteen_to_eight_bits(gray16)
        return np.repeat(gray[..., None], 3, axis=2), None, np.repeat(gray16[..., None], 3, axis=2), None
    if mode == "F":
        gray = _float_to_eight_bits(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=2), None, None, None
    try:
        if image.has_transparency_data:
            rgba = np.array(image if mode == "RGBA" else image.convert("RGBA"))
            return rgba[..., :3], rgba[..., 3], None, None
        return np.array(image if mode == "RGB" else image.convert("RGB")), None, None, None
    except ValueError as error:
        raise ImageReadError(Message("read_mode", name=name, mode=mode, detail=str(error))) from error


