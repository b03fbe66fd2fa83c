"""Batch metadata from a GeoTIFF: acquisition time, centre latitude/longitude and ground sample distance.

What a file does not tell is NaN: ``timestamp`` is seconds since 1970-01-01 UTC, read from the tags
(``TIFFTAG_DATETIME``, ``ACQUISITION_DATE`` ...) or from a date in the file name (``20190503``,
``2019-05-03``, HLS's ``2019123T101031`` day-of-year form); ``center_latlon`` is reprojected to
EPSG:4326 from the transform and CRS; ``gsd`` is the pixel size in metres (degrees converted for
geographic CRSs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data.reading import raster_info

__all__ = [
    "RasterMeta",
    "band_timestamp",
    "center_latlon",
    "center_latlons",
    "date_from_name",
    "date_from_tags",
    "gsd_metres",
    "raster_meta",
    "timestamp",
]

_EARTH_RADIUS = 6_371_008.8
_TIME_TAGS = (
    "ACQUISITION_DATE",
    "ACQUISITION_DATETIME",
    "DATE_ACQUIRED",
    "SENSING_TIME",
    "SENSING_DATE",
    "DATETIME",
    "TIFFTAG_DATETIME",
)
_YEARS = range(1950, 2101)


@dataclass(frozen=True)
class RasterMeta:
    """Metadata of one raster: ``timestamp`` (s since epoch), ``center_latlon`` (deg), ``gsd`` (m); NaN unknown."""

    timestamp: float
    center_latlon: tuple[float, float]
    gsd: float


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _from_doy(year: int, doy: int, hhmmss: str | None = None) -> datetime | None:
    if year not in _YEARS or not 1 <= doy <= 366:
        return None
    start = datetime(year, 1, 1, tzinfo=timezone.utc) + timedelta(days=doy - 1)
    if start.year != year:
        return None
    return _with_time(start, hhmmss)


def _with_time(day: datetime, hhmmss: str | None) -> datetime | None:
    if not hhmmss:
        return day
    hour, minute, second = int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:6])
    if hour > 23 or minute > 59 or second > 60:
        return day
    return day.replace(hour=hour, minute=minute, second=min(second, 59))


def _from_ymd(year: int, month: int, day: int, hhmmss: str | None = None) -> datetime | None:
    if year not in _YEARS:
        return None
    try:
        value = datetime(year, month, day, tzinfo=timezone.utc)
    except ValueError:
        return None
    return _with_time(value, hhmmss)


_NAME_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})T(\d{6})(?!\d)"), "ymdT"),
    (re.compile(r"(?<!\d)(\d{4})(\d{3})T(\d{6})(?!\d)"), "doyT"),
    (re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"), "ymd"),
    (re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"), "ymd"),
    (re.compile(r"(?<!\d)(\d{4})(\d{3})(?!\d)"), "doy"),
)


def date_from_name(name: str) -> datetime | None:
    """The acquisition date (UTC) in a file name, or ``None``.

    Recognised, first match wins: ``YYYYMMDDTHHMMSS`` (Sentinel-2), ``YYYYDOYTHHMMSS`` (HLS, e.g.
    ``HLS.S30.T10SEG.2019123T101031.v2.0``), ``YYYY-MM-DD``, ``YYYYMMDD`` and ``YYYYDOY``, each only
    when it is a real date between 1950 and 2100.
    """
    stem = Path(name).name
    for pattern, kind in _NAME_PATTERNS:
        for match in pattern.finditer(stem):
            groups = match.groups()
            if kind == "ymdT":
                found = _from_ymd(int(groups[0]), int(groups[1]), int(groups[2]), groups[3])
            elif kind == "doyT":
                found = _from_doy(int(groups[0]), int(groups[1]), groups[2])
            elif kind == "ymd":
                found = _from_ymd(int(groups[0]), int(groups[1]), int(groups[2]))
            else:
                found = _from_doy(int(groups[0]), int(groups[1]))
            if found is not None:
                return found
    return None


def _parse_tag_value(value: str) -> datetime | None:
    text = value.strip().rstrip("Z").strip()
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return _utc(datetime.strptime(text[:26] if "%f" in fmt else text, fmt))
        except ValueError:
            continue
    try:
        return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return date_from_name(text)


def date_from_tags(tags: Mapping[str, str]) -> datetime | None:
    """The acquisition date (UTC) in GeoTIFF tags (acquisition tags first, then ``TIFFTAG_DATETIME``)."""
    upper = {key.upper(): value for key, value in tags.items()}
    for key in _TIME_TAGS:
        if upper.get(key):
            found = _parse_tag_value(str(upper[key]))
            if found is not None:
                return found
    return None


def timestamp(path: str | Path, tags: Mapping[str, str] | None = None) -> float:
    """Seconds since 1970-01-01 UTC of the acquisition of ``path`` (tags, then file name), NaN if unknown."""
    found = date_from_tags(tags or {}) or date_from_name(Path(path).name)
    return found.timestamp() if found is not None else math.nan


def band_timestamp(src: Any, band: int) -> float:
    """Seconds since 1970-01-01 UTC of 1-based ``band`` of open dataset ``src``, NaN if it tells none.

    Read from the band's tags, then a date in its description: the date of one time step of a file that
    holds several (T x C bands, time-major, read at the first band of each step).
    """
    found = date_from_tags(dict(src.tags(band))) or date_from_name(src.descriptions[band - 1] or "")
    return found.timestamp() if found is not None else math.nan


def center_latlons(crs: Any, transform: Any, rows: Any, cols: Any) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes (degrees, float64) of the pixel positions ``rows``, ``cols`` of a file.

    ``rows`` and ``cols`` are (fractional) pixel offsets of one shape, e.g. the centres of many windows at
    once (a tile grid); ``transform`` is the file's affine transform. Without a CRS, or in a CRS that
    PROJ cannot transform, every location is unknown (NaN).
    """
    rows, cols = np.broadcast_arrays(np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64))
    if crs is None or transform is None:
        return np.full(rows.shape, math.nan), np.full(rows.shape, math.nan)
    x = transform.c + transform.a * cols + transform.b * rows
    y = transform.f + transform.d * cols + transform.e * rows
    if crs.is_geographic and crs.to_epsg() == 4326:
        return y, x
    from rasterio.warp import transform as warp_transform

    try:
        lons, lats = warp_transform(crs, "EPSG:4326", x.ravel().tolist(), y.ravel().tolist())
    except Exception:  # an exotic CRS PROJ cannot transform: unknown location
        return np.full(rows.shape, math.nan), np.full(rows.shape, math.nan)
    shape = rows.shape
    return np.asarray(lats, dtype=np.float64).reshape(shape), np.asarray(lons, dtype=np.float64).reshape(shape)


