"""Where results go: one stable output name per input, so that a batch can resume."""
from __future__ import annotations

import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from gpen.errors import ImageWriteError
from gpen.image_writing import WRITE_FORMATS
from gpen.video_formats import is_video, output_container

_MAX_NAME_BYTES = 200
_HASH_LENGTH = 10



def plan_output_paths(
    inputs: Sequence[Path], out_dir: Path, ext: str | None = None, suffix: str = ""
) -> list[Path]:
    """One output path per input, the same every run for the same inputs (so a batch can resume).

    ``out_dir / (stem + suffix + "." + ext)``; ``ext`` defaults to each input's own extension
    (jpeg -> jpg, unwritable ones such as gif -> png). A video keeps its container whatever ``ext``
    (``gpen.video_formats.output_container``). Names that would collide (compared as a
    case-insensitive file system would) get the source extension (``a_jpg.png``), then a number in
    input order (``a_2.png``); an output that would overwrite an input gets ``_gpen``. Names over
    200 UTF-8 bytes keep their start plus a stable hash.
    """
    sources = [Path(item) for item in inputs]
    out_dir = Path(out_dir)
    chosen_ext = None if ext is None else _normalise_extension(ext)
    extensions = [output_container(source) if is_video(source) else chosen_ext or _default_extension(source)
                  for source in sources]
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
    if extension not in WRITE_FORMATS:
        known = ", ".join(name for name in WRITE_FORMATS if name != "jpeg")
        raise ImageWriteError(f"Cannot write .{extension} images; choose one of {known}.")
    return extension


def _source_extension(source: Path) -> str:
    return source.suffix.lower().lstrip(".")


def _default_extension(source: Path) -> str:
    extension = _source_extension(source)
    if extension == "jpeg":
        return "jpg"
    return extension if extension in WRITE_FORMATS else "png"


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
