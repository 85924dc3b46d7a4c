"""Bad inputs for a batch: every kind of file a run can meet (``CASES``: real photos in odd modes, names
and sizes, and broken, empty, hostile or huge files), with what must come of each, and the checks that
nothing was lost: every input unchanged, no partial or temporary file, one report row per input."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
from photos import PHOTOS
from PIL import Image

from gpen.inputs import RESULTS_MANIFEST
from gpen.reports import FileReport


def real_photo(name: str = "lowres_portrait2.jpg", size: tuple[int, int] | None = None) -> Image.Image:
    """A real test photo (248x189 by default) as a PIL RGB image, resized to (width, height) if given."""
    with Image.open(PHOTOS / name) as image:
        photo = image.convert("RGB")
    return photo.resize(size, Image.Resampling.LANCZOS) if size else photo


def encoded(image: Image.Image, pil_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def real_bytes(name: str = "lowres_portrait2.jpg") -> bytes:
    return (PHOTOS / name).read_bytes()


def first_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def bomb_png() -> bytes:
    """A complete, valid 40000x40000 PNG (1.6 gigapixels of 1-bit black) of about 200 kB."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes(40000 // 8)
    pixels = b"".join(compressor.compress(row) for _ in range(40000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", 40000, 40000, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def huge_jpeg() -> bytes:
    """A legal 6000x4000 (24 megapixel) photo: a real test photo upscaled."""
    return encoded(real_photo("portrait_small.jpg").resize((6000, 4000), Image.Resampling.BILINEAR), "JPEG",
                   quality=90)


def sixteen_bit_png() -> bytes:
    rgb = np.asarray(real_photo())
    ok, data = cv2.imencode(".png", rgb[..., ::-1].astype(np.uint16) * 257)
    assert ok
    return data.tobytes()


def rgba_png() -> bytes:
    rgb = np.asarray(real_photo())
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))
    alpha[:20] = 0   # a fully transparent band as well as the gradient
    return encoded(Image.fromarray(np.dstack([rgb, alpha])), "PNG")


def rotated_jpeg() -> bytes:
    """Stored 248x189 with EXIF orientation 6 (rotate 90° clockwise to view): 189x248 upright."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded(real_photo(), "JPEG", quality=95, exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [real_photo().rotate(angle) for angle in (0, 15, 30)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def crowd_jpeg() -> bytes:
    """36 copies of the real aligned face, 128 px each, in a 6x6 grid (768x768)."""
    return encoded(crowd_photo(), "JPEG", quality=95)


def crowd_photo(columns: int = 6, face_px: int = 128) -> Image.Image:
    face = real_photo("aligned_face_512.png", (face_px, face_px))
    crowd = Image.new("RGB", (columns * face_px, columns * face_px))
    for row in range(columns):
        for column in range(columns):
            crowd.paste(face, (column * face_px, row * face_px))
    return crowd


def sky_png() -> bytes:
    """A photo with no face in it: a smooth sky-like gradient."""
    rows = np.linspace(0, 1, 160)[:, None, None]
    sky = (np.array([70, 130, 220]) * (1 - rows) + np.array([230, 230, 250]) * rows).astype(np.uint8)
    return encoded(Image.fromarray(np.broadcast_to(sky, (160, 240, 3)).copy()), "PNG")


PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


LONG_NAME = "long " + "x" * 220 + ".jpg"


NON_UTF8_NAME = os.fsdecode(b"caf\xe9 latin-1.jpg")   # bytes that are not UTF-8, as old systems write


@dataclass(frozen=True)
class Case:
    """One input file: its name, its bytes, and what must come of it.

    ``reason`` is None for a photo that must be restored (to ``size``, width x height, under
    ``output``, by default its own name); otherwise the words its error must contain.
    """

    name: str
    make: Callable[[], bytes]
    reason: str | None = None
    size: tuple[int, int] | None = None
    output: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


PORTRAIT_SIZE = (248, 189)


CASES = [
    Case("good portrait.jpg", real_bytes, size=PORTRAIT_SIZE),
    Case("照片 ü.jpg", real_bytes, size=PORTRAIT_SIZE),
    Case(LONG_NAME, real_bytes, size=PORTRAIT_SIZE, output="long xxx"),   # shortened: checked by prefix
    Case(NON_UTF8_NAME, real_bytes, size=PORTRAIT_SIZE),
    # Same stem: a.png keeps its name; a.jpg and a.jpeg would both be a.jpg, so each gets its extension.
    Case("a.jpg", real_bytes, size=PORTRAIT_SIZE, output="a_jpg.jpg"),
    Case("a.jpeg", lambda: real_bytes("portrait_small.jpg"), size=(700, 464), output="a_jpeg.jpg"),
    Case("a.png", lambda: encoded(real_photo("portrait_small.jpg", (350, 232)), "PNG"), size=(350, 232)),
    Case("empty.jpg", lambda: b"", "the file is empty (0 bytes)"),
    Case("notes.jpg", lambda: b"shopping list: milk, eggs\n" * 8, "not an image"),
    Case("scan.jpg", lambda: PDF, "not an image"),
    Case("cut.jpg", lambda: first_half(real_bytes("portrait_small.jpg")), "truncated or corrupt"),
    Case("cut.png", lambda: first_half(encoded(real_photo("portrait_small.jpg"), "PNG")), "truncated or corrupt"),
    Case("bomb.png", bomb_png, "40000x40000"),
    Case("huge 6000x4000.jpg", huge_jpeg, size=(6000, 4000)),
    Case("tiny 8x8.png", lambda: encoded(real_photo(size=(8, 8)), "PNG"), size=(8, 8)),
    Case("cmyk.jpg", lambda: encoded(real_photo().convert("CMYK"), "JPEG", quality=95), size=PORTRAIT_SIZE),
    Case("palette.png", lambda: encoded(real_photo().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
         size=PORTRAIT_SIZE),
    Case("sixteen bit.png", sixteen_bit_png, size=PORTRAIT_SIZE),
    Case("gray.png", lambda: encoded(real_photo().convert("L"), "PNG"), size=PORTRAIT_SIZE),
    Case("rgba.png", rgba_png, size=PORTRAIT_SIZE),
    Case("rotated.jpg", rotated_jpeg, size=(189, 248)),
    Case("animated.gif", animated_gif, size=PORTRAIT_SIZE, output="animated.png"),
    Case("crowd of 36.jpg", crowd_jpeg, size=(768, 768)),
    Case("sky.png", sky_png, size=(240, 160)),
]


CASE_IDS = [case.name.encode("ascii", "replace").decode()[:24] for case in CASES]


def sha256_of(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def write_cases(folder: Path) -> dict[str, str]:
    """Every case's file in ``folder``; returns the sha256 of each file as written."""
    for case in CASES:
        (folder / case.name).write_bytes(case.make())
    return sha256_of(folder)


