"""Naming a batch's results (``gpen.output_names``): stems kept, collisions resolved stably, inputs never
overwritten."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from made_images import quadrants

from gpen.errors import ImageWriteError
from gpen.image_writing import save_image
from gpen.output_names import plan_output_paths

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


