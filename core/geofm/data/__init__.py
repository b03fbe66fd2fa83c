"""GeoTIFF data handling shared by every dataset: windowed reading, band selection, nodata, statistics,
normalisation and augmentation, the batch metadata (time, location, ground sample distance), and the
options every dataset factory takes (:class:`DatasetOptions`, :func:`build_datamodule`).

Importing this package is light (numpy only); rasterio is imported by the functions that read files.
"""

from __future__ import annotations

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
