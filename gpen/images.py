"""Image files in and out: every input mode normalised to RGB uint8, atomic writes, batch output names.

The contract used by the whole engine: an image is an HxWx3 ``uint8`` array in RGB order, C-contiguous;
alpha, when the file has it, travels separately as an HxW ``uint8`` array.

Pixel limits are checked from the header, before any pixel is decoded, and by this module only: PIL's
own decompression-bomb check reads the process-wide ``Image.MAX_IMAGE_PIXELS`` (which other code may
change, or set to ``None``) and warns on an ordinary 10000x10000 photo, so files are identified with
PIL's format plugins directly instead of ``Image.open``, which runs that check.
"""
from __future__ import annotations

import errno
import glob
import hashlib
import io
import logging
import os
import re
import secrets
import struct
import unicodedata
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, get_args

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

from gpen.errors import ImageReadError, ImageTooLargeError, ImageWriteError
from gpen.metadata import ImageMetadata, add_png_chunks, pillow_save_options, png_metadata_chunks, read_metadata

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

OutputFormat = Literal["same", "png", "jpg", "webp"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
"""Output formats offered to people (CLI choices, UI radio); "same" keeps each input's own format."""

# Only these PIL formats are ever decoded: others (EPS runs Ghostscript, for one) are refused.
_READ_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")

# Extension -> (PIL format, can hold alpha).
_WRITE_FORMATS: dict[str, tuple[str, bool]] = {
    "png": ("PNG", True),
    "jpg": ("JPEG", False),
    "jpeg": ("JPEG", False),
    "webp": ("WEBP", True),
    "bmp": ("BMP", False),
    "tif": ("TIFF", True),
    "tiff": ("TIFF", True),
}

_BYTES_NAME = "<bytes>"
_MAX_NAME_BYTES = 200
_HASH_LENGTH = 10
_ORIENTATION_TAG = 0x0112
_PIL_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")

_OS_REASONS = {
    code: reason
    for name, reason in (
        ("ENOSPC", "disk full"),
        ("EDQUOT", "disk quota exceeded"),
        ("EACCES", "permission denied"),
        ("EPERM", "permission denied"),
        ("EROFS", "read-only file system"),
        ("ENAMETOOLONG", "file name too long"),
    )
    if (code := getattr(errno, name, None)) is not None
}

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
    source: str | os.PathLike[str] | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LoadedImage:
    """Decode a JPEG, PNG, WebP, BMP, TIFF or GIF (first frame) file or byte string.

    The pixel count is checked against ``max_pixels`` from the header, before decoding. Raises
    ``ImageTooLargeError`` for images over the limit and ``ImageReadError`` for anything unreadable;
    every message names the file (``<bytes>`` for in-memory data).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = _BYTES_NAME
        with io.BytesIO(bytes(source)) as handle:
            return _load_from_handle(handle, name, max_pixels)
    name = os.fspath(source)
    try:
        handle = open(name, "rb")  # noqa: SIM115  (closed by the with below)
    except FileNotFoundError:
        raise ImageReadError(f"Cannot read {name}: the file does not exist.") from None
    except IsADirectoryError:
        raise ImageReadError(f"Cannot read {name}: it is a folder, not an image file.") from None
    except PermissionError:
        raise ImageReadError(
            f"Cannot read {name}: permission denied. Check the file's permissions."
        ) from None
    except OSError as error:
        raise ImageReadError(f"Cannot read {name}: {_os_reason(error)}.") from error
    with handle:
        return _load_from_handle(handle, name, max_pixels)


def _load_from_handle(handle: BinaryIO, name: str, max_pixels: int) -> LoadedImage:
    if _is_empty(handle):
        raise ImageReadError(f"Cannot read {name}: the file is empty (0 bytes).")
    image = _identify(handle, name, max_pixels)
    try:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"Cannot read {name}: it is {width}x{height} = {width * height:,} pixels, more than "
                f"the limit of {max_pixels:,} pixels. It was refused before decoding (it could be a "
                "decompression bomb); shrink the image or raise the limit."
            )
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
            raise ImageReadError(
                f"Cannot read {name}: the file is truncated or corrupt ({error}). "
                "Export or download it again."
            ) from error
    raise ImageReadError(
        f"Cannot read {name}: not an image or unsupported format (supported: JPEG, PNG, WebP, BMP, "
        "TIFF, GIF)."
    )


def _decode(image: ImageFile.ImageFile, name: str, max_pixels: int) -> None:
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise _pil_refused_size(name, error, max_pixels) from error
    except UnidentifiedImageError as error:
        raise ImageReadError(
            f"Cannot read {name}: not an image or unsupported format ({error})."
        ) from error
    except _DECODE_ERRORS as error:
        raise ImageReadError(
            f"Cannot read {name}: the file is truncated or corrupt ({error}). "
            "Export or download it again."
        ) from error


def _pil_refused_size(name: str, error: Exception, max_pixels: int) -> ImageTooLargeError:
    """PIL's own bomb check fired anyway (a GIF frame can grow the canvas): report it as ours."""
    match = _PIL_BOMB_PIXELS.search(str(error))
    declared = f"{int(match.group(1)):,} pixels" if match else "more pixels than the decoder allows"
    return ImageTooLargeError(
        f"Cannot read {name}: it declares {declared} (limit {max_pixels:,} pixels) and was refused "
        "as a possible decompression bomb; shrink the image or raise the limit."
    )


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
    return (_sixteen_to_eight_bits(rgb16), None if alpha16 is None else _sixteen_to_eight_bits(alpha16),
            rgb16, alpha16)


def _sixteen_to_eight_bits(values: np.ndarray) -> np.ndarray:
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
        gray = _sixteen_to_eight_bits(gray16)
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
        raise ImageReadError(
            f"Cannot read {name}: its colour mode {mode} is not supported ({error})."
        ) from error


# ----------------------------------------------------------------------------------------------
# Writing


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
    if extension not in _WRITE_FORMATS:
        known = ", ".join(f".{name}" for name in _WRITE_FORMATS)
        raise ImageWriteError(
            f"Cannot write {target}: unknown image extension {target.suffix or '(none)'!r}; "
            f"use one of {known}."
        )
    pil_format, keeps_alpha = _WRITE_FORMATS[extension]
    _check_arrays(target, rgb, alpha)
    if not 1 <= quality <= 100:
        raise ImageWriteError(f"Cannot write {target}: quality must be 1..100, got {quality}.")
    metadata = metadata or ImageMetadata()
    if not keeps_alpha:
        alpha = None
    if rgb.dtype == np.uint16 and pil_format not in ("PNG", "TIFF"):
        rgb = _sixteen_to_eight_bits(rgb)
        alpha = None if alpha is None else _sixteen_to_eight_bits(alpha)

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageWriteError(
            f"Cannot write {target}: the folder could not be created ({_os_reason(error)})."
        ) from error
    temporary, descriptor = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            _encode(handle, rgb, alpha, pil_format, quality, metadata, gray)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        _remove_quietly(temporary)
        if not isinstance(error, Exception):
            raise  # KeyboardInterrupt and friends: clean up, then let them through
        if isinstance(error, OSError):
            advice = "Free some space, check permissions or pick another folder."
            reason = _os_reason(error)
        else:
            advice = "Try another format."
            reason = str(error) or type(error).__name__
        raise ImageWriteError(
            f"Cannot write {target}: {reason}. Nothing was written. {advice}"
        ) from error
    _sync_folder(target.parent)
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
    removed = 0
    for stale in Path(target).parent.glob(f".{glob.escape(Path(target).name)}.tmp-*"):
        _remove_quietly(stale)
        removed += 1
    return removed


def _create_temporary(target: Path) -> tuple[Path, int]:
    """Create ``.<name>.tmp-<random>`` beside the target (same file system: the rename is atomic)."""
    for _ in range(100):
        temporary = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
        try:
            # 0o666 and the umask, like an ordinary new file (mkstemp would force 0o600).
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise ImageWriteError(f"Cannot write {target}: {_os_reason(error)}.") from error
        return temporary, descriptor
    raise ImageWriteError(f"Cannot write {target}: could not create a temporary file beside it.")


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as error:
        logger.warning("Could not remove temporary file %s: %s", path, error)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every platform can open a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _os_reason(error: OSError) -> str:
    reason = _OS_REASONS.get(error.errno) if error.errno is not None else None
    return reason or error.strerror or str(error) or type(error).__name__


# ----------------------------------------------------------------------------------------------
# Batch output names


def plan_output_paths(
    inputs: Sequence[Path], out_dir: Path, ext: str | None = None, suffix: str = ""
) -> list[Path]:
    """One output path per input, the same every run for the same inputs (so a batch can resume).

    ``out_dir / (stem + suffix + "." + ext)``; ``ext`` defaults to each input's own extension
    (jpeg -> jpg, unwritable ones such as gif -> png). Names that would collide (compared as a
    case-insensitive file system would) get the source extension (``a_jpg.png``), then a number in
    input order (``a_2.png``); an output that would overwrite an input gets ``_gpen``. Names over
    200 UTF-8 bytes keep their start plus a stable hash.
    """
    sources = [Path(item) for item in inputs]
    out_dir = Path(out_dir)
    chosen_ext = None if ext is None else _normalise_extension(ext)
    extensions = [chosen_ext or _default_extension(source) for source in sources]
    stems = [source.stem for source in sources]

    # 1. Same output name, different source extensions: add the source extension to each.
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (stem, extension) in enumerate(zip(stems, extensions)):
        groups[_name_key(_fit_name(stem, suffix, extension))].append(index)
    for members in groups.values():
        source_extensions = {_source_extension(sources[index]) for index in members}
        if len(members) > 1 and len(source_extensions) > 1:
            for index in members:
                source_extension = _source_extension(sources[index])
                if source_extension:
                    stems[index] = f"{stems[index]}_{source_extension}"

    # 2. Claim names in input order: number what still collides, never overwrite an input.
    input_keys = {_path_key(source) for source in sources}
    output_root = _resolve(out_dir)
    taken: set[str] = set()
    outputs: list[Path] = []
    for stem, extension in zip(stems, extensions):
        counter = 1
        while True:
            number = "" if counter == 1 else f"_{counter}"
            name = _fit_name(stem, f"{number}{suffix}", extension)
            if _path_key(output_root / name) in input_keys:
                name = _fit_name(stem, f"{number}{suffix}_gpen", extension)
            key = _name_key(name)
            if key not in taken and _path_key(output_root / name) not in input_keys:
                break
            counter += 1
        taken.add(key)
        outputs.append(out_dir / name)
    return outputs


def _normalise_extension(ext: str) -> str:
    extension = ext.strip().lower().lstrip(".")
    if extension == "jpeg":
        extension = "jpg"
    if extension not in _WRITE_FORMATS:
        known = ", ".join(name for name in _WRITE_FORMATS if name != "jpeg")
        raise ImageWriteError(f"Cannot write .{extension} images; choose one of {known}.")
    return extension


def _source_extension(source: Path) -> str:
    return source.suffix.lower().lstrip(".")


def _default_extension(source: Path) -> str:
    extension = _source_extension(source)
    if extension == "jpeg":
        return "jpg"
    return extension if extension in _WRITE_FORMATS else "png"


def _fit_name(head: str, tail: str, extension: str) -> str:
    """``head + tail + "." + extension``, shortening ``head`` (plus a hash of it) past 200 bytes."""
    name = f"{head}{tail}.{extension}"
    if _utf8_length(name) <= _MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(head.encode("utf-8", "surrogateescape")).hexdigest()[:_HASH_LENGTH]
    budget = _MAX_NAME_BYTES - _utf8_length(f"~{digest}{tail}.{extension}")
    kept: list[str] = []
    used = 0
    for character in head:
        size = _utf8_length(character)
        if used + size > budget:
            break
        kept.append(character)
        used += size
    return f"{''.join(kept)}~{digest}{tail}.{extension}"


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _name_key(name: str) -> str:
    """Names a case-insensitive or normalising file system (macOS, Windows) would treat as one."""
    return unicodedata.normalize("NFC", name).casefold()


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()


def _path_key(path: Path) -> str:
    return _name_key(str(_resolve(path)))
