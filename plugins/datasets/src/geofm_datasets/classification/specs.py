"""Specs of the generic GeoTIFF image classification datasets (multi-class and multi-label): metadata only.

The plugin's hook returns these, so this module imports neither torch, numpy nor rasterio (factories are lazy).
"""

from __future__ import annotations

from geofm.specs import DatasetSpec
from geofm_datasets import spec_options as so

__all__ = [
    "CLASSIFICATION_COMMON_OPTIONS",
    "CLASSIFICATION_SPECS",
    "GEOTIFF_CLASSIFICATION_SPEC",
    "GEOTIFF_MULTILABEL_SPEC",
]

CLASSIFICATION_COMMON_OPTIONS: dict[str, str] = {
    "crop_size": "train on random crops of this many pixels (after resampling); val/test use the centre crop",
    "image_size": "resample every image to this many pixels square on read (bilinear up, average down)",
    "flips": so.FLIPS,
    "scale": so.SCALE,
    "nodata": "image value meaning no data (default: the files' nodata); such pixels become 0 after normalising",
    "cache": "keep decoded images in memory after the first read (default false)",
    "pin_memory": so.PIN_MEMORY,
    "val_fraction": "share of images for validation when no split is given (default 0.2)",
    "test_fraction": "share of images for testing when no split is given",
}

_GENERIC = {
    **CLASSIFICATION_COMMON_OPTIONS,
    "images": "folder of class folders (<images>/<class>/*.tif, relative to --data-root; default the root)",
    "csv": "CSV of path,label(s) (relative to --data-root); default <data-root>/labels.csv when present",
    "split_files": "mapping split -> text file of image ids, or a folder of train/val/test.txt",
    "file_bands": so.FILE_BANDS,
    "sensor": so.SENSOR,
    "classes": "class names in index order (default: folder names, or the CSV's labels, sorted)",
    "num_classes": "number of classes when the CSV labels are integer indices and names are not given",
    "label_separator": "separator of several labels in one CSV cell (default ';')",
}

_GENERIC_LAYOUT = (
    "a folder per class, <data-root>/<class>/*.tif (optionally under train/, val/, test/), or a CSV "
    "(<data-root>/labels.csv or csv=...) with a header: path,label[,split] (label a class name or index"
)

GEOTIFF_CLASSIFICATION_SPEC = DatasetSpec(
    name="geotiff_classification",
    summary="Any GeoTIFF image classification data (one class per image): a folder per class or a CSV",
    factory="geofm_datasets.classification.generic:build_geotiff_classification",
    task="classification",
    generic=False,  # the task is fixed: --task multilabel_classification is refused before a run starts
    layout=_GENERIC_LAYOUT + "); paths relative to the CSV's folder; optional splits/{train,val,test}.txt of ids",
    options=_GENERIC,
)

GEOTIFF_MULTILABEL_SPEC = DatasetSpec(
    name="geotiff_multilabel",
    summary="Any GeoTIFF multi-label image classification data: a CSV of path,labels or multi-hot columns",
    factory="geofm_datasets.classification.generic:build_geotiff_multilabel",
    task="multilabel_classification",
    generic=False,
    layout=_GENERIC_LAYOUT
    + ", several joined by ';'), or path,<class 1>,<class 2>,... of 0/1 columns; a folder per class also works",
    options=_GENERIC,
)

CLASSIFICATION_SPECS: tuple[DatasetSpec, ...] = (GEOTIFF_CLASSIFICATION_SPEC, GEOTIFF_MULTILABEL_SPEC)
"""The generic classification datasets this plugin registers."""
