"""Files come out as they went in: metadata, colour profile, bit depth, mode and format, in every entry
point (the CLI as a process, the Python file API, the web API), on real photos with real metadata."""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin, PngImagePlugin

import tiny_models
from doubles import FixedDetector
from gpen import faces as face_geometry
from gpen.batch import SaveOptions, process_files
from gpen.inputs import find_inputs
from gpen.engine import Engine, EngineConfig, EnhanceOptions
from gpen.faces import Face
from gpen.images import load_image
from gpen.metadata import add_png_chunks
from photos import PHOTOS, read_photo
from cli_process import cli_environment, measured, peak_bytes, run_cli

REPO = Path(__file__).resolve().parents[1]
SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
TAKEN = "2019:06:01 10:00:00"
EXIF_IFD, GPS_IFD = 0x8769, 0x8825


@pytest.fixture(scope="module")
def engine(models_folder) -> Engine:
    return Engine(EngineConfig(models_folder=models_folder, download=False, device="cpu"))


def camera_exif(orientation: int) -> Image.Exif:
    """EXIF as a camera writes it: maker, model, dates, lens, GPS position, orientation."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112], exif[0x0132] = "Canon", "EOS 5D Mark IV", orientation, TAKEN
    details = exif.get_ifd(EXIF_IFD)
    details[0x9003], details[0xA434] = TAKEN, "EF50mm f/1.8 STM"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.5), "E", (2.0, 17.0, 40.2)
    return exif


def camera_jpeg(path: Path, subsampling: int = 1) -> Path:
    """A real photo saved as a camera would: stored on its side with EXIF orientation 6 (rotate 90°
    clockwise to view), an ICC profile, 300 dpi, XMP, and 4:2:2 chroma."""
    upright = Image.open(PHOTOS / "portrait_small.jpg").convert("RGB")
    stored = upright.transpose(Image.Transpose.ROTATE_90)          # what orientation 6 turns back upright
    stored.save(path, quality=92, exif=camera_exif(6), icc_profile=SRGB_PROFILE, dpi=(300, 300), xmp=XMP,
                subsampling=subsampling)
    return path


def assert_camera_metadata_kept(path: Path, stripped: bool = False) -> None:
    with Image.open(path) as image:
        assert image.info.get("icc_profile") == SRGB_PROFILE                 # byte for byte, always
        exif = image.getexif()
        if stripped:
            assert len(exif) == 0 and "xmp" not in image.info
            return
        assert exif[0x010F] == "Canon" and exif[0x0110] == "EOS 5D Mark IV" and exif[0x0132] == TAKEN
        assert exif.get(0x0112) == 1                                       # the pixels are upright now
        assert exif.get_ifd(EXIF_IFD)[0x9003] == TAKEN and exif.get_ifd(EXIF_IFD)[0xA434] == "EF50mm f/1.8 STM"
        gps = exif.get_ifd(GPS_IFD)
        assert gps[1] == "N" and [float(value) for value in gps[2]] == [48.0, 51.0, 29.5]
        assert image.info.get("xmp") == XMP
        if image.format == "JPEG":
            assert tuple(round(value) for value in image.info["dpi"]) == (300, 300)


def test_the_cli_keeps_exif_gps_icc_dpi_xmp_and_chroma_of_a_camera_jpeg(models_folder, tmp_path):
    source = camera_jpeg(tmp_path / "IMG_0001.JPG")
    result = run_cli(models_folder, str(source), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    output = tmp_path / "out" / "IMG_0001.jpg"                           # same format as the input
    assert_camera_metadata_kept(output)
    with Image.open(output) as image:
        assert JpegImagePlugin.get_sampling(image) == 1                   # 4:2:2 kept
        assert image.size == Image.open(PHOTOS / "portrait_small.jpg").size   # upright
    # quality 95 by default: the result's quantisation tables are those of quality 95
    reference = io.BytesIO()
    Image.new("RGB", (16, 16)).save(reference, "JPEG", quality=95)
    assert Image.open(output).quantization == Image.open(reference).quantization


def test_strip_metadata_keeps_only_the_colour_profile(models_folder, tmp_path):
    source = camera_jpeg(tmp_path / "IMG_0002.jpg")
    result = run_cli(models_folder, str(source), "-o", str(tmp_path / "out"), "--strip-metadata", "-q")
    assert result.returncode == 0, result.stderr
    assert_camera_metadata_kept(tmp_path / "out" / "IMG_0002.jpg", stripped=True)


@pytest.mark.parametrize("ext", ["png", "webp"])
def test_metadata_travels_into_other_formats(engine, tmp_path, ext):
    source = camera_jpeg(tmp_path / "photo.jpg")
    [report] = process_files(engine, [source], tmp_path / "out", save=SaveOptions(ext=ext))
    assert report.status == "ok", report
    assert_camera_metadata_kept(Path(report.output))


def test_png_text_chunks_and_dpi_are_kept(engine, tmp_path):
    source = tmp_path / "scan.png"
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Title", "Grandma, 1962")
    chunks.add_itxt("Description", "Omi im Garten — 1962")
    Image.open(PHOTOS / "lowres_portrait.jpg").save(source, pnginfo=chunks, dpi=(600, 600), icc_profile=SRGB_PROFILE)
    [report] = process_files(engine, [source], tmp_path / "out")
    with Image.open(report.output) as image:
        image.load()
        assert image.text["Title"] == "Grandma, 1962" and image.text["Description"] == "Omi im Garten — 1962"
        assert tuple(round(value) for value in image.info["dpi"]) == (600, 600)
        assert image.info["icc_profile"] == SRGB_PROFILE


def sixteen_bit_png(path: Path, gray: bool = False) -> np.ndarray:
    """A real photo at 16 bits with meaningful low bytes, an ICC profile and a text chunk; returns its
    pixels (HxWx3 RGB, or HxW gray)."""
    rgb8 = read_photo("portrait_small.jpg")
    low_bits = np.random.default_rng(3).integers(0, 256, rgb8.shape, dtype=np.uint16)
    rgb16 = rgb8.astype(np.uint16) * 256 + low_bits
    pixels = cv2.cvtColor(rgb16, cv2.COLOR_RGB2GRAY) if gray else rgb16
    ok, encoded = cv2.imencode(".png", pixels if gray else pixels[..., ::-1])
    assert ok
    text = b"Software\x00scanner v2"
    path.write_bytes(add_png_chunks(encoded.tobytes(), [(b"iCCP", b"sRGB\x00\x00" + zlib.compress(SRGB_PROFILE)),
                                                        (b"tEXt", text)]))
    return pixels


def test_a_16_bit_png_comes_out_16_bit_with_every_pixel_outside_the_faces_exact(models_folder, tmp_path):
    # one face, on the adult's face of the photo (the steered test detector would cover the whole photo)
    landmarks = (face_geometry.template_points(512) - 256) * 0.35 + np.array([505.0, 200.0])
    face = Face((440.0, 110.0, 570.0, 290.0), 0.99, landmarks)
    engine = Engine(EngineConfig(models_folder=models_folder, download=False, device="cpu"),
                    detector=FixedDetector([face]))
    source = tmp_path / "scan16.png"
    original = sixteen_bit_png(source)
    [report] = process_files(engine, [source], tmp_path / "out")
    assert report.status == "ok" and report.faces > 0, report
    written = cv2.imread(report.output, cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16 and written.shape == original.shape
    written = written[..., ::-1]
    # where the faces went: the same pipeline on the 8-bit pixels gives the masks and the 8-bit result
    loaded = load_image(source)
    result = engine.enhance_one(loaded.rgb, EnhanceOptions())
    mask = face_geometry.paste_mask(original.shape, result.pasted)
    outside, inside = mask == 0, mask == 1
    assert outside.sum() > 10_000 and inside.sum() > 10_000
    assert np.array_equal(written[outside], original[outside])                      # exactly the input's
    assert np.array_equal(written[inside], result.image[inside].astype(np.uint16) * 257)   # restored, scaled up
    with Image.open(report.output) as image:
        image.load()
        assert image.info["icc_profile"] == SRGB_PROFILE and image.text["Software"] == "scanner v2"


def test_grayscale_inputs_give_grayscale_outputs(models_folder, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.open(PHOTOS / "portrait_png.png").convert("L").save(inputs / "scan.jpg", quality=95)
    sixteen_bit_png(inputs / "scan16.png", gray=True)
    Image.open(PHOTOS / "lowres_portrait.jpg").convert("P").save(inputs / "palette.png")
    result = run_cli(models_folder, str(inputs), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "scan.jpg").mode == "L"
    assert Image.open(tmp_path / "out" / "scan16.png").mode == "I;16"
    assert Image.open(tmp_path / "out" / "palette.png").mode == "RGB"   # a palette may come out RGB


def test_only_the_first_frame_of_an_animated_gif_is_restored_and_the_report_says_so(models_folder, tmp_path):
    frames = [Image.open(PHOTOS / "lowres_portrait.jpg").convert("RGB"), Image.open(PHOTOS / "lowres_portrait.jpg")
              .convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    source = tmp_path / "party.gif"
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=200, loop=0)
    report = tmp_path / "report.json"
    result = run_cli(models_folder, str(source), "-o", str(tmp_path / "out"), "--report", str(report), "-q")
    assert result.returncode == 0, result.stderr
    [row] = json.loads(report.read_text())
    assert row["status"] == "ok" and row["note"] == "only the first frame of 2 was restored"
    assert Path(row["output"]).suffix == ".png"                         # GIF cannot be written: PNG


def test_image_files_the_loader_cannot_read_get_a_row_instead_of_silence(models_folder, tmp_path):
    inputs = tmp_path / "phone"
    inputs.mkdir()
    (inputs / "IMG_1234.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    (inputs / "IMG_1235.avif").write_bytes(b"\x00\x00\x00\x1cftypavif" + bytes(64))
    files, rows = find_inputs([inputs])
    assert files == [] and [Path(row.input).name for row in rows] == ["IMG_1234.HEIC", "IMG_1235.avif"]
    report = tmp_path / "report.json"
    result = run_cli(models_folder, str(inputs), "-o", str(tmp_path / "out"), "--report", str(report), "-q")
    assert result.returncode == 1 and "HEIC images cannot be read here" in result.stderr
    assert [row["status"] for row in json.loads(report.read_text())] == ["failed", "failed"]


# ---- the web app -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from app_process import start_app_with_tiny_models
    from gradio_client import Client

    app = start_app_with_tiny_models(tmp_path_factory.mktemp("faithful_app"))
    yield Client(app.url, verbose=False)
    app.stop()


def test_the_web_api_keeps_metadata_for_one_photo_and_for_a_zip_batch(client, tmp_path):
    from gradio_client import handle_file

    source = camera_jpeg(tmp_path / "IMG_0003.jpg")
    result, info = client.predict(handle_file(str(source)), api_name="/enhance")
    assert Path(result).suffix == ".jpg" and info["faces"] > 0
    assert_camera_metadata_kept(Path(result))
    archive = tmp_path / "album.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.write(source, "summer/IMG_0003.jpg")
    results, report = client.predict([handle_file(str(archive))], api_name="/enhance_batch")
    assert [row["status"] for row in report] == ["ok"]
    assert_camera_metadata_kept(Path(results[0]))


# ---- memory --------------------------------------------------------------------------------------------------

def flat_png(path: Path, size_px: int, bit_depth: int) -> Path:
    """A size x size RGBA PNG whose rows repeat one gradient row: about a megabyte on disk, 400 MB (8-bit)
    or 800 MB (16-bit) decoded at 10000 px."""
    sample = np.dtype(">u2") if bit_depth == 16 else np.dtype("u1")
    top = 65535 if bit_depth == 16 else 255
    row = np.empty((size_px, 4), sample)
    row[:, :3] = (np.arange(size_px) * top // (size_px - 1))[:, None]
    row[:, 3] = top
    first = b"\x00" + row.tobytes()                     # filter None
    same_as_above = b"\x02" + bytes(len(first) - 1)     # filter Up: every later row repeats the first
    compressor = zlib.compressobj(9)
    data = compressor.compress(first) + b"".join(compressor.compress(same_as_above) for _ in range(size_px - 1))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", size_px, size_px, bit_depth, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data + compressor.flush())
                     + chunk(b"IEND", b""))
    return path


def peak_memory_of_cli(models_folder: Path, peak_file: Path, *args: str) -> int:
    """The CLI as a process of its own; its peak resident memory in bytes (see ``cli_process.measured``)."""
    finished = subprocess.run(measured([sys.executable, "-m", "gpen", *args], peak_file), cwd=REPO,
                              env=cli_environment(models_folder), capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    return peak_bytes(peak_file)


def test_a_100_megapixel_16_bit_rgba_png_stays_within_40_bytes_a_pixel(tmp_path_factory, tmp_path):
    """The 16-bit file once peaked at 8.5 GB (decoded twice, converted through int64 copies). For one
    photo of P pixels, peak memory may exceed the models' own by at most 40 bytes a pixel."""
    models = tmp_path_factory.mktemp("no_face_models")
    tiny_models.make_tiny_models(models, detector_finds="none")
    baseline = peak_memory_of_cli(models, tmp_path / "peak_small", str(PHOTOS / "lowres_portrait2.jpg"), "-o",
                                  str(tmp_path / "small"), "-q")
    size_px = 10_000
    for bit_depth in (8, 16):
        source = flat_png(tmp_path / f"rgba{bit_depth}.png", size_px, bit_depth)
        assert source.stat().st_size < 2_000_000
        peak = peak_memory_of_cli(models, tmp_path / f"peak{bit_depth}", str(source), "-o",
                                  str(tmp_path / f"out{bit_depth}"), "-q")
        per_pixel = (peak - baseline) / size_px ** 2
        print(f"{bit_depth}-bit RGBA {size_px}x{size_px}: peak {peak / 2**30:.2f} GiB, baseline "
              f"{baseline / 2**30:.2f} GiB, {per_pixel:.1f} bytes a pixel")
        assert per_pixel <= 40, per_pixel
        written = cv2.imread(str(tmp_path / f"out{bit_depth}" / source.name), cv2.IMREAD_UNCHANGED)
        assert written.shape == (size_px, size_px, 4) and written.dtype == (np.uint16 if bit_depth == 16 else np.uint8)
