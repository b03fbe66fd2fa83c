"""Clay's per-sensor metadata (wavelengths, ground sample distance, normalisation statistics).

Pure data, no torch: the plugin puts it into the backbone specs (``extra["sensors"]``) so that the data
pipeline and ``geofm backbones show`` can read it. Band codes are Clay's own (``blue``, ``nir08`` ...);
``canonical`` gives geofm's band vocabulary name for each, in the same order. Wavelengths are in
micrometres; the Sentinel-1 "wavelengths" are Clay's codes for the polarisations, not physical values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geofm.bands import canonical_bands
from geofm.errors import DataError

__all__ = ["DEFAULT_SENSOR", "SENSORS", "ClaySensor", "get_sensor", "sensors_metadata", "wavelengths_for"]


@dataclass(frozen=True)
class ClaySensor:
    """One sensor as Clay was pretrained on it: bands in order with wavelength, mean and std; gsd in metres."""

    name: str
    bands: tuple[str, ...]
    wavelengths: tuple[float, ...]
    gsd: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    note: str = ""
    canonical: tuple[str, ...] = field(init=False)
    """geofm's canonical name of each band (from :func:`geofm.bands.canonical_bands` of the Clay codes)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "canonical", canonical_bands(self.bands))
        sizes = {len(self.bands), len(self.canonical), len(self.wavelengths), len(self.mean), len(self.std)}
        if len(sizes) != 1:
            raise ValueError(f"Clay sensor {self.name}: bands, wavelengths, mean and std differ in length")

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible description (what the backbone spec's ``extra["sensors"]`` holds)."""
        return {
            "bands": list(self.bands),
            "canonical_bands": list(self.canonical),
            "wavelengths_um": list(self.wavelengths),
            "gsd_m": self.gsd,
            "mean": list(self.mean),
            "std": list(self.std),
            **({"note": self.note} if self.note else {}),
        }


SENSORS: dict[str, ClaySensor] = {
    sensor.name: sensor
    for sensor in (
        ClaySensor(
            name="sentinel-2-l2a",
            bands=("blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "nir08", "swir16", "swir22"),
            wavelengths=(0.493, 0.56, 0.665, 0.704, 0.74, 0.783, 0.842, 0.865, 1.61, 2.19),
            gsd=10.0,
            mean=(1105.0, 1355.0, 1552.0, 1887.0, 2422.0, 2630.0, 2743.0, 2785.0, 2388.0, 1835.0),
            std=(1809.0, 1757.0, 1888.0, 1870.0, 1732.0, 1697.0, 1742.0, 1648.0, 1470.0, 1379.0),
        ),
        ClaySensor(
            name="landsat-c2l2-sr",
            bands=("red", "green", "blue", "nir08", "swir16", "swir22"),
            wavelengths=(0.65, 0.56, 0.48, 0.86, 1.6, 2.2),
            gsd=30.0,
            mean=(13705.0, 13310.0, 12474.0, 17801.0, 14615.0, 12701.0),
            std=(9578.0, 9408.0, 10144.0, 8277.0, 5300.0, 4522.0),
        ),
        ClaySensor(
            name="naip",
            bands=("red", "green", "blue", "nir"),
            wavelengths=(0.65, 0.56, 0.48, 0.842),
            gsd=1.0,
            mean=(110.16, 115.41, 98.15, 139.04),
            std=(47.23, 39.82, 35.43, 49.86),
        ),
        ClaySensor(
            name="linz",
            bands=("red", "green", "blue"),
            wavelengths=(0.635, 0.555, 0.465),
            gsd=0.5,
            mean=(89.96, 99.46, 89.51),
            std=(41.83, 36.96, 31.45),
        ),
        ClaySensor(
            name="sentinel-1-rtc",
            bands=("vv", "vh"),
            wavelengths=(3.5, 4.0),
            gsd=10.0,
            mean=(-12.113, -18.673),
            std=(8.314, 8.017),
            note="v1.5; backscatter in dB; wavelengths are Clay's codes for the polarisations",
        ),
    )
}
"""Clay sensor name -> its pretraining metadata (from Clay's ``metadata.yaml``)."""

DEFAULT_SENSOR = "sentinel-2-l2a"
"""The sensor whose bands and statistics are the backbones' default weights bands."""


def get_sensor(name: str) -> ClaySensor:
    """The :class:`ClaySensor` called ``name`` (case-insensitive); unknown names raise a DataError."""
    key = name.strip().lower()
    if key not in SENSORS:
        raise DataError(f"unknown Clay sensor {name!r}; Clay knows {', '.join(SENSORS)}")
    return SENSORS[key]


def sensors_metadata() -> dict[str, dict[str, object]]:
    """Every sensor's :meth:`ClaySensor.to_dict`, keyed by sensor name."""
    return {name: sensor.to_dict() for name, sensor in SENSORS.items()}


def wavelengths_for(bands: tuple[str, ...] | list[str], sensor: str | None = None) -> tuple[float, ...]:
    """Central wavelengths (micrometres) of ``bands``, in order.

    Without ``sensor`` they come from geofm's band vocabulary (:func:`geofm.bands.wavelength`, which
    accepts canonical names, aliases and sensor codes). With a Clay ``sensor`` (e.g. ``"landsat-c2l2-sr"``)
    they are that sensor's pretraining values and every band must belong to it. An unknown band raises a
    :class:`~geofm.errors.DataError` naming it; no band silently gets 0.
    """
    from geofm.bands import canonical_band, wavelength

    if sensor is None:
        return tuple(wavelength(band) for band in bands)
    table = get_sensor(sensor)
    values: list[float] = []
    for band in bands:
        canonical = canonical_band(band)
        if canonical not in table.canonical:
            raise DataError(
                f"band {band!r} ({canonical}) is not a band of Clay sensor {table.name} "
                f"({', '.join(table.canonical)}); drop the sensor option to use geofm's wavelengths"
            )
        values.append(table.wavelengths[table.canonical.index(canonical)])
    return tuple(values)
