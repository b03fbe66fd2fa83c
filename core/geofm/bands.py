"""The band vocabulary: canonical band names, their central wavelengths, and each sensor's aliases.

Canonical names are the HLS / Prithvi ones (``BLUE``, ``GREEN``, ``RED``, ``NIR_NARROW``, ``SWIR_1``,
``SWIR_2`` ...) plus the Sentinel-2 red edges and radar polarisations. Sensor band codes mean different
things on different sensors (``B05`` is red edge 1 on Sentinel-2 but the narrow NIR on Landsat 8/9 and
HLS L30), so :func:`canonical_band` takes an optional sensor; without one, Sentinel-2 codes apply.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from geofm.errors import DataError

__all__ = [
    "BANDS",
    "SENSORS",
    "canonical_band",
    "canonical_bands",
    "match_bands",
    "wavelength",
]

BANDS: dict[str, float] = {
    "COASTAL_AEROSOL": 0.443,
    "BLUE": 0.490,
    "GREEN": 0.560,
    "RED": 0.665,
    "RED_EDGE_1": 0.705,
    "RED_EDGE_2": 0.740,
    "RED_EDGE_3": 0.783,
    "NIR_BROAD": 0.842,
    "NIR_NARROW": 0.865,
    "WATER_VAPOR": 0.945,
    "CIRRUS": 1.375,
    "SWIR_1": 1.610,
    "SWIR_2": 2.190,
    "PANCHROMATIC": 0.590,
    "THERMAL_1": 10.895,
    "THERMAL_2": 12.005,
    "VV": 3.5,
    "VH": 4.0,
    "HH": 3.0,
    "HV": 3.25,
}
"""Canonical band name -> central wavelength in micrometres (radar polarisations: Clay's codes)."""

_COMMON_ALIASES: dict[str, str] = {
    "COASTAL": "COASTAL_AEROSOL",
    "AEROSOL": "COASTAL_AEROSOL",
    "NIR": "NIR_BROAD",
    "NIR08": "NIR_NARROW",
    "NARROW_NIR": "NIR_NARROW",
    "REDEDGE1": "RED_EDGE_1",
    "REDEDGE2": "RED_EDGE_2",
    "REDEDGE3": "RED_EDGE_3",
    "SWIR1": "SWIR_1",
    "SWIR2": "SWIR_2",
    "SWIR16": "SWIR_1",
    "SWIR22": "SWIR_2",
    "PAN": "PANCHROMATIC",
    "TIR1": "THERMAL_1",
    "TIR2": "THERMAL_2",
}

_SENTINEL2 = {
    "B1": "COASTAL_AEROSOL",
    "B2": "BLUE",
    "B3": "GREEN",
    "B4": "RED",
    "B5": "RED_EDGE_1",
    "B6": "RED_EDGE_2",
    "B7": "RED_EDGE_3",
    "B8": "NIR_BROAD",
    "B8A": "NIR_NARROW",
    "B9": "WATER_VAPOR",
    "B10": "CIRRUS",
    "B11": "SWIR_1",
    "B12": "SWIR_2",
}
_LANDSAT_OLI = {
    "B1": "COASTAL_AEROSOL",
    "B2": "BLUE",
    "B3": "GREEN",
    "B4": "RED",
    "B5": "NIR_NARROW",
    "B6": "SWIR_1",
    "B7": "SWIR_2",
    "B8": "PANCHROMATIC",
    "B9": "CIRRUS",
    "B10": "THERMAL_1",
    "B11": "THERMAL_2",
}
_LANDSAT_TM = {"B1": "BLUE", "B2": "GREEN", "B3": "RED", "B4": "NIR_BROAD", "B5": "SWIR_1", "B7": "SWIR_2"}
_SENTINEL1 = {"VV": "VV", "VH": "VH", "HH": "HH", "HV": "HV"}

SENSORS: dict[str, dict[str, str]] = {
    "sentinel2": _SENTINEL2,
    "hls_s30": _SENTINEL2,
    "landsat8": _LANDSAT_OLI,
    "landsat9": _LANDSAT_OLI,
    "hls_l30": _LANDSAT_OLI,
    "landsat7": _LANDSAT_TM,
    "landsat5": _LANDSAT_TM,
    "sentinel1": _SENTINEL1,
}
"""Sensor -> band code (without zero padding, upper case) -> canonical name."""

_SENSOR_ALIASES = {"s2": "sentinel2", "s1": "sentinel1", "l30": "hls_l30", "s30": "hls_s30", "oli": "landsat8"}


def _sensor_table(sensor: str | None) -> dict[str, str]:
    key = (sensor or "sentinel2").lower().replace("-", "").replace("_", "")
    for name, table in SENSORS.items():
        if name.replace("_", "") == key:
            return table
    alias = _SENSOR_ALIASES.get(key)
    if alias:
        return SENSORS[alias]
    raise DataError(f"unknown sensor {sensor!r}; known sensors: {', '.join(SENSORS)}")


def _strip_code(code: str) -> str:
    """``B02`` -> ``B2``, ``b8a`` -> ``B8A``."""
    code = code.upper()
    if len(code) > 1 and code[0] == "B" and code[1:].lstrip("0"):
        return "B" + code[1:].lstrip("0")
    return code


def canonical_band(name: str, sensor: str | None = None) -> str:
    """The canonical name of band ``name`` (a canonical name, an alias, or a sensor code like ``B8A``).

    A ``sensor:code`` prefix (``l30:B05``) overrides ``sensor``. Unknown names raise a
    :class:`~geofm.errors.DataError` with close matches.
    """
    text = name.strip()
    if ":" in text:
        sensor, text = text.split(":", 1)
    upper = text.upper().replace("-", "_").replace(" ", "_")
    if upper in BANDS:
        return upper
    if upper in _COMMON_ALIASES:
        return _COMMON_ALIASES[upper]
    code = _strip_code(upper)
    table = _sensor_table(sensor)
    if code in table:
        return table[code]
    known = sorted(set(BANDS) | set(_COMMON_ALIASES) | set(table))
    close = difflib.get_close_matches(upper, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise DataError(
        f"unknown band {name!r} (sensor {sensor or 'sentinel2'}).{hint} Use a canonical name "
        f"({', '.join(BANDS)}) or a sensor code such as B8A; prefix the sensor for others, e.g. 'l30:B05'."
    )


def canonical_bands(names: Iterable[str], sensor: str | None = None) -> tuple[str, ...]:
    """:func:`canonical_band` of each name; duplicates are an error."""
    result = tuple(canonical_band(n, sensor) for n in names)
    duplicates = sorted({b for b in result if result.count(b) > 1})
    if duplicates:
        raise DataError(f"bands {', '.join(duplicates)} are given more than once in {list(names)}")
    return result


def wavelength(name: str, sensor: str | None = None) -> float:
    """Central wavelength (micrometres) of a band; unknown bands raise rather than return 0."""
    return BANDS[canonical_band(name, sensor)]


def match_bands(wanted: Sequence[str], available: Sequence[str]) -> list[int | None]:
    """For each canonical band in ``wanted``, its index in ``available`` or ``None`` when absent."""
    position = {band: i for i, band in enumerate(available)}
    return [position.get(band) for band in wanted]
