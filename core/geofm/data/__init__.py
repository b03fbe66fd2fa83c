"""GeoTIFF data handling shared by every dataset: windowed reading, band selection, nodata, statistics,
normalisation and augmentation, the batch metadata (time, location, ground sample distance), and the
options every dataset factory takes (:class:`DatasetOptions`, :func:`build_datamodule`).

Importing this package, or its light module :mod:`geofm.data.factory`, imports neither numpy nor rasterio:
each name loads its module on first use, and rasterio is imported by the functions that read files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geofm.lazy import lazy_exports

if TYPE_CHECKING:
    from geofm.data.factory import DatasetOptions, build_datamodule, build_dataset
    from geofm.data.meta import (
        RasterMeta,
        center_latlon,
        date_from_name,
        date_from_tags,
        gsd_metres,
        raster_meta,
        timestamp,
    )
    from geofm.data.reading import (
        RASTER_SUFFIXES,
        BandSelection,
        RasterHandles,
        RasterInfo,
        find_rasters,
        open_raster,
        raster_info,
        read_label,
        read_pixels,
        read_target,
        read_window,
        select_bands,
        valid_mask,
    )
    from geofm.data.stats import BandStats, compute_band_stats
    from geofm.data.transforms import center_crop_offset, normalize, pad_to, random_crop_offset, random_flips

__all__ = [
    "RASTER_SUFFIXES",
    "BandSelection",
    "BandStats",
    "DatasetOptions",
    "RasterHandles",
    "RasterInfo",
    "RasterMeta",
    "build_datamodule",
    "build_dataset",
    "center_crop_offset",
    "center_latlon",
    "compute_band_stats",
    "date_from_name",
    "date_from_tags",
    "find_rasters",
    "gsd_metres",
    "normalize",
    "open_raster",
    "pad_to",
    "random_crop_offset",
    "random_flips",
    "raster_info",
    "raster_meta",
    "read_label",
    "read_pixels",
    "read_target",
    "read_window",
    "select_bands",
    "timestamp",
    "valid_mask",
]

_SOURCES = {
    "DatasetOptions": "geofm.data.factory",
    "build_datamodule": "geofm.data.factory",
    "build_dataset": "geofm.data.factory",
    "RasterMeta": "geofm.data.meta",
    "center_latlon": "geofm.data.meta",
    "date_from_name": "geofm.data.meta",
    "date_from_tags": "geofm.data.meta",
    "gsd_metres": "geofm.data.meta",
    "raster_meta": "geofm.data.meta",
    "timestamp": "geofm.data.meta",
    "RASTER_SUFFIXES": "geofm.data.reading",
    "BandSelection": "geofm.data.reading",
    "RasterHandles": "geofm.data.reading",
    "RasterInfo": "geofm.data.reading",
    "find_rasters": "geofm.data.reading",
    "open_raster": "geofm.data.reading",
    "raster_info": "geofm.data.reading",
    "read_label": "geofm.data.reading",
    "read_pixels": "geofm.data.reading",
    "read_target": "geofm.data.reading",
    "read_window": "geofm.data.reading",
    "select_bands": "geofm.data.reading",
    "valid_mask": "geofm.data.reading",
    "BandStats": "geofm.data.stats",
    "compute_band_stats": "geofm.data.stats",
    "center_crop_offset": "geofm.data.transforms",
    "normalize": "geofm.data.transforms",
    "pad_to": "geofm.data.transforms",
    "random_crop_offset": "geofm.data.transforms",
    "random_flips": "geofm.data.transforms",
}


__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)
