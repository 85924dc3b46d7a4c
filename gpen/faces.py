"""Face geometry: which faces to restore, alignment to GPEN's template, soft masks and paste-back.

Pure functions on numpy arrays; images are HxWx3 uint8 RGB. Facts follow the official pipeline
(``reference/PIPELINE.md``); the places where we differ are marked "Differs:".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .messages import Message
from .options import FACE_CHOICES, FaceChoice


# GPEN's own 5-point template for a 512x512 crop (not facexlib's FFHQ one): left eye, right eye,
# nose, left and right mouth corners, as seen in the image.
GPEN_TEMPLATE_512 = np.array([
    [202.040684, 242.883963], [309.430246, 242.289981], [256.0768, 303.95917],
    [211.959775, 366.828195], [300.891125, 366.33631]], dtype=np.float64)

SMALL_FACE_PX = 100          # faces whose box's shorter side is under this are softened before pasting
MASK_SIZE_PX = 512           # the parser works at 512x512
MASK_BORDER_PX = 26          # zeroed border of the parsing mask
MASK_BLUR_KERNEL_PX = 101
MASK_BLUR_SIGMA = 4.0
# Parsing classes that are not pasted: background, hat, cloth (facexlib/CelebAMask-HQ order).
NON_FACE_CLASSES = (0, 14, 18)
SMALL_FACE_KERNEL = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float32) / 16
BLEND_BAND_PX = 1 << 20     # pixels blended per step of paste_faces (bounds its temporary memory)
# Where faces overlap, a later face takes a pixel only where its mask is larger by more than this, so
# that float rounding (about 1e-7 in float32) never decides between two faces whose masks are equal.
MASK_TIE_MARGIN = 1e-5


@dataclass(frozen=True)
class Face:
    """A detected face: box (x1, y1, x2, y2) in image pixels, detector score, 5 landmarks (5x2)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def short_side_px(self) -> float:
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def area_px(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclass(frozen=True)
class RestoredFace:
    """A restored crop ready to paste: the crop (size x size RGB uint8), its soft mask in [0, 1]
    (size x size float32) and the 2x3 matrix that aligned the photo to the crop."""

    crop: np.ndarray
    mask: np.ndarray
    matrix: np.ndarray


def number_faces(faces: Sequence[Face]) -> list[Face]:
    """The faces in the order they are numbered for people (1, 2, ...): left to right by the centre of their
    box, then top to bottom."""
    return sorted(faces, key=lambda face: ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2))


def select_faces(faces: Sequence[Face], choice: FaceChoice, image_size: tuple[int, int],
                 min_face_px: float = 0, numbers: Sequence[int] = ()) -> list[Face]:
    """Keep the faces the user asked for: the ones with these ``numbers`` (``number_faces``) when given,
    otherwise all, the largest, or the one nearest the image centre; either way ignoring those whose box's
    shorter side is under ``min_face_px``. ``image_size`` is (h, w)."""
    if numbers:
        numbered = number_faces(faces)
        missing = sorted({number for number in numbers if not 1 <= number <= len(numbered)})
        if missing:
            raise ValueError(Message("no_such_face" if len(numbered) != 1 else "no_such_face_of_one",
                                     numbers=", ".join(map(str, missing)), count=len(numbered)))
        return [numbered[number - 1] for number in sorted(set(numbers))
                if numbered[number - 1].short_side_px >= min_face_px]
    kept = [face for face in faces if face.short_side_px >= min_face_px]
    if not kept or choice == "all":
        return kept
    if choice == "largest":
        return [max(kept, key=lambda face: face.area_px)]
    if choice == "center":
        centre = np.array([image_size[1] / 2, image_size[0] / 2])

        def distance(face: Face) -> float:
            x1, y1, x2, y2 = face.box
            return float(np.hypot(*(np.array([(x1 + x2) / 2, (y1 + y2) / 2]) - centre)))
        return [min(kept, key=distance)]
    raise ValueError(f"faces must be one of {FACE_CHOICES}, got {choice!r}")


def template_points(size_px: int) -> np.ndarray:
    """GPEN's reference points scaled to a ``size_px`` crop."""
    return GPEN_TEMPLATE_512 * (size_px / 512.0)


