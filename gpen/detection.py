"""Face detection with facexlib's RetinaFace (ResNet-50 or MobileNet-0.25, inferred from the file).

facexlib's ``RetinaFace.detect_faces`` stores per-call values on the module (``self.resize``,
``self.scale``), which is unsafe when one detector serves several threads. We call only the
module's stateless ``forward`` and do the resizing, prior boxes (cached per input size), decoding
and non-maximum suppression here, as the official GPEN code does them (``reference/PIPELINE.md``):
a large photo is resized as a float image by one factor for both axes and the boxes are mapped back
by that factor; NMS uses the "+1 pixel" box areas and keeps at most 5000 boxes before and 750 after.
"""
from __future__ import annotations

import functools
import logging
import warnings

import cv2
import numpy as np
import torch

from .devices import NetworkOnDevice
from .errors import ModelFileError
from .faces import Face

log = logging.getLogger(__name__)

SCORE_THRESHOLD = 0.9
NMS_THRESHOLD = 0.4
LONG_SIDE_LIMIT_PX = 1500      # photos whose long side exceeds this are detected on a resize ...
DETECTION_LONG_SIDE_PX = 1000  # ... whose long side is this (official values)
RESIZE_BAND_ROWS = 256        # rows of a large photo converted to float at a time, for detection
MAX_BOXES_BEFORE_NMS = 5000   # official top_k
MAX_BOXES_AFTER_NMS = 750     # official keep_top_k
BGR_MEAN = (104.0, 117.0, 123.0)
PRIOR_MIN_SIZES = ((16, 32), (64, 128), (256, 512))
PRIOR_STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)


