"""Writing results (``gpen.image_writing``): every output format, refused arrays, and atomic writes that
leave nothing behind on a full disk, an encoder error, a failed rename or an interrupt."""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from made_images import HEIGHT, WIDTH, assert_colours_close, quadrants
from PIL import Image

from gpen.errors import ImageWriteError
from gpen.image_writing import save_image
from gpen.images import load_image
from gpen.options import OUTPUT_FORMATS

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