def estimate_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation; Umeyama, no
    reflection) taking ``source`` points onto ``target`` points. Returns a 2x3 matrix."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = (source_centred ** 2).sum() / len(source)
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if variance > 0 else 1.0
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Warp the face with these landmarks onto GPEN's template. Returns (crop, 2x3 matrix)."""
    matrix = estimate_similarity(landmarks, template_points(size_px))
    crop = cv2.warpAffine(image, matrix, (size_px, size_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, matrix


def soften_small_face(crop: np.ndarray) -> np.ndarray:
    """The official 3x3 blur for faces detected under ``SMALL_FACE_PX`` (hides upscaling artefacts)."""
    return cv2.filter2D(crop, -1, SMALL_FACE_KERNEL)


def mask_from_parsing(classes: np.ndarray, size_px: int) -> np.ndarray:
    """Soft paste mask from a 512x512 map of parsing classes, resized to the crop size (float32).

    Blurred in float64, as the official code does, then stored as float32."""
    mask = (~np.isin(classes, NON_FACE_CLASSES)).astype(np.float64)
    border = MASK_BORDER_PX
    mask[:border, :] = 0
    mask[-border:, :] = 0
    mask[:, :border] = 0
    mask[:, -border:] = 0
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (MASK_BLUR_KERNEL_PX, MASK_BLUR_KERNEL_PX), MASK_BLUR_SIGMA)
    mask = mask.astype(np.float32)
    if size_px != mask.shape[0]:
        mask = cv2.resize(mask, (size_px, size_px), interpolation=cv2.INTER_LINEAR)
    return mask


def _paste_region(matrix: np.ndarray, size_px: int, image_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
    """The part of the photo (x0, y0, x1, y1) that a crop of ``size_px`` covers when warped back."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size_px, 0, 1], [0, size_px, 1], [size_px, size_px, 1]], dtype=np.float64)
    mapped = corners @ inverse.T
    height, width = image_shape[:2]
    x0 = max(int(np.floor(mapped[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(mapped[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(mapped[:, 0].max())) + 2, width)
    y1 = min(int(np.ceil(mapped[:, 1].max())) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _warp_back(array: np.ndarray, matrix: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """Warp a crop-space array back into one region of the photo (bilinear, border 0)."""
    x0, y0, x1, y1 = region
    inverse = cv2.invertAffineTransform(matrix)
    inverse[:, 2] -= (x0, y0)
    return cv2.warpAffine(array, inverse, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def paste_faces(image: np.ndarray, faces: Sequence[RestoredFace], strength: float = 1.0) -> np.ndarray:
    """Composite restored faces onto a copy of the photo at its own resolution.

    The photo may be uint8 or uint16 (a 16-bit file): the 8-bit faces are scaled up to its range and
    blended at its precision, so pixels outside the masks keep their exact values.

    Where faces overlap, each pixel takes the face whose mask is largest there (as the official
    code); where two masks are equal within ``MASK_TIE_MARGIN`` the earlier face keeps the pixel, so
    that float rounding never picks the face. Only each face's bounding region is touched.
    Differs: strength blends in photo space (``photo + strength * mask * (face - photo)``) instead of
    blending the crops before warping, so strength 0 returns the photo exactly.
    """
    result = image.copy()
    if not faces or strength <= 0:
        return result
    regions = [_paste_region(face.matrix, face.crop.shape[0], image.shape) for face in faces]
    used = [region for region in regions if region is not None]
    if not used:
        return result
    ux0, uy0 = min(r[0] for r in used), min(r[1] for r in used)
    ux1, uy1 = max(r[2] for r in used), max(r[3] for r in used)
    union_mask = np.zeros((uy1 - uy0, ux1 - ux0), dtype=np.float32)
    # The winning pixels keep the crops' own dtype (uint8): a quarter of float32 on a large photo.
    crop_dtype = np.result_type(*(face.crop.dtype for face in faces))
    union_faces = np.zeros((uy1 - uy0, ux1 - ux0, 3), dtype=crop_dtype)
    for face, region in zip(faces, regions):
        if region is None:
            continue
        x0, y0, x1, y1 = region
        mask = _warp_back(face.mask.astype(np.float32), face.matrix, region)
        pixels = _warp_back(face.crop, face.matrix, region)
        local = (slice(y0 - uy0, y1 - uy0), slice(x0 - ux0, x1 - ux0))
        wins = mask > union_mask[local] + MASK_TIE_MARGIN
        np.copyto(union_mask[local], mask, where=wins)
        np.copyto(union_faces[local], pixels, where=wins[..., None])
    weight = np.clip(strength, 0.0, 1.0)
    top_value = float(np.iinfo(image.dtype).max)
    face_scale = np.float32(top_value / np.iinfo(crop_dtype).max)   # 257 for 8-bit faces on a 16-bit photo
    # Blend a band of rows at a time, so that the float temporaries stay a few megabytes however
    # large the photo (whole-region temporaries took gigabytes on a 24-megapixel group photo).
    band_rows = max(1, BLEND_BAND_PX // (ux1 - ux0))
    for top in range(uy0, uy1, band_rows):
        bottom = min(top + band_rows, uy1)
        local_rows = slice(top - uy0, bottom - uy0)
        alpha = (weight * union_mask[local_rows])[..., None]
        base = image[top:bottom, ux0:ux1].astype(np.float32)
        blended = base + alpha * (union_faces[local_rows].astype(np.float32) * face_scale - base)
        result[top:bottom, ux0:ux1] = np.clip(np.rint(blended), 0, top_value).astype(image.dtype)
    return result


def paste_mask(image_shape: tuple[int, ...], faces: Sequence[RestoredFace]) -> np.ndarray:
    """Where ``paste_faces`` puts faces: the largest of the faces' soft masks at each photo pixel
    (HxW float32 in [0, 1]). Pixels where it is 0 are never changed by pasting."""
    union = np.zeros(image_shape[:2], dtype=np.float32)
    for face in faces:
        region = _paste_region(face.matrix, face.crop.shape[0], image_shape)
        if region is None:
            continue
        x0, y0, x1, y1 = region
        np.maximum(union[y0:y1, x0:x1], _warp_back(face.mask.astype(np.float32), face.matrix, region),
                   out=union[y0:y1, x0:x1])
    return union


def crop_coverage(matrix: np.ndarray, size_px: int, image_shape: tuple[int, ...]) -> np.ndarray:
    """Which pixels of an aligned crop come from the photo (1) and which from the black border
    ``align_face`` fills in beyond its edges (0): size_px x size_px float32."""
    inverse = cv2.invertAffineTransform(matrix)
    rows, columns = np.mgrid[0:size_px, 0:size_px].astype(np.float32)
    x = inverse[0, 0] * columns + inverse[0, 1] * rows + inverse[0, 2]
    y = inverse[1, 0] * columns + inverse[1, 1] * rows + inverse[1, 2]
    height, width = image_shape[:2]
    return ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).astype(np.float32)
