"""Photos the loader refuses (``gpen.images``): unreadable, broken and mutated files, and pixel limits and
decompression bombs, each refused with a reason naming the file, fast and without large allocations."""
from __future__ import annotations

import io
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import encoded, real_photo
from made_images import HEIGHT, WIDTH, peak_memory_bytes, png_bytes, quadrants, write
from PIL import Image, ImageFile

from gpen.errors import ImageReadError, ImageTooLargeError
from gpen.images import DEFAULT_MAX_PIXELS, SUPPORTED_INPUT_EXTENSIONS, load_image
from gpen.options import OUTPUT_FORMATS

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
