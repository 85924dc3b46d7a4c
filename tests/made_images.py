"""Small images made in the tests, with PIL, numpy, OpenCV or a few bytes of hand-made PNG: four flat
quadrants of known colours, raw PNG chunks, EXIF orientation, and the checks every loaded photo meets."""
from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from gpen.images import LoadedImage

HEIGHT, WIDTH = 48, 64
RED, GREEN, BLUE, YELLOW = (220, 30, 40), (30, 200, 60), (40, 50, 210), (230, 220, 40)
ORIENTATION_TAG = 0x0112

# Samples whose 16 -> 8 bit rounding differs from PIL's "keep the high byte".
SIXTEEN_BIT_VALUES = np.array([0, 255, 256, 32896, 65535, 0x80FF, 0x00FF, 0xFF00], dtype=np.uint16)
SIXTEEN_BIT_EXPECTED = np.array([0, 1, 1, 128, 255, 128, 1, 254], dtype=np.uint8)


# ----------------------------------------------------------------------------------------------
# Helpers


def quadrants() -> np.ndarray:
    """A non-square image with one flat colour per quadrant: red, green / blue, yellow."""
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[: HEIGHT // 2, : WIDTH // 2] = RED
    image[: HEIGHT // 2, WIDTH // 2 :] = GREEN
    image[HEIGHT // 2 :, : WIDTH // 2] = BLUE
    image[HEIGHT // 2 :, WIDTH // 2 :] = YELLOW
    return image


def quadrant_colours(image: np.ndarray) -> list[tuple[int, ...]]:
    """Colour at the centre of each quadrant: top-left, top-right, bottom-left, bottom-right."""
    height, width = image.shape[:2]
    points = [(height // 4, width // 4), (height // 4, 3 * width // 4)]
    points += [(3 * height // 4, width // 4), (3 * height // 4, 3 * width // 4)]
    return [tuple(int(value) for value in image[row, column]) for row, column in points]


def assert_colours_close(actual: np.ndarray, expected: np.ndarray, tolerance: int) -> None:
    assert actual.shape == expected.shape
    difference = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    for got, want in zip(quadrant_colours(actual), quadrant_colours(expected)):
        assert max(abs(a - b) for a, b in zip(got, want)) <= tolerance, (got, want)
    assert difference.mean() <= tolerance


def assert_contract(loaded: LoadedImage) -> None:
    """The engine's image contract: HxWx3 uint8 RGB, C-contiguous, writable; alpha HxW uint8."""
    assert isinstance(loaded.rgb, np.ndarray)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3
    assert loaded.rgb.flags.c_contiguous and loaded.rgb.flags.writeable
    if loaded.alpha is not None:
        assert loaded.alpha.dtype == np.uint8 and loaded.alpha.shape == loaded.rgb.shape[:2]
        assert loaded.alpha.flags.c_contiguous and loaded.alpha.flags.writeable
    assert loaded.bit_depth in (8, 16)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    checksum = struct.pack(">I", zlib.crc32(kind + payload))
    return struct.pack(">I", len(payload)) + kind + payload + checksum


def png_bytes(
    width: int, height: int, bit_depth: int, colour_type: int, rows: Iterable[bytes], level: int = 9
) -> bytes:
    """A valid PNG from raw scanlines (filter type 0), compressed as a stream."""
    compressor = zlib.compressobj(level)
    parts = [compressor.compress(b"\x00" + row) for row in rows]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def with_exif_chunk(png: bytes, orientation: int) -> bytes:
    """Insert an eXIf chunk carrying an orientation right after IHDR (8 + 25 bytes in)."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    payload = exif.tobytes()
    payload = payload.removeprefix(b"Exif\x00\x00")
    return png[:33] + png_chunk(b"eXIf", payload) + png[33:]


def encode_with_opencv(extension: str, array: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(extension, array)
    assert ok
    return encoded.tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def peak_memory_bytes() -> int:
    """Peak resident memory of this process so far (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