def center_latlon(
    crs: Any, transform: Any, height: int, width: int, *, row_off: int = 0, col_off: int = 0
) -> tuple[float, float]:
    """(lat, lon) in degrees of the centre of a ``height`` x ``width`` window at (``row_off``, ``col_off``).

    ``transform`` is the file's affine transform; without a CRS the location is unknown (NaN). Many
    windows at once: :func:`center_latlons`.
    """
    lats, lons = center_latlons(crs, transform, row_off + height / 2.0, col_off + width / 2.0)
    return float(lats), float(lons)


def gsd_metres(crs: Any, transform: Any, latitude: float | None = None) -> float:
    """Mean pixel size (x and y) in metres; geographic degrees converted at ``latitude``; NaN without a CRS."""
    if crs is None or transform is None:
        return math.nan
    xres = math.hypot(transform.a, transform.d)
    yres = math.hypot(transform.b, transform.e)
    if crs.is_geographic:
        per_degree = math.pi / 180.0 * _EARTH_RADIUS
        lat = 0.0 if latitude is None or math.isnan(latitude) else latitude
        return float((xres * per_degree * math.cos(math.radians(lat)) + yres * per_degree) / 2.0)
    try:
        factor = float(crs.linear_units_factor[1])
    except Exception:  # CRS without linear units: assume metres
        factor = 1.0
    return float((xres + yres) / 2.0 * factor)


def raster_meta(path: str | Path) -> RasterMeta:
    """:class:`RasterMeta` of a whole file (reads the header only)."""
    info = raster_info(path)
    lat, lon = center_latlon(info.crs, info.transform, info.height, info.width)
    return RasterMeta(
        timestamp=timestamp(path, info.tags),
        center_latlon=(lat, lon),
        gsd=gsd_metres(info.crs, info.transform, lat),
    )
