"""Tests for gpen.images: every input mode, broken and hostile files, atomic writes, batch names.

Every input is built here, in tmp_path, with PIL, numpy, OpenCV or a few bytes of hand-made PNG.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import struct
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from bad_inputs import encoded, real_photo
from gpen.errors import ImageReadError, ImageTooLargeError, ImageWriteError
from gpen.image_writing import save_image
from gpen.images import DEFAULT_MAX_PIXELS, SUPPORTED_INPUT_EXTENSIONS, LoadedImage, load_image
from gpen.options import OUTPUT_FORMATS
from gpen.output_names import plan_output_paths

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


# ----------------------------------------------------------------------------------------------
# Formats


@pytest.mark.parametrize(
    ("extension", "pil_format", "options", "tolerance"),
    [
        ("jpg", "JPEG", {"quality": 95}, 6),
        ("png", "PNG", {}, 0),
        ("webp", "WEBP", {"quality": 95}, 8),
        ("bmp", "BMP", {}, 0),
        ("tif", "TIFF", {}, 0),
        ("gif", "GIF", {}, 0),
    ],
)
def test_each_format_loads_with_size_and_colours(
    tmp_path: Path, extension: str, pil_format: str, options: dict, tolerance: int
) -> None:
    path = tmp_path / f"photo.{extension}"
    Image.fromarray(quadrants()).save(path, format=pil_format, **options)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.rgb.shape == (HEIGHT, WIDTH, 3)
    assert loaded.format == pil_format
    assert loaded.alpha is None
    assert loaded.bit_depth == 8
    assert_colours_close(loaded.rgb, quadrants(), tolerance)


def test_bytes_and_path_sources_agree(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(quadrants()).save(path)

    from_path = load_image(path)
    from_string = load_image(str(path))
    from_bytes = load_image(path.read_bytes())

    assert np.array_equal(from_path.rgb, from_bytes.rgb)
    assert np.array_equal(from_path.rgb, from_string.rgb)
    assert from_bytes.format == "PNG"


def test_content_decides_the_format_not_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "really_a_png.jpg"
    Image.fromarray(quadrants()).save(path, format="PNG")

    loaded = load_image(path)

    assert loaded.format == "PNG"
    assert np.array_equal(loaded.rgb, quadrants())


def test_gif_loads_first_frame(tmp_path: Path) -> None:
    path = tmp_path / "animated.gif"
    first = Image.fromarray(quadrants())
    second = Image.fromarray(np.full((HEIGHT, WIDTH, 3), 255, np.uint8))
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)

    loaded = load_image(path)

    assert_colours_close(loaded.rgb, quadrants(), 0)


# ----------------------------------------------------------------------------------------------
# EXIF orientation


@pytest.mark.parametrize(
    ("orientation", "expected_shape", "expected_corners"),
    [
        (3, (HEIGHT, WIDTH, 3), [YELLOW, BLUE, GREEN, RED]),  # 180 degrees
        (6, (WIDTH, HEIGHT, 3), [BLUE, RED, YELLOW, GREEN]),  # 90 degrees clockwise
        (8, (WIDTH, HEIGHT, 3), [GREEN, YELLOW, RED, BLUE]),  # 90 degrees counter-clockwise
    ],
)
def test_jpeg_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, expected_shape: tuple, expected_corners: list
) -> None:
    path = tmp_path / f"oriented_{orientation}.jpg"
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    Image.fromarray(quadrants()).save(path, quality=95, exif=exif)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.rgb.shape == expected_shape
    for got, want in zip(quadrant_colours(loaded.rgb), expected_corners):
        assert max(abs(a - b) for a, b in zip(got, want)) <= 6, (got, want)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pil_exif_transpose(tmp_path: Path, orientation: int) -> None:
    rgba = np.dstack((quadrants(), np.arange(HEIGHT * WIDTH, dtype=np.uint8).reshape(HEIGHT, WIDTH)))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = tmp_path / f"oriented_{orientation}.png"
    Image.fromarray(rgba).save(path, exif=exif)
    expected = np.array(ImageOps.exif_transpose(Image.open(path)))

    loaded = load_image(path)

    assert np.array_equal(loaded.rgb, expected[..., :3])
    assert loaded.alpha is not None and np.array_equal(loaded.alpha, expected[..., 3])


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_is_applied_to_sixteen_bit_colour(tmp_path: Path, orientation: int) -> None:
    """16-bit colour goes through OpenCV, which ignores EXIF: orientation must still apply."""
    eight_bit = quadrants()
    sixteen_bit_bgr = eight_bit[..., ::-1].astype(np.uint16) * 257
    png = with_exif_chunk(encode_with_opencv(".png", sixteen_bit_bgr), orientation)
    path = write(tmp_path / "oriented16.png", png)
    reference = tmp_path / "oriented8.png"
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    Image.fromarray(eight_bit).save(reference, exif=exif)

    loaded = load_image(path)

    assert loaded.bit_depth == 16
    assert np.array_equal(loaded.rgb, load_image(reference).rgb)


def test_broken_exif_does_not_make_the_photo_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "bad_exif.jpg"
    Image.fromarray(quadrants()).save(path, quality=95, exif=b"Exif\x00\x00garbage-not-tiff")

    loaded = load_image(path)

    assert loaded.rgb.shape == (HEIGHT, WIDTH, 3)


# ----------------------------------------------------------------------------------------------
# Colour modes


def gray_ramp() -> np.ndarray:
    return np.tile(np.linspace(0, 255, WIDTH).astype(np.uint8), (HEIGHT, 1))


def test_gray_l(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.fromarray(gray_ramp()).save(path)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.source_mode == "L"
    assert loaded.alpha is None
    assert np.array_equal(loaded.rgb, np.repeat(gray_ramp()[..., None], 3, axis=2))


@pytest.mark.parametrize("extension", ["png", "bmp", "tif"])
def test_one_bit(tmp_path: Path, extension: str) -> None:
    checker = (np.indices((HEIGHT, WIDTH)).sum(axis=0) % 2).astype(bool)
    path = tmp_path / f"bits.{extension}"
    Image.fromarray(checker).save(path)

    loaded = load_image(path)

    assert loaded.source_mode == "1"
    assert set(np.unique(loaded.rgb)) == {0, 255}
    assert np.array_equal(loaded.rgb[..., 0] == 255, checker)


def palette_image(transparent_index: int | None) -> Image.Image:
    indices = np.zeros((HEIGHT, WIDTH), np.uint8)
    indices[:, WIDTH // 2 :] = 1
    indices[HEIGHT // 2 :] = 2
    image = Image.fromarray(indices, mode="L").convert("P")
    image.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 - 3) * 3)
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image


def test_palette_without_transparency(tmp_path: Path) -> None:
    path = tmp_path / "palette.png"
    palette_image(None).save(path)

    loaded = load_image(path)

    assert loaded.source_mode == "P"
    assert loaded.alpha is None
    assert quadrant_colours(loaded.rgb) == [RED, GREEN, BLUE, BLUE]


@pytest.mark.parametrize("extension", ["png", "gif"])
def test_palette_with_transparency_keeps_alpha(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"palette_alpha.{extension}"
    palette_image(transparent_index=0).save(path, transparency=0)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.source_mode == "P"
    assert loaded.alpha is not None
    assert loaded.alpha[0, 0] == 0  # red (index 0) is the transparent colour
    assert loaded.alpha[0, -1] == 255 and loaded.alpha[-1, 0] == 255
    assert quadrant_colours(loaded.rgb)[1:] == [GREEN, BLUE, BLUE]


def test_rgba_alpha_kept_exactly(tmp_path: Path) -> None:
    alpha = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack((quadrants(), alpha))).save(path)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.source_mode == "RGBA"
    assert np.array_equal(loaded.rgb, quadrants())
    assert loaded.alpha is not None and np.array_equal(loaded.alpha, alpha)


def test_la_gray_with_alpha(tmp_path: Path) -> None:
    alpha = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(np.dstack((gray_ramp(), alpha))).save(path)

    loaded = load_image(path)

    assert loaded.source_mode == "LA"
    assert np.array_equal(loaded.rgb, np.repeat(gray_ramp()[..., None], 3, axis=2))
    assert loaded.alpha is not None and np.array_equal(loaded.alpha, alpha)


def test_cmyk_jpeg_colours_close_to_rgb_original(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(quadrants()).convert("CMYK").save(path, quality=95)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.source_mode == "CMYK"
    assert loaded.format == "JPEG"
    assert_colours_close(loaded.rgb, quadrants(), 6)


def test_cmyk_tiff_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.tif"
    Image.fromarray(quadrants()).convert("CMYK").save(path)

    loaded = load_image(path)

    assert loaded.source_mode == "CMYK"
    assert np.array_equal(loaded.rgb, quadrants())


@pytest.mark.parametrize("writer", ["pil_png", "opencv_png", "opencv_tiff", "big_endian_tiff"])
def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path: Path, writer: str) -> None:
    values = SIXTEEN_BIT_VALUES[None, :]
    if writer == "pil_png":
        path = tmp_path / "gray16.png"
        Image.fromarray(values).save(path)
    elif writer == "opencv_png":
        path = write(tmp_path / "gray16.png", encode_with_opencv(".png", values))
    elif writer == "opencv_tiff":
        path = write(tmp_path / "gray16.tif", encode_with_opencv(".tif", values))
    else:
        path = tmp_path / "gray16b.tif"
        Image.frombytes("I;16B", values.shape[::-1], values.astype(">u2").tobytes()).save(path)

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.source_mode.startswith("I;16")
    assert loaded.bit_depth == 16
    assert np.array_equal(loaded.rgb[0, :, 0], SIXTEEN_BIT_EXPECTED)
    assert np.array_equal(loaded.rgb[..., 0], loaded.rgb[..., 2])


def test_thirty_two_bit_integer_and_float_gray(tmp_path: Path) -> None:
    integer_path = tmp_path / "int32.tif"
    Image.fromarray(np.array([[0, 32896, 65535, 70000, -5]], np.int32)).save(integer_path)
    float_path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0, np.nan]], np.float32)).save(float_path)

    integer = load_image(integer_path)
    floating = load_image(float_path)

    assert integer.source_mode == "I" and floating.source_mode == "F"
    assert integer.rgb[0, :, 0].tolist() == [0, 128, 255, 255, 0]
    assert floating.rgb[0, :, 0].tolist() == [0, 128, 255, 0]


def sixteen_bit_channels() -> np.ndarray:
    """1 x 8 x 3 RGB with a different value in each channel, so channel order shows."""
    red = SIXTEEN_BIT_VALUES
    return np.stack((red, red[::-1], np.roll(red, 3)), axis=-1)[None]


def expected_eight_bit(values: np.ndarray) -> np.ndarray:
    """The rounded 8-bit value of each of SIXTEEN_BIT_VALUES."""
    lookup = dict(zip(SIXTEEN_BIT_VALUES.tolist(), SIXTEEN_BIT_EXPECTED.tolist()))
    return np.array([lookup[value] for value in values.tolist()], np.uint8)


@pytest.mark.parametrize("extension", [".png", ".tif"])
def test_sixteen_bit_rgb_written_by_opencv(tmp_path: Path, extension: str) -> None:
    rgb16 = sixteen_bit_channels()
    path = write(tmp_path / f"rgb16{extension}", encode_with_opencv(extension, rgb16[..., ::-1]))

    loaded = load_image(path)

    assert_contract(loaded)
    assert loaded.bit_depth == 16
    assert loaded.alpha is None
    for channel in range(3):
        assert np.array_equal(loaded.rgb[0, :, channel], expected_eight_bit(rgb16[0, :, channel]))


def test_sixteen_bit_rgba_keeps_scaled_alpha(tmp_path: Path) -> None:
    rgb16 = sixteen_bit_channels()
    alpha16 = SIXTEEN_BIT_VALUES[::-1][None]
    bgra = np.dstack((rgb16[..., ::-1], alpha16))
    path = write(tmp_path / "rgba16.png", encode_with_opencv(".png", bgra))

    loaded = load_image(path)

    assert loaded.source_mode == "RGBA" and loaded.bit_depth == 16
    assert np.array_equal(loaded.rgb[0, :, 0], SIXTEEN_BIT_EXPECTED)
    assert loaded.alpha is not None
    assert np.array_equal(loaded.alpha[0], SIXTEEN_BIT_EXPECTED[::-1])


def test_sixteen_bit_gray_with_alpha(tmp_path: Path) -> None:
    """Pillow 12 opens a 16-bit LA PNG as 8-bit RGBA; the alpha must survive, scaled by rounding."""
    samples = np.stack((SIXTEEN_BIT_VALUES, SIXTEEN_BIT_VALUES[::-1]), axis=-1)
    path = write(
        tmp_path / "la16.png",
        png_bytes(len(SIXTEEN_BIT_VALUES), 1, 16, 4, [samples.astype(">u2").tobytes()]),
    )

    loaded = load_image(path)

    assert loaded.bit_depth == 16
    assert np.array_equal(loaded.rgb[0, :, 1], SIXTEEN_BIT_EXPECTED)
    assert loaded.alpha is not None and np.array_equal(loaded.alpha[0], SIXTEEN_BIT_EXPECTED[::-1])


def test_sixteen_bit_from_bytes(tmp_path: Path) -> None:
    data = encode_with_opencv(".png", sixteen_bit_channels()[..., ::-1])

    loaded = load_image(data)

    assert np.array_equal(loaded.rgb[0, :, 0], SIXTEEN_BIT_EXPECTED)


# ----------------------------------------------------------------------------------------------
# Unreadable files


def encoded_noise(pil_format: str, seed: int) -> bytes:
    """A 256x256 noise image, so that half the file cuts through the pixel data."""
    noise = np.random.default_rng(seed).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format=pil_format)
    return buffer.getvalue()


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


BROKEN_FILES: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "empty": ("empty.jpg", lambda: b"", "empty"),
    "text": ("notes.jpg", lambda: b"hello, this is not a photo\n" * 10, "not an image or unsupported"),
    "pdf": ("scan.jpg", lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n", "not an"),
    "truncated_jpeg": ("cut.jpg", lambda: first_half(encoded_noise("JPEG", 2)), "truncated or corrupt"),
    "truncated_png": ("cut.png", lambda: first_half(encoded_noise("PNG", 3)), "truncated or corrupt"),
}


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_broken_files_raise_read_error_naming_the_file(tmp_path: Path, case: str) -> None:
    file_name, make, reason = BROKEN_FILES[case]
    path = write(tmp_path / file_name, make())

    with pytest.raises(ImageReadError) as raised:
        load_image(path)

    assert not isinstance(raised.value, ImageTooLargeError)
    assert str(path) in str(raised.value)
    assert reason in str(raised.value)


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_broken_bytes_say_bytes(case: str) -> None:
    _, make, reason = BROKEN_FILES[case]

    with pytest.raises(ImageReadError, match=reason) as raised:
        load_image(make())

    assert "<bytes>" in str(raised.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageReadError, match="does not exist") as missing:
        load_image(tmp_path / "nowhere.jpg")
    assert "nowhere.jpg" in str(missing.value)

    with pytest.raises(ImageReadError, match="folder") as folder:
        load_image(tmp_path)
    assert str(tmp_path) in str(folder.value)


def test_unsupported_pil_format_is_refused(tmp_path: Path) -> None:
    """PIL could open a PPM, but the engine only decodes the formats it supports."""
    path = tmp_path / "image.ppm"
    Image.fromarray(quadrants()).save(path)

    with pytest.raises(ImageReadError, match="unsupported format"):
        load_image(path)


# ----------------------------------------------------------------------------------------------
# Pixel limits and decompression bombs


@pytest.fixture(scope="session")
def bomb_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, complete 40000x40000 1-bit PNG (1.6 gigapixels) under a megabyte on disk."""
    row = bytes(40000 // 8)
    data = png_bytes(40000, 40000, 1, 0, (row for _ in range(40000)), level=1)
    return write(tmp_path_factory.mktemp("bomb") / "bomb.png", data)


def test_decompression_bomb_refused_fast_and_small(
    bomb_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bomb_png.stat().st_size < 2_000_000

    def never_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never_decode)
    peak_before = peak_memory_bytes()
    start = time.perf_counter()

    with pytest.raises(ImageTooLargeError) as raised:
        load_image(bomb_png)

    assert time.perf_counter() - start < 1.0
    assert peak_memory_bytes() - peak_before < 100 * 1024 * 1024
    message = str(raised.value)
    assert str(bomb_png) in message
    assert "40000x40000" in message and f"{DEFAULT_MAX_PIXELS:,}" in message


def test_bomb_refused_even_when_pil_limit_is_disabled(
    bomb_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    with pytest.raises(ImageTooLargeError):
        load_image(bomb_png)


def test_bomb_from_bytes(bomb_png: Path) -> None:
    with pytest.raises(ImageTooLargeError, match="<bytes>"):
        load_image(bomb_png.read_bytes())


def test_max_pixels_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(quadrants()).save(path)

    assert load_image(path, max_pixels=HEIGHT * WIDTH).rgb.shape == (HEIGHT, WIDTH, 3)
    with pytest.raises(ImageTooLargeError) as raised:
        load_image(path, max_pixels=HEIGHT * WIDTH - 1)
    assert f"{WIDTH}x{HEIGHT}" in str(raised.value)
    assert f"{HEIGHT * WIDTH - 1:,}" in str(raised.value)


def test_pil_global_limit_neither_warns_nor_refuses_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our limit decides: PIL's process-wide one (here tiny) must not warn or raise on its own."""
    path = tmp_path / "photo.png"
    Image.fromarray(quadrants()).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 2x = 200 < 3072 pixels

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_image(path)

    assert loaded.rgb.shape == (HEIGHT, WIDTH, 3)
    assert Image.MAX_IMAGE_PIXELS == 100  # the global was left alone


# ----------------------------------------------------------------------------------------------
# Saving


@pytest.mark.parametrize(
    ("extension", "keeps_alpha", "tolerance"),
    [
        ("png", True, 0),
        ("jpg", False, 6),
        ("jpeg", False, 6),
        ("webp", True, 8),
        ("bmp", False, 0),
        ("tif", True, 0),
        ("tiff", True, 0),
    ],
)
def test_save_round_trip(tmp_path: Path, extension: str, keeps_alpha: bool, tolerance: int) -> None:
    alpha = np.zeros((HEIGHT, WIDTH), np.uint8)
    alpha[:, WIDTH // 2 :] = 255
    alpha[HEIGHT // 2 :, : WIDTH // 2] = 128
    target = tmp_path / "nested" / "folder" / f"result.{extension}"

    written = save_image(target, quadrants(), alpha)

    assert written == target and target.is_file()
    assert sorted(path.name for path in target.parent.iterdir()) == [target.name]
    loaded = load_image(target)
    assert_colours_close(loaded.rgb, quadrants(), tolerance)
    if keeps_alpha:
        assert loaded.alpha is not None
        assert np.abs(loaded.alpha.astype(int) - alpha).max() <= tolerance
    else:
        assert loaded.alpha is None


@pytest.mark.parametrize("extension", [name for name in OUTPUT_FORMATS if name != "same"])
def test_every_output_format_can_be_saved_without_alpha(tmp_path: Path, extension: str) -> None:
    target = save_image(tmp_path / f"result.{extension}", quadrants())

    assert load_image(target).alpha is None


def test_save_accepts_non_contiguous_rgb(tmp_path: Path) -> None:
    flipped = quadrants()[:, ::-1]

    target = save_image(tmp_path / "flipped.png", flipped)

    assert np.array_equal(load_image(target).rgb, flipped)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_saved_file_has_ordinary_permissions(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)

    target = save_image(tmp_path / "result.png", quadrants())

    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("name", ["result.gif", "result.xyz", "result"])
def test_unknown_extension_refused_before_writing(tmp_path: Path, name: str) -> None:
    target = tmp_path / "out" / name

    with pytest.raises(ImageWriteError, match="extension"):
        save_image(target, quadrants())

    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("rgb", "alpha"),
    [
        (np.zeros((4, 4), np.uint8), None),
        (np.zeros((4, 4, 3), np.float32), None),
        (np.zeros((4, 4, 4), np.uint8), None),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8)),
    ],
)
def test_bad_arrays_refused(tmp_path: Path, rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    with pytest.raises(ImageWriteError):
        save_image(tmp_path / "result.png", rgb, alpha)
    assert list(tmp_path.iterdir()) == []


def failing_encoder(error: BaseException) -> Callable[..., None]:
    def save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"partial image data")  # type: ignore[attr-defined]
        raise error

    return save


@pytest.mark.parametrize("pre_existing", [False, True])
def test_disk_full_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pre_existing: bool
) -> None:
    target = tmp_path / "result.png"
    if pre_existing:
        target.write_bytes(b"the previous result")
    monkeypatch.setattr(
        Image.Image, "save", failing_encoder(OSError(errno.ENOSPC, "No space left on device"))
    )

    with pytest.raises(ImageWriteError) as raised:
        save_image(target, quadrants())

    assert "disk full" in str(raised.value)
    assert str(target) in str(raised.value)
    expected = ["result.png"] if pre_existing else []
    assert sorted(path.name for path in tmp_path.iterdir()) == expected
    if pre_existing:
        assert target.read_bytes() == b"the previous result"


