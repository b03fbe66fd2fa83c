"""geofm-clay: the Clay v1 / v1.5 encoders for geofm (wavelength-conditioned, any bands).

Importing the package is light (no torch). The model lives in :mod:`geofm_clay.model`
(:class:`~geofm_clay.model.ClayEncoder`), the factories in :mod:`geofm_clay.factory`
(:func:`~geofm_clay.factory.build_clay`, ``clay_v1_base``, ``clay_v1_5_large``), checkpoint loading in
:mod:`geofm_clay.checkpoint`.
"""

from __future__ import annotations

from geofm_clay.sensors import SENSORS, ClaySensor, get_sensor, wavelengths_for
from geofm_clay.variants import VARIANTS, ClayVariant

__version__ = "0.1.0"

__all__ = ["SENSORS", "VARIANTS", "ClaySensor", "ClayVariant", "__version__", "get_sensor", "wavelengths_for"]
