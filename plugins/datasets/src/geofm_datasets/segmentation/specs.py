"""Specs of the segmentation datasets read as generic GeoTIFFs: the generated ``demo`` and ``geotiff_segmentation``.

Light (no torch, numpy or rasterio): the plugin's hook returns these, and the factories are lazy.
"""

from __future__ import annotations

from geofm.specs import DatasetSpec
from geofm_datasets import spec_options as so

__all__ = ["DEMO_SPEC", "GEOTIFF_SEGMENTATION_SPEC", "SEGMENTATION_SPECS"]

_WINDOW_OPTIONS = so.window_options()

DEMO_SPEC = DatasetSpec(
    name="demo",
    summary="Generated land-cover scenes in the six HLS bands (water, vegetation, bare soil, built-up); the default",
    factory="geofm_datasets.demo:build_demo",
    task="segmentation",
    **so.HLS_SCENES,
    **so.generated("demo"),
    classes=("water", "vegetation", "bare_soil", "built_up"),
    ignore_index=255,
    layout=(
        "images/demo_NNN_YYYYMMDD.tif (int16 reflectance x 10000, nodata -9999, EPSG:32633), "
        "labels/demo_NNN_YYYYMMDD_mask.tif (uint8, 255 = nodata), splits/{train,val,test}.txt, stats.json"
    ),
    options={**_WINDOW_OPTIONS, **so.GENERATED_OPTIONS},
)

GEOTIFF_SEGMENTATION_SPEC = DatasetSpec(
    name="geotiff_segmentation",
    summary="Any GeoTIFF segmentation data: image and label folders or globs, optional split files",
    factory="geofm_datasets.segmentation.generic:build_geotiff_segmentation",
    task="segmentation",
    generic=True,
    ignore_index=255,
    layout=(
        "images and labels as folders or globs (default <data-root>/images and <data-root>/labels), paired "
        "by file stem (labels may add a suffix such as _mask or _label); optional <data-root>/splits/"
        "{train,val,test}.txt with one id (image stem) per line; images and labels may also be name patterns "
        "holding {id} (e.g. S2Hand/{id}_S2Hand.tif); time series as frames (one pattern per time step) or "
        "num_frames (files of T x C bands, time-major); more files' bands stacked with stack"
    ),
    options={
        **_WINDOW_OPTIONS,
        "images": "folder, glob or list of image GeoTIFFs (relative to --data-root; default 'images')",
        "labels": "folder, glob or list of label GeoTIFFs (relative to --data-root; default 'labels')",
        "split_files": "mapping split -> text file of image ids (default <data-root>/splits/<split>.txt if present)",
        "file_bands": so.FILE_BANDS,
        "sensor": so.SENSOR,
        "classes": "class names in label-value order (or num_classes)",
        "num_classes": "number of classes when names are not given",
        "ignore_index": "label value excluded from loss and metrics; nodata pixels get it (default 255)",
        "label_nodata": "label value meaning no data (default: the label files' nodata)",
        "nodata": "image value meaning no data (default: the image files' nodata)",
        "label_suffix": "suffix after the image stem in label names (default: tries '', _mask, _label, .mask ...)",
        **so.SPLIT_FRACTIONS,
        "image_suffix": "suffix of the image stems that is not part of the id, e.g. _merged",
        "label_offset": "added to label values other than no data, e.g. -1 for classes 1..K with 0 = no data",
        "frames": (
            "time series of one file per time step: a list of patterns with {id} (one per step, in time order), "
            "or one pattern with {id} and {time} (a sample's files ordered by the {time} text); images "
            "(C, T, H, W), timestamps per step from the files' tags or names"
        ),
        "num_frames": "time series in one file: T, the file holding T x C bands, time-major (images (C, T, H, W))",
        "stack": "patterns with {id} of more files whose bands follow the image's, e.g. S1Hand/{id}_S1Hand.tif",
    },
)

SEGMENTATION_SPECS: tuple[DatasetSpec, ...] = (DEMO_SPEC, GEOTIFF_SEGMENTATION_SPEC)
"""The generic and generated segmentation datasets, in listing order."""
