"""Draw docs/modes.png: a real photo before and after each mode (natural, strong, detail).

    .venv/bin/python scripts/make_mode_strip.py [--models-dir DIR] [--output docs/modes.png]

The face sits at known landmarks (the test scene: a real face pasted into a real group photo), so
no detector is needed. With GPEN-BFR-512 and ParseNet in the models folder the strip shows the real
restoration plus each mode's controls. Without them the restorer is an identity stand-in and the
parser a stand-in that marks the whole crop as face (giving GPEN's official soft mask), so the
strip shows exactly what each mode's controls do and nothing else; the figure says which it is.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from doubles import FixedDetector, IdentityRestorer  # noqa: E402
from gpen import registry  # noqa: E402
from gpen.adjustments import MODE_CHOICES, MODES, options_for_mode  # noqa: E402
from gpen.engine import Engine, EngineConfig  # noqa: E402
from gpen.faces import Face  # noqa: E402
from gpen.parsing import FaceParser  # noqa: E402
from gpen.weights import load_restorer  # noqa: E402
from photos import scene_with_face  # noqa: E402

PANEL_PX = 300
VIEW = (slice(750, 1050), slice(490, 790))     # rows, columns of the scene shown, at its own pixels
ZOOM_PX = (75, 150)                            # rows, columns around the eyes, shown enlarged 2x


class WholeCropIsFace(torch.nn.Module):
    """Parsing stand-in: every pixel is class 1 (skin), so the mask is GPEN's soft border mask."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = torch.zeros(x.shape[0], 19, x.shape[2], x.shape[3])
        logits[:, 1] = 1.0
        return logits, x


def build_engine(face: Face, models_dir: Path) -> tuple[Engine, str]:
    """An engine with the real weights when they are there, else the identity stand-ins."""
    device = torch.device("cpu")
    restorer_file = models_dir / registry.get_spec(registry.DEFAULT_RESTORER).file_name
    parser_file = models_dir / registry.get_spec(registry.PARSER).file_name
    if restorer_file.is_file() and parser_file.is_file():
        restorer = load_restorer(str(restorer_file))
        parser = FaceParser.from_file(parser_file, device)
        note = f"restorer: {registry.DEFAULT_RESTORER}, parser: ParseNet"
    else:
        restorer, parser = IdentityRestorer(512), FaceParser(WholeCropIsFace(), device)
        note = "restorer: identity stand-in (no GPEN weights): only the controls act"
    engine = Engine(EngineConfig(device="cpu"), restorer=restorer, detector=FixedDetector([face]), parser=parser)
    return engine, note


def label(panel: np.ndarray, lines: list[str]) -> np.ndarray:
    """The panel with a white caption band of one or more lines under it."""
    band = np.full((18 * len(lines) + 8, panel.shape[1], 3), 255, np.uint8)
    for number, line in enumerate(lines):
        cv2.putText(band, line, (6, 18 + 18 * number), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([panel, band])


def enlarge(part: np.ndarray) -> np.ndarray:
    return cv2.resize(part, (PANEL_PX, round(part.shape[0] * PANEL_PX / part.shape[1])),
                      interpolation=cv2.INTER_NEAREST)


def describe(mode: str) -> str:
    """A one-line summary of a preset's values, e.g. "den 40 sha 40 con 15 bri 0; skin on detail off"."""
    values = MODES[mode]
    numbers = " ".join(f"{name[:3]} {values[name]:g}" for name in ("denoise", "sharpen", "contrast", "brightness"))
    switches = " ".join(f"{name.split('_')[0]} {'on' if values[name] else 'off'}"
                        for name in ("skin_protection", "detail"))
    return f"{numbers}; {switches}"


def make_strip(models_dir: Path) -> tuple[np.ndarray, str]:
    photo, landmarks, _ = scene_with_face()
    engine, note = build_engine(Face((500.0, 760.0, 780.0, 1040.0), 0.99, landmarks), models_dir)
    images = {"before": photo}
    for mode in MODE_CHOICES:
        result = engine.enhance_one(photo, options_for_mode(mode))
        if not result.ok:
            raise RuntimeError(f"mode {mode}: {result.error}")
        images[mode] = result.image
    eyes_x, eyes_y = np.rint(landmarks[:2].mean(0)).astype(int)
    zoom = (slice(eyes_y - ZOOM_PX[0] // 2, eyes_y + ZOOM_PX[0] // 2),
            slice(eyes_x - ZOOM_PX[1] // 2, eyes_x + ZOOM_PX[1] // 2))
    captions = {"before": "the photo as it is", **{mode: describe(mode) for mode in MODE_CHOICES}}
    panels = [label(np.vstack([image[VIEW], enlarge(image[zoom])]), [name, captions[name]])
              for name, image in images.items()]
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    strip = np.hstack([part for panel in panels for part in (panel, gap)][:-1])
    return label(strip, [note]), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=registry.models_dir())
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "modes.png")
    args = parser.parse_args()
    strip, note = make_strip(args.models_dir)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(args.output, optimize=True)
    print(f"{args.output} ({args.output.stat().st_size // 1024} KB; {note})")


if __name__ == "__main__":
    main()
