"""geofm-dofa: the DOFA (Dynamic One-For-All) encoders for geofm: one checkpoint for any sensor's bands.

Importing the package is light (no torch). The model lives in :mod:`geofm_dofa.model`
(:class:`~geofm_dofa.model.DOFAEncoder`), the factories in :mod:`geofm_dofa.factory`
(:func:`~geofm_dofa.factory.build_dofa`, ``dofa_small``, ``dofa_base_patch16_224``,
``dofa_large_patch16_224``), checkpoint loading in :mod:`geofm_dofa.checkpoint`, the band -> wavelength
table in :mod:`geofm_dofa.wavelengths`.
"""

from __future__ import annotations

from geofm_dofa.variants import VARIANTS, DofaVariant
from geofm_dofa.wavelengths import CANONICAL_WAVELENGTHS, REFERENCE_WAVELENGTHS, dofa_wavelength, dofa_wavelengths

__version__ = "0.1.0"

__all__ = [
    "CANONICAL_WAVELENGTHS",
    "REFERENCE_WAVELENGTHS",
    "VARIANTS",
    "DofaVariant",
    "__version__",
    "dofa_wavelength",
    "dofa_wavelengths",
]
