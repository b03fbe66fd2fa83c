"""Band names -> the central wavelengths (micrometres) DOFA generates its patch embedding from.

Pure data and lookups, no torch. DOFA's features depend on each number (see the README), so the values
are the reference's own table, not geofm's vocabulary (which differs for coastal
aerosol, narrow NIR, cirrus, SWIR 2, thermal and the radar codes). Any name geofm's band vocabulary knows
(canonical names, aliases, sensor codes such as ``B8A`` or ``l30:B05``) maps to its canonical band and
then to the reference's value; the reference's own names (``THERMAL_INFRARED_1``, ``ASC_VV``, ``VV-VH`` ...,
optionally prefixed ``SENSOR.NAME``) are accepted as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from geofm.bands import BANDS
from geofm.errors import DataError

__all__ = [
    "CANONICAL_WAVELENGTHS",
    "REFERENCE_WAVELENGTHS",
    "SAR_WAVELENGTH",
    "dofa_wavelength",
    "dofa_wavelengths",
    "sensor_wavelengths",
]

SAR_WAVELENGTH = 5.405
"""What the reference feeds DOFA for every Sentinel-1 polarisation (its C-band frequency in GHz)."""

REFERENCE_WAVELENGTHS: Mapping[str, float] = {
    "COASTAL_AEROSOL": 0.44,
    "BLUE": 0.49,
    "GREEN": 0.56,
    "RED": 0.665,
    "RED_EDGE_1": 0.705,
    "RED_EDGE_2": 0.74,
    "RED_EDGE_3": 0.783,
    "NIR_BROAD": 0.832,
    "NIR_NARROW": 0.864,
    "WATER_VAPOR": 0.945,
    "CIRRUS": 1.373,
    "SWIR_1": 1.61,
    "SWIR_2": 2.20,
    "THERMAL_INFRARED_1": 10.90,
    "THERMAL_INFRARED_12": 12.00,  # sic: the reference's name
    **dict.fromkeys(("VV", "VH", "ASC_VV", "ASC_VH", "DSC_VV", "DSC_VH", "VV-VH"), SAR_WAVELENGTH),
}
"""The reference's band name -> wavelength table (TerraTorch 1.2.13), with its own names."""

_SHARED_NAMES = tuple(name for name in REFERENCE_WAVELENGTHS if name in BANDS)
"""The names that geofm's band vocabulary and the reference share."""

CANONICAL_WAVELENGTHS: Mapping[str, float] = {
    **{name: REFERENCE_WAVELENGTHS[name] for name in _SHARED_NAMES},
    "THERMAL_1": REFERENCE_WAVELENGTHS["THERMAL_INFRARED_1"],
    "THERMAL_2": REFERENCE_WAVELENGTHS["THERMAL_INFRARED_12"],
    "HH": SAR_WAVELENGTH,  # the same C-band radar as VV / VH (Sentinel-1's other polarisations)
    "HV": SAR_WAVELENGTH,
    "PANCHROMATIC": 0.59,  # not in the reference: geofm's central wavelength of the Landsat pan band
}
"""geofm canonical band name -> the wavelength DOFA gets (the reference's value wherever it has one)."""


def dofa_wavelength(name: str, sensor: str | None = None) -> float:
    """The wavelength (micrometres) DOFA uses for band ``name``; unknown names raise a DataError.

    ``name`` is one of the reference's names (the part after the last ``.`` counts, e.g.
    ``S1GRD.VV``) or any name of geofm's band vocabulary (``B8A``, ``nir08``, ``l30:B05`` ...; ``sensor``
    gives the context for bare sensor codes, default Sentinel-2).
    """
    from geofm.bands import canonical_band

    text = str(name).strip().rsplit(".", 1)[-1]
    if text.upper() in REFERENCE_WAVELENGTHS:
        return float(REFERENCE_WAVELENGTHS[text.upper()])
    try:
        canonical = canonical_band(text, sensor)
    except DataError as error:
        raise DataError(
            f"DOFA has no wavelength for band {name!r}: {error} Or give the wavelengths directly "
            "(--set backbone.wavelengths=[...] in micrometres)"
        ) from error
    if canonical in CANONICAL_WAVELENGTHS:
        return float(CANONICAL_WAVELENGTHS[canonical])
    return float(BANDS[canonical])


def dofa_wavelengths(names: Iterable[str], sensor: str | None = None) -> tuple[float, ...]:
    """:func:`dofa_wavelength` of each band, in order."""
    return tuple(dofa_wavelength(name, sensor) for name in names)


def sensor_wavelengths() -> dict[str, dict[str, float]]:
    """Per sensor of geofm's band vocabulary, each band code -> the wavelength DOFA gets (for the spec)."""
    from geofm.bands import SENSORS

    shown = ("sentinel2", "hls_l30", "landsat7", "sentinel1")
    return {
        sensor: {code: dofa_wavelength(code, sensor) for code in SENSORS[sensor]}
        for sensor in shown
        if sensor in SENSORS
    }
