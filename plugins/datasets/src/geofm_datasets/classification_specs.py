"""Specs of the image classification datasets: ``bigearthnet`` and the generic GeoTIFF classification data.

Light (no torch, numpy or rasterio): the plugin's hook returns these, and the factories are lazy.
"""

from __future__ import annotations

from geofm.specs import DatasetSpec
from geofm_datasets.bigearthnet_classes import BANDS, CLASSES_19
from geofm_datasets.spec_options import FLIPS, PIN_MEMORY, SCALE

__all__ = ["BIGEARTHNET_SPEC", "CLASSIFICATION_SPECS", "GEOTIFF_CLASSIFICATION_SPEC", "GEOTIFF_MULTILABEL_SPEC"]

_COMMON = {
    "crop_size": "train on random crops of this many pixels (after resampling); val/test use the centre crop",
    "image_size": "resample every image to this many pixels square on read (bilinear up, average down)",
    "flips": FLIPS,
    "scale": SCALE,
    "nodata": "image value meaning no data (default: the files' nodata); such pixels become 0 after normalising",
    "cache": "keep decoded images in memory after the first read (default false)",
    "pin_memory": PIN_MEMORY,
    "val_fraction": "share of images for validation when no split is given (default 0.2)",
    "test_fraction": "share of images for testing when no split is given",
}

_GENERIC = {
    **_COMMON,
    "images": "folder of class folders (<images>/<class>/*.tif, relative to --data-root; default the root)",
    "csv": "CSV of path,label(s) (relative to --data-root); default <data-root>/labels.csv when present",
    "split_files": "mapping split -> text file of image ids, or a folder of train/val/test.txt",
    "file_bands": "band names of the image files in file order (default: the files' band descriptions)",
    "sensor": "sensor giving meaning to band codes such as B05 (sentinel2, hls_l30, landsat8 ...)",
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
    factory="geofm_datasets.classification:build_geotiff_classification",
    task="classification",
    generic=False,  # the task is fixed: --task multilabel_classification is refused before a run starts
    layout=_GENERIC_LAYOUT + "); paths relative to the CSV's folder; optional splits/{train,val,test}.txt of ids",
    options=_GENERIC,
)

GEOTIFF_MULTILABEL_SPEC = DatasetSpec(
    name="geotiff_multilabel",
    summary="Any GeoTIFF multi-label image classification data: a CSV of path,labels or multi-hot columns",
    factory="geofm_datasets.classification:build_geotiff_multilabel",
    task="multilabel_classification",
    generic=False,
    layout=_GENERIC_LAYOUT
    + ", several joined by ';'), or path,<class 1>,<class 2>,... of 0/1 columns; a folder per class also works",
    options=_GENERIC,
)

BIGEARTHNET_SPEC = DatasetSpec(
    name="bigearthnet",
    summary="BigEarthNet v1.0: 120x120 Sentinel-2 L2A patches, multi-label CORINE land cover (19 or 43 classes)",
    factory="geofm_datasets.bigearthnet:build_bigearthnet",
    task="multilabel_classification",
    bands=BANDS,
    sensor="sentinel2",
    classes=CLASSES_19,
    splits=("train", "val", "test"),
    gsd=10.0,
    layout=(
        "one folder per patch, <patch>/<patch>_B01.tif ... _B12.tif (B02 B03 B04 B08 120x120 at 10 m; B05 B06 "
        "B07 B8A B11 B12 60x60 at 20 m; B01 B09 20x20 at 60 m) and <patch>/<patch>_labels_metadata.json, "
        "directly under --data-root or in BigEarthNet-v1.0/; official split lists train.csv, val.csv, test.csv "
        "(one patch name per line) under --data-root or splits/"
    ),
    homepage="https://bigearth.net",
    download=(
        "https://bigearth.net (BigEarthNet-S2-v1.0.tar.gz, 66 GB, also at https://zenodo.org/records/12687186); "
        "extract it under --data-root and add the split lists train.csv, val.csv and test.csv from "
        "https://git.tu-berlin.de/rsim/BigEarthNet-S2_19-classes_models/-/tree/master/splits"
    ),
    license="CDLA-Permissive-1.0",
    citation=(
        "Sumbul, G., Charfuelan, M., Demir, B., Markl, V. (2019). BigEarthNet: A Large-Scale Benchmark Archive "
        "for Remote Sensing Image Understanding. IGARSS 2019, 5901-5904. doi:10.1109/IGARSS.2019.8900532"
    ),
    options={
        **_COMMON,
        "nomenclature": "19 (default, Sumbul et al. 2021) or 43 CORINE classes",
        "image_size": "pixels of the common grid every band is resampled onto (default 120, the 10 m grid)",
        "split_files": "mapping split -> list of patch names, or a folder of train/val/test.csv (default: "
        "those under --data-root or splits/ when present, else a seeded split)",
        "exclude": "files of patch names to leave out (default: patches_with_seasonal_snow.csv and "
        "patches_with_cloud_and_shadow.csv under --data-root when present)",
        "stats": "'published' (default: the archive's per-band mean/std) or 'computed' from the training split",
        "test_fraction": "share of patches for testing when there are no split lists (default 0.2)",
    },
)

CLASSIFICATION_SPECS: tuple[DatasetSpec, ...] = (
    BIGEARTHNET_SPEC,
    GEOTIFF_CLASSIFICATION_SPEC,
    GEOTIFF_MULTILABEL_SPEC,
)
"""The classification datasets this plugin registers."""