def assert_nothing_lost(input_folder: Path, digests: dict[str, str], output_folder: Path,
                        rows: Sequence[dict], expected_inputs: int) -> None:
    """Inputs unchanged; one row per input; the output folder holds exactly the complete results."""
    assert sha256_of(input_folder) == digests, "an input file was changed"
    assert len(rows) == expected_inputs
    assert len({row["input"] for row in rows}) == expected_inputs
    written = sorted(Path(row["output"]).name for row in rows if row["status"] != "failed")
    # no temporary, nothing extra (beside the list of results the run keeps)
    assert sorted(path.name for path in output_folder.iterdir() if path.name != RESULTS_MANIFEST) == written
    for row in rows:
        if row["status"] == "failed":
            assert row["output"] is None and row["error"]
        else:
            assert Path(row["output"]).stat().st_size > 0
            with Image.open(row["output"]) as image:
                image.load()   # complete and decodable


def output_for(case: Case, row: dict) -> Path:
    output = Path(row["output"])
    if case.name == LONG_NAME:
        assert output.name.startswith(case.output) and output.suffix == ".jpg"
        assert len(output.name.encode()) <= 200 and output.name != case.name
    else:
        assert output.name == (case.output or case.name)
    return output


def check_pixels(case: Case, output: Path, source: Path) -> None:
    """Size, mode and (for RGBA) alpha of a result; the source's alpha must come through exactly. A
    grayscale source gives a grayscale result (8 or 16 bits as it had), any other a colour one."""
    with Image.open(source) as original:
        gray = original.mode in ("1", "L", "LA", "I", "I;16", "F")
    with Image.open(output) as result:
        assert result.size == case.size
        assert result.mode in (("L", "LA", "I", "I;16") if gray else ("RGB", "RGBA")), (result.mode, gray)
        if case.name == "rgba.png":
            assert result.mode == "RGBA"
            with Image.open(source) as original:
                assert np.array_equal(np.asarray(result)[..., 3], np.asarray(original)[..., 3])


def write_photos(folder: Path, count: int, size: tuple[int, int] = (160, 120)) -> list[Path]:
    """``count`` different real photos (PNG, so results compare exactly)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ["lowres_portrait2.jpg", "portrait_small.jpg", "lowres_portrait.jpg", "portrait_png.png", "gray_face.png"]
    paths = []
    for index in range(count):
        photo = real_photo(names[index % len(names)], size).rotate(7 * (index // len(names)))
        path = folder / f"photo {index:02d}.png"
        photo.save(path)
        paths.append(path)
    return paths


def read_report(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def as_rows(reports: Sequence[FileReport]) -> list[dict]:
    return [dataclasses.asdict(report) for report in reports]


def corrupt_file(folder: Path) -> Path:
    """``broken.jpg`` in ``folder``: the first 3000 bytes of a real JPEG."""
    path = folder / "broken.jpg"
    path.write_bytes((PHOTOS / "portrait_small.jpg").read_bytes()[:3000])
    return path
