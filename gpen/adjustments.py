"""Quality controls: what denoise, sharpen, contrast, brightness, skin-tone protection and detail do.

Pure functions on HxWx3 uint8 RGB arrays (numpy and OpenCV, no torch). Every control at 0 / off
returns its input itself, untouched, so "0 changes nothing" holds bit for bit.

Where each acts (``Engine.finish`` calls them in this order):

- face region, on each restored crop before it is pasted through its soft mask:
  ``protect_skin_tone`` then ``enhance_detail``;
- whole photo, on the photo the faces are pasted onto: ``denoise`` (the restored faces are already
  clean; this brings the rest of the photo to match them);
- whole photo, after pasting: ``adjust_contrast``, ``adjust_brightness``, ``sharpen`` (so the faces
  and the rest of the photo keep the same look).

Tone and sharpness act on luminance only (BT.601 Y): the same amount is added to R, G and B, which
leaves the chroma (Cr, Cb) of every pixel as it was, so colours do not shift (where a colour would
leave the RGB range its chroma shrinks just enough to fit, keeping its hue).
"""
from __future__ import annotations

import cv2
import numpy as np

LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)   # BT.601, as OpenCV's YCrCb
DENOISE_H_PER_UNIT = 0.2           # non-local means filter strength h = 0.2 * denoise (20 at 100)
DENOISE_TEMPLATE_PX = 5
DENOISE_SEARCH_PX = 11
SHARPEN_SIGMA_PX = 1.0             # unsharp mask radius, photo pixels
SHARPEN_GAIN_PER_UNIT = 0.02       # unsharp amount = 0.02 * sharpen (2.0 at 100)
HALO_WINDOW_PX = 3                 # sharpened values are clamped to the input's min/max in this window
DETAIL_SIGMA_PX = 2.0              # detail boost radius, in pixels of a 512 crop
DETAIL_GAIN = 0.8
DETAIL_WINDOW_PX = 5


# ---- luminance helpers ---------------------------------------------------------------------
def luminance(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image as float32 HxW in 0..255."""
    return image.astype(np.float32) @ LUMA_WEIGHTS


def _with_luminance(image: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Give each pixel the luma ``new`` (clipped to 0..255) and keep its chroma: the same amount is
    added to R, G and B. Where that would leave the RGB range, the pixel's chroma is scaled down
    just enough to fit, so hue and luma stay exact instead of a channel clipping (a red coat
    brightened stays red, only less saturated at the limit)."""
    target = np.clip(new, 0.0, 255.0)[..., None]
    colour = image.astype(np.float32) - old[..., None]       # the pixel's offset from its grey
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(colour > 0, (255.0 - target) / colour, np.where(colour < 0, -target / colour, np.inf))
    scale = np.clip(room.min(axis=2, keepdims=True), 0.0, 1.0)
    return np.clip(np.rint(target + scale * colour), 0, 255).astype(np.uint8)


def _limited_boost(luma: np.ndarray, gain: float, sigma_px: float, window_px: int) -> np.ndarray:
    """Unsharp-mask ``luma`` and clamp each value to the input's min/max in a small window, so
    edges get steeper without the bright and dark rims (halos) a plain unsharp mask draws."""
    blurred = cv2.GaussianBlur(luma, (0, 0), sigma_px)
    boosted = luma + gain * (luma - blurred)
    kernel = np.ones((window_px, window_px), np.uint8)
    return np.clip(boosted, cv2.erode(luma, kernel), cv2.dilate(luma, kernel))


# ---- whole photo ---------------------------------------------------------------------------
def denoise(image: np.ndarray, amount: float) -> np.ndarray:
    """Remove noise, 0..100: non-local means on luma (h = 0.2 * amount) and an edge-preserving
    bilateral filter on chroma. Fine texture survives low amounts; 100 removes heavy grain."""
    if amount <= 0:
        return image
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)
    luma = cv2.fastNlMeansDenoising(np.ascontiguousarray(ycrcb[..., 0]), None, DENOISE_H_PER_UNIT * amount,
                                    DENOISE_TEMPLATE_PX, DENOISE_SEARCH_PX)
    guided = np.dstack([luma, ycrcb[..., 1:]])
    # Chroma noise is smoothed where the (denoised) luma and chroma are flat, never across edges.
    smoothed = cv2.bilateralFilter(guided, 7, 0.5 * amount, 3.0)
    return cv2.cvtColor(np.dstack([luma, smoothed[..., 1:]]), cv2.COLOR_YCrCb2RGB)


