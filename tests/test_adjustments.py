"""The quality controls, measured on real photos through the whole engine.

The restorer is a stand-in (identity, or one that tints), so what changes is exactly what the
controls do. The parser's network votes "skin" everywhere, so each paste mask is GPEN's official
soft face-shaped mask (26 px border, two Gaussian blurs) and does not depend on the picture.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from doubles import FixedDetector, IdentityRestorer, TintingRestorer
from gpen import adjustments
from gpen.adjustments import luminance, mean_lab
from gpen.options import MODES, options_for_mode
from gpen.engine import Engine, EngineConfig, EnhanceOptions
from gpen.faces import Face, RestoredFace, align_face, paste_mask
from gpen.parsing import FaceParser
from photos import read_photo, scene_with_face

README = Path(__file__).resolve().parents[1] / "README.md"
LEVELS = (0, 25, 50, 75, 100)
SIGNED_LEVELS = (-100, -50, 0, 50, 100)
# The presets as the README documents them (checked against both MODES and the README's table).
DOCUMENTED_MODES = {
    "natural": dict(denoise=0, sharpen=0, contrast=0, brightness=0, skin_protection=False, detail=False),
    "strong": dict(denoise=40, sharpen=40, contrast=15, brightness=0, skin_protection=True, detail=False),
    "detail": dict(denoise=20, sharpen=25, contrast=0, brightness=0, skin_protection=True, detail=True),
}


class SkinEverywhere(torch.nn.Module):
    """A parsing network whose logits favour class 1 (skin) at every pixel."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.zeros(x.shape[0], 19, x.shape[2], x.shape[3])
        logits[:, 1] = 1.0
        return logits, x


PARSER = FaceParser(SkinEverywhere(), torch.device("cpu"))


def small_scene(noise_sigma: float = 0.0) -> tuple[np.ndarray, Face]:
    """A 600x600 part of a real group photo with a real face pasted at known landmarks."""
    photo, landmarks, _ = scene_with_face()
    top, left = 600, 340
    photo = photo[top:top + 600, left:left + 600].copy()
    landmarks = landmarks - (left, top)
    if noise_sigma:
        noise = np.random.default_rng(0).normal(0.0, noise_sigma, photo.shape)
        photo = np.clip(np.rint(photo + noise), 0, 255).astype(np.uint8)
    return photo, Face((160.0, 160.0, 440.0, 440.0), 0.99, landmarks)


def make_engine(face: Face, restorer: torch.nn.Module | None = None) -> Engine:
    return Engine(EngineConfig(device="cpu"), restorer=restorer or IdentityRestorer(512),
                  detector=FixedDetector([face]), parser=PARSER)


def face_weights(photo: np.ndarray, face: Face) -> np.ndarray:
    """The paste mask of the face in photo pixels (0 where pasting never touches the photo)."""
    crop, matrix = align_face(photo, face.landmarks, 512)
    return paste_mask(photo.shape, [RestoredFace(crop, PARSER.masks([crop])[0], matrix)])


