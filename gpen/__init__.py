"""GPEN WebUI's engine: restore the faces in photos with GPEN, batched across photos.

    from gpen import Engine, EngineConfig, EnhanceOptions
    engine = Engine(EngineConfig(model="GPEN-BFR-512", device="auto", batch_size=8))
    result = engine.enhance_one(rgb_uint8_image, EnhanceOptions(strength=0.8))
"""
from .engine import Engine, EnhanceResult
from .errors import GpenError
from .options import EngineConfig, EnhanceOptions, options_for_mode

__all__ = ["Engine", "EngineConfig", "EnhanceOptions", "EnhanceResult", "GpenError", "options_for_mode"]