def test_encoder_error_becomes_write_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image.Image, "save", failing_encoder(ValueError("encoder error -2")))

    with pytest.raises(ImageWriteError, match="encoder error"):
        save_image(tmp_path / "result.webp", quadrants())

    assert list(tmp_path.iterdir()) == []


def test_failed_rename_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: object, destination: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)

    with pytest.raises(ImageWriteError, match="permission denied"):
        save_image(tmp_path / "result.jpg", quadrants())

    assert list(tmp_path.iterdir()) == []


def test_interrupt_cleans_up_and_propagates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image.Image, "save", failing_encoder(KeyboardInterrupt()))

    with pytest.raises(KeyboardInterrupt):
        save_image(tmp_path / "result.png", quadrants())

    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# Batch output names


def names(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_plan_keeps_stems_and_extensions(tmp_path: Path) -> None:
    inputs = [tmp_path / "in" / name for name in ["a.jpg", "b.PNG", "c.jpeg", "d.gif", "e.tiff", "f"]]
    out_dir = tmp_path / "out"

    planned = plan_output_paths(inputs, out_dir)

    expected = ["a.jpg", "b.png", "c.jpg", "d.png", "e.tiff", "f.png"]
    assert planned == [out_dir / name for name in expected]


def test_plan_with_extension_and_suffix(tmp_path: Path) -> None:
    inputs = [tmp_path / "in" / "a.jpg", tmp_path / "in" / "b.webp"]

    planned = plan_output_paths(inputs, tmp_path / "out", ext=".JPEG", suffix="_restored")

    assert names(planned) == ["a_restored.jpg", "b_restored.jpg"]


def test_plan_stem_collision_adds_source_extension(tmp_path: Path) -> None:
    inputs = [tmp_path / "in" / "a.jpg", tmp_path / "in" / "a.png", tmp_path / "in" / "b.jpg"]

    assert names(plan_output_paths(inputs, tmp_path / "out", ext="png")) == [
        "a_jpg.png",
        "a_png.png",
        "b.png",
    ]
    assert names(plan_output_paths(inputs, tmp_path / "out", ext="png", suffix="_x")) == [
        "a_jpg_x.png",
        "a_png_x.png",
        "b_x.png",
    ]


def test_plan_same_name_in_two_folders_is_numbered(tmp_path: Path) -> None:
    inputs = [tmp_path / "x" / "a.jpg", tmp_path / "y" / "a.jpg", tmp_path / "z" / "a.jpg"]

    assert names(plan_output_paths(inputs, tmp_path / "out")) == ["a.jpg", "a_2.jpg", "a_3.jpg"]
    as_png = plan_output_paths(inputs, tmp_path / "out", ext="png")
    assert names(as_png) == ["a.png", "a_2.png", "a_3.png"]


def test_plan_mixed_collisions(tmp_path: Path) -> None:
    inputs = [tmp_path / "x" / "a.jpg", tmp_path / "y" / "a.jpg", tmp_path / "z" / "a.png"]

    planned = plan_output_paths(inputs, tmp_path / "out", ext="png")

    assert names(planned) == ["a_jpg.png", "a_jpg_2.png", "a_png.png"]


def test_plan_treats_case_as_a_collision(tmp_path: Path) -> None:
    inputs = [tmp_path / "x" / "Photo.jpg", tmp_path / "y" / "photo.jpg"]

    assert names(plan_output_paths(inputs, tmp_path / "out")) == ["Photo.jpg", "photo_2.jpg"]


def test_plan_never_overwrites_an_input(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    inputs = [folder / "a.png", folder / "a_gpen.png", folder / "b.jpg"]

    planned = plan_output_paths(inputs, folder)

    assert names(planned) == ["a_2.png", "a_gpen_gpen.png", "b_gpen.jpg"]
    assert not {path.resolve() for path in planned} & {path.resolve() for path in inputs}


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_plan_sees_through_symlinked_folders(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    link = tmp_path / "link"
    link.symlink_to(folder)

    planned = plan_output_paths([folder / "a.png"], link)

    assert planned == [link / "a_gpen.png"]


def test_plan_is_deterministic(tmp_path: Path) -> None:
    file_names = ["a.jpg", "a.png", "A.JPG", "b.gif"]
    inputs = [tmp_path / folder / name for folder in "xyz" for name in file_names]

    first = plan_output_paths(inputs, tmp_path / "out", ext="png", suffix="_r")
    second = plan_output_paths(list(inputs), tmp_path / "out", ext="png", suffix="_r")

    assert first == second
    keys = [path.name.casefold() for path in first]
    assert len(set(keys)) == len(keys)
    assert all(path.parent == tmp_path / "out" for path in first)


def test_plan_keeps_non_ascii_and_spaces(tmp_path: Path) -> None:
    inputs = [tmp_path / "Фото бабушки 1952 – ünïcode 😀.JPG", tmp_path / "my photo (1).png"]

    planned = plan_output_paths(inputs, tmp_path / "out", suffix=" restored")

    assert names(planned) == [
        "Фото бабушки 1952 – ünïcode 😀 restored.jpg",
        "my photo (1) restored.png",
    ]


def test_plan_shortens_long_names_stably(tmp_path: Path) -> None:
    long_stem = "é" * 150 + "ü" * 60
    inputs = [tmp_path / f"{long_stem}A.jpg", tmp_path / f"{long_stem}B.jpg", tmp_path / "short.jpg"]
    out_dir = tmp_path / "out"

    planned = plan_output_paths(inputs, out_dir, suffix="_restored")

    first, second, short = planned
    for path in (first, second):
        assert len(path.name.encode("utf-8")) <= 200
        assert path.name.startswith("é" * 50)
        assert path.name.endswith("_restored.jpg")
    assert first != second
    assert short.name == "short_restored.jpg"
    assert plan_output_paths(inputs, out_dir, suffix="_restored") == planned
    out_dir.mkdir()
    for path in planned:
        save_image(path, quadrants())
        assert path.is_file()


def test_plan_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ImageWriteError, match="xyz"):
        plan_output_paths([tmp_path / "a.jpg"], tmp_path / "out", ext="xyz")


def test_constants() -> None:
    assert DEFAULT_MAX_PIXELS == 100_000_000
    expected = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
    assert expected <= SUPPORTED_INPUT_EXTENSIONS
    for extension in SUPPORTED_INPUT_EXTENSIONS:
        assert extension == extension.lower() and extension.startswith(".")
    assert OUTPUT_FORMATS == ("same", "png", "jpg", "webp")

# ---- hostile bytes: mutated real files decode to the contract or raise ImageReadError ------------


@pytest.mark.filterwarnings("ignore::UserWarning")   # PIL warns about the corrupt TIFF metadata it skips
def test_mutated_files_decode_or_fail_cleanly():
    photo = real_photo(size=(64, 48))
    seeds = [encoded(photo, "JPEG"), encoded(photo, "JPEG", progressive=True), encoded(photo, "PNG"),
             encoded(photo.convert("P"), "GIF"), encoded(photo, "WEBP"), encoded(photo, "BMP"),
             encoded(photo, "TIFF", compression="tiff_lzw"), encoded(photo.convert("CMYK"), "JPEG")]
    generator = np.random.default_rng(6)
    for trial in range(400):
        data = bytearray(seeds[trial % len(seeds)])
        for position in generator.integers(0, len(data), generator.integers(1, 8)):
            data[position] = generator.integers(0, 256)
        if trial % 5 == 0:
            data = data[: generator.integers(1, len(data))]
        try:
            loaded = load_image(bytes(data))
        except ImageReadError as error:
            assert "<bytes>" in str(error)
            continue
        assert loaded.rgb.dtype == np.uint8 and loaded.rgb.ndim == 3 and loaded.rgb.shape[2] == 3