def noise_sigma(image: np.ndarray, where: np.ndarray) -> float:
    """Immerkaer's noise estimate made robust with the median: the 3x3 second-difference residual
    cancels smooth image content; its median absolute value / 0.6745 / 6 is sigma for Gaussian
    noise. Averaged over R, G, B, over the pixels in ``where``."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    inside = cv2.erode(where.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inside[[0, -1], :] = inside[:, [0, -1]] = False
    return float(np.mean([np.median(np.abs(cv2.filter2D(image[..., channel].astype(np.float32), -1, kernel)[inside]))
                          for channel in range(3)]) / 0.6745 / 6)


def laplacian_variance(image: np.ndarray, where: np.ndarray | None = None) -> float:
    laplacian = cv2.Laplacian(luminance(image), cv2.CV_32F)
    return float(laplacian.var() if where is None else laplacian[where].var())


def chroma(image: np.ndarray) -> np.ndarray:
    """BT.601 (Cr, Cb) about grey, float32 HxWx2."""
    luma = luminance(image)
    return np.dstack([0.713 * (image[..., 0] - luma), 0.564 * (image[..., 2] - luma)])


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, Face]:
    return small_scene()


@pytest.fixture(scope="module")
def identity(scene) -> Engine:
    return make_engine(scene[1])


# ---- 0 / off changes nothing ---------------------------------------------------------------
@pytest.mark.parametrize("name", ["portrait_small.jpg", "group_old_photo.jpg"])
def test_every_control_at_zero_returns_its_input_itself(name):
    photo = read_photo(name)
    for function in (adjustments.denoise, adjustments.sharpen, adjustments.adjust_contrast,
                     adjustments.adjust_brightness):
        assert function(photo, 0) is photo
    assert adjustments.adjust_photo(photo) is photo
    assert adjustments.adjust_face(photo, photo[::-1], np.ones(photo.shape[:2], np.float32)) is photo


def test_default_options_are_natural_and_explicit_zeros_change_nothing(scene, identity):
    assert EnhanceOptions() == options_for_mode("natural")
    zeros = EnhanceOptions(denoise=0, sharpen=0, contrast=0, brightness=0, skin_protection=False, detail=False)
    assert np.array_equal(identity.enhance_one(scene[0], zeros).image, identity.enhance_one(scene[0]).image)


# ---- strength, and the face region ---------------------------------------------------------
@pytest.mark.parametrize("face_controls", [{}, {"skin_protection": True, "detail": True}])
def test_strength_zero_returns_the_photo_exactly(scene, face_controls):
    photo, face = scene
    tinting = make_engine(face, TintingRestorer(512))
    assert np.array_equal(tinting.enhance_one(photo, EnhanceOptions(strength=0.0, **face_controls)).image, photo)


def test_face_pixels_move_monotonically_toward_the_restored_face(scene):
    photo, face = scene
    tinting = make_engine(face, TintingRestorer(512))
    inside = face_weights(photo, face) > 0.5
    results = [tinting.enhance_one(photo, EnhanceOptions(strength=strength)).image.astype(np.int16)
               for strength in (0.0, 0.25, 0.5, 0.75, 1.0)]
    restored = results[-1]
    distances = [np.abs(result - restored)[inside].mean() for result in results]
    assert all(a > b for a, b in zip(distances, distances[1:])), distances
    steps = [np.abs(result - photo)[inside] for result in results]
    for nearer, further in zip(steps, steps[1:]):     # every pixel, not only the mean (rounding: 1 level)
        assert np.all(further >= nearer - 1)


@pytest.mark.parametrize("strength", [0.5, 1.0])
@pytest.mark.parametrize("face_controls", [{}, {"skin_protection": True}, {"detail": True},
                                           {"skin_protection": True, "detail": True}])
def test_face_controls_never_touch_pixels_outside_every_paste_mask(scene, face_controls, strength):
    photo, face = scene
    tinting = make_engine(face, TintingRestorer(512))
    result = tinting.enhance_one(photo, EnhanceOptions(strength=strength, **face_controls)).image
    outside = face_weights(photo, face) == 0
    assert outside.mean() > 0.5
    assert np.array_equal(result[outside], photo[outside])
    assert np.any(result[~outside] != photo[~outside])


# ---- denoise (whole photo: the photo the faces are pasted onto) ----------------------------
def test_denoise_lowers_the_noise_of_the_photo_step_by_step():
    clean, face = small_scene()
    noisy, _ = small_scene(noise_sigma=12.0)
    engine = make_engine(face)
    weights = face_weights(noisy, face)
    background = weights == 0
    results = {level: engine.enhance_one(noisy, EnhanceOptions(denoise=level)).image for level in LEVELS}
    sigmas = [noise_sigma(results[level], background) for level in LEVELS]
    print("noise sigma by denoise level", dict(zip(LEVELS, np.round(sigmas, 2))),
          "clean photo", round(noise_sigma(clean, background), 2))
    assert 10 < sigmas[0] < 14                         # the estimator sees the added noise
    assert all(a > b for a, b in zip(sigmas, sigmas[1:])), sigmas
    assert sigmas[-1] < 0.25 * sigmas[0]
    # The restored face is already clean: where its mask is (nearly) 1 the denoiser leaves it alone.
    face_only = weights > 0.999
    assert face_only.mean() > 0.05
    assert np.abs(results[100][face_only].astype(np.int16) - results[0][face_only]).max() <= 1


# ---- sharpen (whole photo, after pasting) --------------------------------------------------
def test_sharpen_raises_laplacian_variance_without_halos(scene, identity):
    photo, _ = scene
    results = {level: identity.enhance_one(photo, EnhanceOptions(sharpen=level)).image for level in LEVELS}
    variances = [laplacian_variance(results[level]) for level in LEVELS]
    print("laplacian variance by sharpen level", dict(zip(LEVELS, np.round(variances, 1))))
    assert all(a < b for a, b in zip(variances, variances[1:])), variances
    assert variances[-1] > 2 * variances[0]
    before = luminance(results[0])
    window = np.ones((3, 3), np.uint8)
    low, high = cv2.erode(before, window), cv2.dilate(before, window)
    edges = high - low > 40
    assert edges.mean() > 0.01                         # there are strong edges to overshoot at
    for level in LEVELS[1:]:
        after = luminance(results[level])
        assert after.min() >= 0 and np.all(after >= low - 2) and np.all(after <= high + 2)
        assert np.abs(after - before)[edges].mean() > 1   # edges do change: they get steeper


# ---- contrast and brightness (whole photo, luminance only) ---------------------------------
def test_contrast_spreads_luminance_about_its_mean_and_keeps_colours(scene, identity):
    photo, _ = scene
    neutral = identity.enhance_one(photo).image
    results = {level: identity.enhance_one(photo, EnhanceOptions(contrast=level)).image for level in SIGNED_LEVELS}
    assert np.array_equal(results[0], neutral)
    means = [luminance(results[level]).mean() for level in SIGNED_LEVELS]
    spreads = [luminance(results[level]).std() for level in SIGNED_LEVELS]
    print("contrast: luma mean", np.round(means, 1), "std", np.round(spreads, 1))
    assert all(a < b for a, b in zip(spreads, spreads[1:])), spreads
    assert spreads[0] < 0.6 * spreads[2] and spreads[-1] > 1.4 * spreads[2]
    assert max(abs(mean - means[2]) for mean in means) < 4
    assert_chroma_kept(neutral, results[50])
    assert_chroma_kept(neutral, results[-50])


def test_brightness_moves_mean_luminance_and_keeps_black_white_and_colours(scene, identity):
    photo, _ = scene
    neutral = identity.enhance_one(photo).image
    results = {level: identity.enhance_one(photo, EnhanceOptions(brightness=level)).image
               for level in SIGNED_LEVELS}
    assert np.array_equal(results[0], neutral)
    means = [luminance(results[level]).mean() for level in SIGNED_LEVELS]
    print("brightness: luma mean", np.round(means, 1))
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert means[0] < means[2] - 20 and means[-1] > means[2] + 20
    extremes = np.array([[[0, 0, 0], [255, 255, 255]]], np.uint8)
    for level in SIGNED_LEVELS:
        assert np.array_equal(adjustments.adjust_brightness(extremes, level), extremes)
    assert_chroma_kept(neutral, results[-50])
    assert_chroma_kept(neutral, results[100])


def assert_chroma_kept(before: np.ndarray, after: np.ndarray) -> None:
    """A luminance-only change keeps each pixel's chroma (Cr, Cb): exactly (up to rounding) where
    the colour fits the RGB range, and at least its hue where the chroma had to shrink to fit."""
    old, new = chroma(before), chroma(after)
    old_size, new_size = np.linalg.norm(old, axis=2), np.linalg.norm(new, axis=2)
    assert np.mean(np.abs(new - old).max(axis=2) <= 1) > 0.6
    assert np.all(new_size <= old_size + 1.5)                # never more saturated
    coloured = (old_size > 12) & (new_size > 12)
    cosine = (old * new).sum(axis=2)[coloured] / (old_size * new_size)[coloured]
    assert np.degrees(np.arccos(np.clip(cosine, -1, 1))).max() < 8   # hue kept


# ---- skin-tone protection (face region) ----------------------------------------------------
def test_skin_protection_keeps_the_face_colour_of_the_photo(scene):
    photo, face = scene
    tinting = make_engine(face, TintingRestorer(512))
    weights = face_weights(photo, face)
    original = mean_lab(photo, weights)
    delta_e = {}
    for protect in (False, True):
        result = tinting.enhance_one(photo, EnhanceOptions(skin_protection=protect)).image
        delta_e[protect] = float(np.linalg.norm(mean_lab(result, weights) - original))
    print("mean face colour, CIE76 delta E from the original: protection off",
          round(delta_e[False], 2), "on", round(delta_e[True], 2))
    assert delta_e[True] < 3
    assert delta_e[False] > 10          # the tinting restorer really does change skin tone


class PaintsBeyondTheEdge(torch.nn.Module):
    """Tints the face and, as GPEN does, paints skin where alignment left black (beyond the photo)."""

    size = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beyond = (x <= -1).all(dim=1, keepdim=True)
        painted = torch.tensor([0.7, 0.2, 0.0]).view(1, 3, 1, 1)
        return torch.where(beyond, painted, (x + torch.tensor([0.25, 0.0, -0.2]).view(1, 3, 1, 1)).clamp(-1, 1))


def test_skin_protection_of_a_face_cut_by_the_photo_edge():
    photo, face = small_scene()
    photo = np.ascontiguousarray(photo[:, 200:])         # about a third of the face is off the photo
    face = Face((-40.0, 160.0, 240.0, 440.0), 0.99, face.landmarks - (200, 0))
    weights = face_weights(photo, face)
    result = make_engine(face, PaintsBeyondTheEdge()).enhance_one(photo, EnhanceOptions(skin_protection=True))
    assert np.linalg.norm(mean_lab(result.image, weights) - mean_lab(photo, weights)) < 3


def test_skin_protection_keeps_the_restored_texture():
    original = read_photo("aligned_face_512.png")
    restored = np.clip(original.astype(np.int16) + (30, 0, -25), 0, 255).astype(np.uint8)
    weights = PARSER.masks([restored])[0]
    protected = adjustments.protect_skin_tone(restored, original, weights)
    assert np.linalg.norm(mean_lab(protected, weights) - mean_lab(original, weights)) < 1
    detail = cv2.Laplacian(luminance(protected), cv2.CV_32F)
    assert np.corrcoef(detail.ravel(), cv2.Laplacian(luminance(restored), cv2.CV_32F).ravel())[0, 1] > 0.95


# ---- detail enhancement (face region) ------------------------------------------------------
def test_detail_raises_high_frequencies_inside_faces_only(scene, identity):
    photo, face = scene
    weights = face_weights(photo, face)
    plain = identity.enhance_one(photo).image
    detailed = identity.enhance_one(photo, EnhanceOptions(detail=True)).image
    inside, outside = weights > 0.5, weights == 0
    ratio = laplacian_variance(detailed, inside) / laplacian_variance(plain, inside)
    print("laplacian variance inside the face, detail on / off:", round(ratio, 2))
    assert ratio > 1.3
    assert np.array_equal(detailed[outside], photo[outside])
    assert np.array_equal(plain[outside], photo[outside])


def test_aligned_inputs_get_the_controls_too():
    face = cv2.resize(read_photo("aligned_face_512.png"), (256, 256), interpolation=cv2.INTER_AREA)
    engine = Engine(EngineConfig(device="cpu"), restorer=TintingRestorer(256),
                    detector=FixedDetector([]), parser=PARSER)
    plain = engine.enhance_one(face, EnhanceOptions(aligned=True)).image
    protected = engine.enhance_one(face, EnhanceOptions(aligned=True, skin_protection=True)).image
    everywhere = np.ones(face.shape[:2], np.float32)
    original = mean_lab(face, everywhere)
    assert np.linalg.norm(mean_lab(protected, everywhere) - original) < 3
    assert np.linalg.norm(mean_lab(plain, everywhere) - original) > 10
    brighter = engine.enhance_one(face, EnhanceOptions(aligned=True, brightness=50)).image
    assert luminance(brighter).mean() > luminance(plain).mean() + 10


# ---- modes and options ---------------------------------------------------------------------
def test_modes_are_the_documented_presets():
    assert MODES == DOCUMENTED_MODES
    for mode, values in DOCUMENTED_MODES.items():
        options = options_for_mode(mode)
        assert {name: getattr(options, name) for name in values} == values
    assert options_for_mode("strong", sharpen=5, strength=0.5) == EnhanceOptions(
        **{**DOCUMENTED_MODES["strong"], "sharpen": 5, "strength": 0.5})
    with pytest.raises(ValueError, match="mode"):
        options_for_mode("dramatic")


def test_readme_documents_the_presets_exactly():
    lines = README.read_text(encoding="utf-8").split("## Quality controls", 1)[1].splitlines()
    header = next(number for number, line in enumerate(lines) if line.startswith("| mode |"))
    columns = [cell.strip() for cell in lines[header].strip("|").split("|")]
    documented = {}
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        cells = [re.sub(r"[*`]", "", cell).strip() for cell in line.strip("|").split("|")]
        documented[cells[0].split(" ")[0]] = {name: parse_cell(cell) for name, cell in zip(columns[1:], cells[1:])}
    assert documented == DOCUMENTED_MODES


def parse_cell(cell: str) -> float | bool:
    if cell in ("on", "off"):
        return cell == "on"
    return float(re.sub(r"[^0-9.+-]", "", cell.replace("−", "-")))


@pytest.mark.parametrize("field, value, range_text", [
    ("denoise", 100.5, "0 and 100"), ("denoise", -1, "0 and 100"), ("sharpen", 101, "0 and 100"),
    ("contrast", -101, "-100 and 100"), ("brightness", 250, "-100 and 100"), ("sharpen", float("nan"), "0 and 100"),
    ("contrast", "10", "-100 and 100"), ("skin_protection", "yes", "True or False"), ("detail", 1, "True or False"),
])
def test_out_of_range_options_name_the_field_and_range(field, value, range_text):
    with pytest.raises(ValueError, match=f"{field} must be .*{re.escape(range_text)}"):
        EnhanceOptions(**{field: value})
