"""geofm-decoders: UPerNet, FCN, UNet, linear / MLP / identity and every segmentation-models-pytorch decoder.

Importing the package is light; the decoder classes (which import torch) load on first attribute access.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "FCNDecoder": "geofm_decoders.fcn",
    "IdentityDecoder": "geofm_decoders.simple",
    "LinearDecoder": "geofm_decoders.simple",
    "MLPDecoder": "geofm_decoders.simple",
    "SmpDecoder": "geofm_decoders.smp_adapter",
    "UNetDecoder": "geofm_decoders.unet",
    "UPerNetDecoder": "geofm_decoders.upernet",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str) -> Any:
    """Import the decoder classes lazily (they pull in torch, timm and smp)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'geofm_decoders' has no attribute {name!r}")