@functools.lru_cache(maxsize=32)
def prior_boxes(height: int, width: int) -> torch.Tensor:
    """RetinaFace anchor priors (cx, cy, w, h), normalised, for one input size; cached."""
    rows = []
    for step, min_sizes in zip(PRIOR_STEPS, PRIOR_MIN_SIZES):
        grid_h, grid_w = -(-height // step), -(-width // step)
        ys, xs = np.meshgrid(np.arange(grid_h), np.arange(grid_w), indexing="ij")
        cx = ((xs + 0.5) * step / width).ravel()
        cy = ((ys + 0.5) * step / height).ravel()
        per_size = [np.stack([cx, cy, np.full_like(cx, s / width), np.full_like(cy, s / height)], 1)
                    for s in min_sizes]
        rows.append(np.stack(per_size, 1).reshape(-1, 4))   # sizes vary fastest, as in facexlib
    return torch.from_numpy(np.concatenate(rows).astype(np.float32))


def detection_scale(height: int, width: int) -> float:
    """The factor a photo is resized by before detection: 1, or what brings a long side over
    ``LONG_SIDE_LIMIT_PX`` down to ``DETECTION_LONG_SIDE_PX``."""
    long_side = max(height, width)
    return DETECTION_LONG_SIDE_PX / long_side if long_side > LONG_SIDE_LIMIT_PX else 1.0


def detector_input(image: np.ndarray) -> tuple[np.ndarray, float]:
    """The network's input for an RGB uint8 photo (HxWx3 float32, BGR, mean subtracted) and the factor
    it was resized by. As the official code: the float image is resized with ``fx = fy = scale``, so
    that dividing by ``scale`` maps the input's pixels back to the photo's on both axes."""
    scale = detection_scale(*image.shape[:2])
    if scale == 1.0:
        bgr = np.ascontiguousarray(image[:, :, ::-1], dtype=np.float32)
    else:
        # Bilinear resizing is separable: each row across (in bands of rows, converted to float as they
        # go), then the columns down. The same numbers as resizing the whole float image at once (to
        # float rounding), without a float copy of a large photo (288 MB for 24 megapixels).
        narrow = np.empty((image.shape[0], round(image.shape[1] * scale), 3), np.float32)
        for top in range(0, image.shape[0], RESIZE_BAND_ROWS):
            band = np.ascontiguousarray(image[top:top + RESIZE_BAND_ROWS, :, ::-1], dtype=np.float32)
            narrow[top:top + RESIZE_BAND_ROWS] = cv2.resize(band, (0, 0), fx=scale, fy=1.0,
                                                            interpolation=cv2.INTER_LINEAR)
        bgr = cv2.resize(narrow, (0, 0), fx=1.0, fy=scale, interpolation=cv2.INTER_LINEAR)
    bgr -= np.array(BGR_MEAN, dtype=np.float32)
    return bgr, scale


def suppress_overlaps(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression as the official code does it: box areas count both edge pixels
    ("+1": a box from x1 to x2 is ``x2 - x1 + 1`` wide), at most ``MAX_BOXES_BEFORE_NMS`` boxes go in,
    at most ``MAX_BOXES_AFTER_NMS`` come out. Returns the indices kept, best score first."""
    order = np.argsort(-scores, kind="stable")[:MAX_BOXES_BEFORE_NMS]
    x1, y1, x2, y2 = (boxes[:, column] for column in range(4))   # float32, as official
    with np.errstate(over="ignore", invalid="ignore"):   # a broken checkpoint can give infinite boxes
        areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    kept = []
    while order.size > 0 and len(kept) < MAX_BOXES_AFTER_NMS:
        best, rest = order[0], order[1:]
        kept.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        overlap = width * height
        iou = overlap / (areas[best] + areas[rest] - overlap)
        order = rest[iou <= iou_threshold]
    return np.array(kept, dtype=np.int64)


def build_retinaface(state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """facexlib's RetinaFace with the backbone its state dict was trained with."""
    from facexlib.detection.retinaface import RetinaFace

    if any(key.startswith("body.layer2") for key in state_dict):
        network = "resnet50"
    elif any(key.startswith("body.stage1") for key in state_dict):
        network = "mobile0.25"
    else:
        raise ModelFileError("not a RetinaFace detector checkpoint (neither ResNet-50 nor MobileNet-0.25 keys)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # torchvision's 'pretrained' deprecation inside facexlib
        model = RetinaFace(network_name=network, half=False, phase="test", device="cpu")
    model.load_state_dict(state_dict, strict=True)
    return model.eval().requires_grad_(False)


class FaceDetector(NetworkOnDevice):
    """Finds faces and their 5 landmarks in RGB uint8 photos. Safe to share between threads."""

    kind = "RetinaFace"
    build = staticmethod(build_retinaface)

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an HxWx3 RGB uint8 photo, best score first, in the photo's own pixels."""
        bgr, scale = detector_input(image)
        tensor = torch.from_numpy(bgr).permute(2, 0, 1)[None].to(self.device)   # channels-last view
        with self.autocast():
            locations, confidences, landmark_offsets = self.model(tensor)
        input_h, input_w = tensor.shape[2:]
        priors = prior_boxes(input_h, input_w).to(self.device)
        scores = confidences[0, :, 1].float()
        keep = scores > SCORE_THRESHOLD
        if not bool(keep.any()):
            return []
        priors, locations = priors[keep], locations[0][keep].float()
        landmark_offsets, scores = landmark_offsets[0][keep].float(), scores[keep]
        centres = priors[:, :2] + locations[:, :2] * VARIANCES[0] * priors[:, 2:]
        sizes = priors[:, 2:] * torch.exp(locations[:, 2:] * VARIANCES[1])
        boxes = torch.cat([centres - sizes / 2, centres + sizes / 2], 1)
        points = priors[:, None, :2] + landmark_offsets.view(-1, 5, 2) * VARIANCES[0] * priors[:, None, 2:]
        # NMS in the network input's pixels (as official), then back to the photo's by the one factor.
        to_pixels = torch.tensor([input_w, input_h], device=boxes.device, dtype=boxes.dtype)
        boxes = (boxes * to_pixels.repeat(2)).cpu().numpy()
        points = (points * to_pixels).cpu().numpy()
        scores = scores.cpu().numpy()
        kept = suppress_overlaps(boxes, scores, NMS_THRESHOLD)
        boxes, points, scores = boxes[kept] / scale, points[kept] / scale, scores[kept]
        return [Face(tuple(float(v) for v in box), float(score), landmarks.astype(np.float64))
                for box, score, landmarks in zip(boxes, scores, points)]