def adjust_contrast(image: np.ndarray, amount: float) -> np.ndarray:
    """Contrast, -100..100: luma spread about the photo's mean luma times 2 ** (amount / 100)
    (x2 at 100, x0.5 at -100). The mean luma stays where it was (up to clipping)."""
    if amount == 0:
        return image
    luma = luminance(image)
    centre = float(luma.mean())
    return _with_luminance(image, luma, np.clip(centre + 2.0 ** (amount / 100) * (luma - centre), 0, 255))


def adjust_brightness(image: np.ndarray, amount: float) -> np.ndarray:
    """Brightness, -100..100: luma through a gamma curve ``255 * (Y / 255) ** 2 ** (-amount / 100)``.
    Raises (>0) or lowers (<0) the mid-tones; black and white stay black and white, nothing clips."""
    if amount == 0:
        return image
    luma = luminance(image)
    return _with_luminance(image, luma, 255.0 * (luma / 255.0) ** (2.0 ** (-amount / 100)))


def sharpen(image: np.ndarray, amount: float) -> np.ndarray:
    """Sharpen, 0..100: a halo-limited unsharp mask on luma (radius 1 px, gain 0.02 * amount),
    every value clamped to the input's 3x3 min/max so no bright or dark rims appear at edges."""
    if amount <= 0:
        return image
    luma = luminance(image)
    return _with_luminance(image, luma, _limited_boost(luma, SHARPEN_GAIN_PER_UNIT * amount,
                                                       SHARPEN_SIGMA_PX, HALO_WINDOW_PX))


def adjust_photo(image: np.ndarray, *, contrast: float = 0.0, brightness: float = 0.0,
                 sharpen_amount: float = 0.0) -> np.ndarray:
    """The whole-photo controls applied after pasting: contrast, brightness, then sharpen."""
    return sharpen(adjust_brightness(adjust_contrast(image, contrast), brightness), sharpen_amount)


# ---- face region ---------------------------------------------------------------------------
def _rgb_to_lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def mean_lab(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean CIE Lab colour (L, a, b; D65) of an RGB image, weighted by a HxW mask."""
    lab = _rgb_to_lab(image)
    total = float(weights.sum())
    if total <= 0:
        raise ValueError("the mask is empty: no pixels to average")
    return (lab * weights[..., None]).reshape(-1, 3).sum(0) / total


def protect_skin_tone(restored: np.ndarray, original: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Move the restored face's mean Lab colour (lightness and chroma, over the face mask) back to
    the original face's, so the restorer cannot make skin grey, red or lighter than the photo.

    Only the mean moves: the restored texture and shading are kept. A second pass corrects what
    clipping to the RGB gamut took away from the first."""
    weights = np.asarray(mask, dtype=np.float32)
    if float(weights.sum()) <= 0:
        return restored
    target = mean_lab(original, weights)
    result = restored
    for _ in range(2):
        lab = _rgb_to_lab(result)
        lab += target - (lab * weights[..., None]).reshape(-1, 3).sum(0) / float(weights.sum())
        result = _lab_to_rgb(lab)
    return result


def enhance_detail(crop: np.ndarray) -> np.ndarray:
    """Boost the fine detail of a face crop (eyes, brows, lashes, hair, lips): a halo-limited
    high-frequency boost on luma, radius 2 px at 512 px and scaled with the crop."""
    luma = luminance(crop)
    sigma_px = DETAIL_SIGMA_PX * crop.shape[0] / 512
    return _with_luminance(crop, luma, _limited_boost(luma, DETAIL_GAIN, sigma_px, DETAIL_WINDOW_PX))


def adjust_face(restored: np.ndarray, original: np.ndarray, mask: np.ndarray, *,
                skin_protection: bool = False, detail: bool = False) -> np.ndarray:
    """The face-region controls on one restored crop, before it is pasted. ``mask`` weighs the
    pixels of the colour statistics: the face mask, less any part of the crop beyond the photo."""
    if skin_protection:
        restored = protect_skin_tone(restored, original, mask)
    if detail:
        restored = enhance_detail(restored)
    return restored
