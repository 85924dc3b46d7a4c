"""What a photo file says about itself beyond its pixels, read on the way in and written on the way out.

EXIF (dates, camera, lens, GPS), the ICC colour profile (byte for byte), the print resolution, PNG text
chunks and XMP travel from the input file to the output file. Pixels are processed as they are, in the
input's own colour space, so with its profile a Display P3 photo still looks like itself.

``strip_personal`` drops what people who publish may not want to share (EXIF with its GPS position,
XMP and text chunks) but keeps the ICC profile and the resolution, because the colours and the print
size depend on them.
"""
from __future__ import annotations

import dataclasses
import logging
import struct
import zlib
from dataclasses import dataclass

from PIL import Image, JpegImagePlugin, PngImagePlugin

log = logging.getLogger(__name__)

EXIF_HEADER = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112
XMP_PNG_KEY = "XML:com.adobe.xmp"
_TIFF_SHORT = 3


@dataclass(frozen=True)
class ImageMetadata:
    """The metadata of one input file, as the output file should carry it."""

    exif: bytes | None = None
    """TIFF-structured EXIF without the ``Exif\\0\\0`` header, orientation already reset to 1."""
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    text: tuple[tuple[str, str], ...] = ()
    """PNG text chunks (key, value), XMP excluded."""
    xmp: bytes | None = None
    jpeg_subsampling: int | None = None
    """The input JPEG's chroma subsampling as Pillow numbers it (0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0)."""

    def strip_personal(self) -> ImageMetadata:
        """Without EXIF (and so GPS), XMP and text chunks; the colour profile and resolution stay."""
        return dataclasses.replace(self, exif=None, xmp=None, text=())


def read_metadata(image: Image.Image) -> ImageMetadata:
    """The metadata of an opened (and loaded: PNG text may follow the pixels) Pillow image."""
    info = image.info
    exif = info.get("exif")
    if isinstance(exif, (bytes, bytearray)) and exif:
        exif = reset_orientation(bytes(exif).removeprefix(EXIF_HEADER))
    else:
        exif = None
    icc = info.get("icc_profile")
    dpi = _resolution(info.get("dpi"))
    xmp = info.get("xmp") or info.get(XMP_PNG_KEY)
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    text: tuple[tuple[str, str], ...] = ()
    if image.format == "PNG":
        text = tuple((key, value) for key, value in getattr(image, "text", {}).items()
                     if isinstance(value, str) and key != XMP_PNG_KEY)
    subsampling = None
    if image.format in ("JPEG", "MPO"):
        sampling = JpegImagePlugin.get_sampling(image)
        subsampling = sampling if sampling in (0, 1, 2) else None
    return ImageMetadata(exif=exif, icc_profile=bytes(icc) if icc else None, dpi=dpi, text=text,
                         xmp=bytes(xmp) if xmp else None, jpeg_subsampling=subsampling)


def _resolution(value: object) -> tuple[float, float] | None:
    """Dots per inch (x, y) from Pillow's ``info["dpi"]`` (numbers or TIFF rationals), if sensible."""
    try:
        x, y = (float(part) for part in value)   # type: ignore[union-attr]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return (x, y) if x > 0 and y > 0 and x < 1e6 and y < 1e6 else None


def reset_orientation(exif: bytes) -> bytes:
    """The same EXIF with its orientation tag set to 1 (upright), changed in place so that nothing
    else moves (maker notes hold offsets). EXIF that cannot be parsed is returned unchanged."""
    try:
        order = {b"II": "<", b"MM": ">"}[exif[:2]]
        (first_ifd,) = struct.unpack_from(order + "I", exif, 4)
        (entries,) = struct.unpack_from(order + "H", exif, first_ifd)
        for number in range(entries):
            offset = first_ifd + 2 + 12 * number
            tag, kind, count = struct.unpack_from(order + "HHI", exif, offset)
            if tag == ORIENTATION_TAG and kind == _TIFF_SHORT and count == 1:
                patched = bytearray(exif)
                struct.pack_into(order + "H", patched, offset + 8, 1)
                return bytes(patched)
    except (KeyError, struct.error):
        log.debug("EXIF without a readable first IFD; kept as it is")
    return exif


def pillow_save_options(metadata: ImageMetadata, pil_format: str) -> dict[str, object]:
    """Keyword arguments for ``Image.save`` that write this metadata in ``pil_format``."""
    options: dict[str, object] = {}
    if metadata.icc_profile:
        options["icc_profile"] = metadata.icc_profile
    if metadata.dpi and pil_format in ("JPEG", "PNG", "TIFF"):
        options["dpi"] = metadata.dpi
    if pil_format == "JPEG":
        if metadata.exif:
            options["exif"] = EXIF_HEADER + metadata.exif
        if metadata.xmp:
            options["xmp"] = metadata.xmp
        if metadata.jpeg_subsampling is not None:
            options["subsampling"] = metadata.jpeg_subsampling
    elif pil_format == "PNG":
        if metadata.exif:
            options["exif"] = metadata.exif
        chunks = PngImagePlugin.PngInfo()
        for key, value in metadata.text:
            chunks.add_itxt(key, value)
        if metadata.xmp:
            chunks.add_itxt(XMP_PNG_KEY, metadata.xmp.decode("utf-8", "replace"))
        options["pnginfo"] = chunks
    elif pil_format == "WEBP":
        if metadata.exif:
            options["exif"] = metadata.exif
        if metadata.xmp:
            options["xmp"] = metadata.xmp
    elif pil_format == "TIFF" and metadata.xmp:
        options["tiffinfo"] = {700: metadata.xmp}
    return options


def png_metadata_chunks(metadata: ImageMetadata) -> list[tuple[bytes, bytes]]:
    """PNG chunks (type, data) for this metadata, for a PNG another encoder wrote (16-bit colour)."""
    chunks: list[tuple[bytes, bytes]] = []
    if metadata.icc_profile:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(metadata.icc_profile)))
    if metadata.dpi:
        per_metre = [round(value / 0.0254) for value in metadata.dpi]
        chunks.append((b"pHYs", struct.pack(">IIB", per_metre[0], per_metre[1], 1)))
    if metadata.exif:
        chunks.append((b"eXIf", metadata.exif))
    for key, value in metadata.text:
        chunks.append((b"iTXt", _itxt(key, value)))
    if metadata.xmp:
        chunks.append((b"iTXt", _itxt(XMP_PNG_KEY, metadata.xmp.decode("utf-8", "replace"))))
    return chunks


def add_png_chunks(png: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """The PNG with ``chunks`` inserted right after its header chunk (before any image data)."""
    signature_and_header = 8 + 8 + 13 + 4   # signature, IHDR length+type, IHDR data, CRC
    encoded = b"".join(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
                       for kind, data in chunks)
    return png[:signature_and_header] + encoded + png[signature_and_header:]


def _itxt(key: str, value: str) -> bytes:
    """An uncompressed international text chunk's data."""
    return key.encode("latin-1", "replace")[:79] + b"\x00\x00\x00\x00\x00" + value.encode("utf-8")
