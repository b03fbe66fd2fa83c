"""geofm-terramind: the TerraMind v1 encoders (IBM / ESA) for geofm, over raw-pixel modalities.

Importing the package is light (no torch). The model lives in :mod:`geofm_terramind.model`
(:class:`~geofm_terramind.model.TerraMindEncoder`), the factories in :mod:`geofm_terramind.factory`
(:func:`~geofm_terramind.factory.build_terramind`, ``terramind_v1_tiny`` ... ``terramind_v1_large``),
checkpoint loading in :mod:`geofm_terramind.checkpoint`, the modalities in :mod:`geofm_terramind.modalities`.
"""

from __future__ import annotations

from geofm_terramind.modalities import MODALITIES, Modality, infer_modalities, plan_inputs, resolve_modality
from geofm_terramind.variants import VARIANTS, TerraMindVariant

__version__ = "0.1.0"

__all__ = [
    "MODALITIES",
    "VARIANTS",
    "Modality",
    "TerraMindVariant",
    "__version__",
    "infer_modalities",
    "plan_inputs",
    "resolve_modality",
]
