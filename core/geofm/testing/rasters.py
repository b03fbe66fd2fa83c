"""Synthetic GeoTIFFs for tests."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_geotiff"]


def write_geotiff(
    path: str | os.PathLike[str],
    array: Any,
    *,
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (500000.0, 4500000.0),
    resolution: float = 30.0,
    nodata: float | None = None,
    band_names: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Write a (bands, height, width) or (height, width) numpy array as a georeferenced GeoTIFF.

    Missing parent folders of ``path`` are created. ``origin`` is the upper-left corner in ``crs`` units
    and ``resolution`` the pixel size; ``band_names`` become the band descriptions and ``tags`` the
    dataset tags (e.g. ``ACQUISITION_DATE``, which the data pipeline reads as the acquisition time).
    """
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    data = np.asarray(array)
    if data.ndim == 2:
        data = data[None]
    count, height, width = data.shape
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": count,
        "dtype": data.dtype,
        "crs": crs,
        "transform": from_origin(origin[0], origin[1], resolution, resolution),
        "nodata": nodata,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if band_names:
            for index, name in enumerate(band_names, start=1):
                dst.set_band_description(index, name)
        if tags:
            dst.update_tags(**tags)
