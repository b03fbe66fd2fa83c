"""Hook implementations of ``geofm-datasets``: the generated demo dataset and generic GeoTIFF segmentation.

Specs only: the factories are named lazily (``"module:attr"``), so listings never import torch or rasterio.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.hookspecs import hookimpl
from geofm.specs import DatasetSpec
from geofm_datasets.classification_specs import CLASSIFICATION_SPECS
from geofm_datasets.regression_specs import DEMO_REGRESSION_SPEC, GEOTIFF_REGRESSION_SPEC
from geofm_datasets.segmentation_specs import NAMED_SEGMENTATION_SPECS
from geofm_datasets.spec_options import window_options

__all__ = ["DEMO_SPEC", "GEOTIFF_SEGMENTATION_SPEC", "geofm_datasets"]

_COMMON_OPTIONS = window_options()

DEMO_SPEC = DatasetSpec(
    name="demo",
    summary="Generated land-cover scenes in the six HLS bands (water, vegetation, bare soil, built-up); the default",
    factory="geofm_datasets.demo:build_demo",
    task="segmentation",
    bands=("B02", "B03", "B04", "B8A", "B11", "B12"),
    sensor="hls_s30",
    classes=("water", "vegetation", "bare_soil", "built_up"),
    ignore_index=255,
    splits=("train", "val", "test"),
    gsd=30.0,
    layout=(
        "images/demo_NNN_YYYYMMDD.tif (int16 reflectance x 10000, nodata -9999, EPSG:32633), "
        "labels/demo_NNN_YYYYMMDD_mask.tif (uint8, 255 = nodata), splits/{train,val,test}.txt, stats.json"
    ),
    download=(
        "generated on first use (deterministic, a few MB) under --data-root or $GEOFM_CACHE/datasets/demo "
        "(default ~/.cache/geofm/datasets/demo)"
    ),
    license="Apache-2.0",
    options={
        **_COMMON_OPTIONS,
        "num_scenes": "number of generated scenes (default 48: 32 train / 8 val / 8 test)",
        "size": "scene size in pixels (default 128)",
        "regenerate": "rebuild the cached files even when they are current (default false)",
    },
)

GEOTIFF_SEGMENTATION_SPEC = DatasetSpec(
    name="geotiff_segmentation",
    summary="Any GeoTIFF segmentation data: image and label folders or globs, optional split files",
    factory="geofm_datasets.segmentation:build_geotiff_segmentation",
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
        **_COMMON_OPTIONS,
        "images": "folder, glob or list of image GeoTIFFs (relative to --data-root; default 'images')",
        "labels": "folder, glob or list of label GeoTIFFs (relative to --data-root; default 'labels')",
        "split_files": "mapping split -> text file of image ids (default <data-root>/splits/<split>.txt if present)",
        "file_bands": "band names of the image files in file order (default: the files' band descriptions)",
        "sensor": "sensor giving meaning to band codes such as B05 (sentinel2, hls_l30, landsat8 ...)",
        "classes": "class names in label-value order (or num_classes)",
        "num_classes": "number of classes when names are not given",
        "ignore_index": "label value excluded from loss and metrics; nodata pixels get it (default 255)",
        "label_nodata": "label value meaning no data (default: the label files' nodata)",
        "nodata": "image value meaning no data (default: the image files' nodata)",
        "label_suffix": "suffix after the image stem in label names (default: tries '', _mask, _label, .mask ...)",
        "val_fraction": "share of images for validation when there are no split files (default 0.2)",
        "test_fraction": "share of images for testing when there are no split files (default 0.0)",
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


@hookimpl
def geofm_datasets() -> Iterable[DatasetSpec]:
    """The generated ``demo`` dataset and the generic ``geotiff_segmentation`` dataset."""
    return [
        DEMO_SPEC,
        GEOTIFF_SEGMENTATION_SPEC,
        DEMO_REGRESSION_SPEC,
        GEOTIFF_REGRESSION_SPEC,
        *CLASSIFICATION_SPECS,
        *NAMED_SEGMENTATION_SPECS,
    ]
