"""Reading photos (``gpen.images``): every input mode, orientation, broken and hostile files, size limits.

Every input is built here, in tmp_path, with PIL, numpy, OpenCV or a few bytes of hand-made PNG.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from made_images import BLUE, GREEN, HEIGHT, ORIENTATION_TAG, RED, SIXTEEN_BIT_EXPECTED, SIXTEEN_BIT_VALUES, WIDTH, YELLOW, assert_colours_close, assert_contract, encode_with_opencv, png_bytes, quadrant_colours, quadrants, with_exif_chunk, write
from PIL import Image, ImageOps

from gpen.images import load_image

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
