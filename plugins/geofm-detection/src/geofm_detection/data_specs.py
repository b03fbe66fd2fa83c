"""Specs of the detection datasets: ``geotiff_detection``, ``demo_detection`` and ``nwpu_vhr10``.

Light (no torch, numpy or rasterio): the plugin's hook returns these, and the factories are lazy. Every
factory returns a :class:`~geofm_detection.detection_datamodule.DetectionDataModule`, whose batches are
``{"image" (B, C, H, W) float32, "boxes" [B x (N_i, 4) float32 x1 y1 x2 y2 pixels], "labels" [B x (N_i,)
int64 0..K-1], "masks" [B x (N_i, H, W) uint8] (when delivered), "meta"}``.

``geotiff_detection`` and ``demo_detection`` are generic: they serve both ``detection`` and
``instance_segmentation`` runs (core maps both task types to ``demo_detection``, and refuses a
non-generic dataset whose task differs from the run's). Whether a batch has ``masks`` is the data
module's ``with_masks`` option, by default ``auto``: masks when the training objects have outlines.
"""

from __future__ import annotations

from geofm.specs import DatasetSpec

__all__ = ["DATASETS", "DEMO_DETECTION_SPEC", "GEOTIFF_DETECTION_SPEC", "NWPU_VHR10_SPEC"]

_LOADING = {
    "crop_size": "train on random crops of this many pixels (boxes clipped, slivers dropped); val/test use whole chips",
    "augment": "random horizontal and vertical flips of image, boxes and masks when training (default true)",
    "pin_memory": "pin batches in page-locked memory for faster GPU transfer (default false)",
}
_MASKS = (
    "instance masks in the batches: auto (default: when the training objects have polygon outlines or COCO "
    "segmentations), true (objects without an outline get their box filled) or false (boxes only; saves memory "
    "on large chips with many objects)"
)

GEOTIFF_DETECTION_SPEC = DatasetSpec(
    name="geotiff_detection",
    summary="Any raster chips with objects: GeoTIFF chips per split, vector labels in any CRS or COCO JSON",
    factory="geofm_detection.geotiff_detection:build_geotiff_detection",
    task="detection",
    generic=True,
    layout=(
        "<data-root>/train/images/*.tif (and val/, test/ alike; without val/ a share of train validates), each "
        "split annotated by <split>/annotations.json (COCO: images[].file_name relative to images/, bbox "
        "[x, y, w, h] in pixels, optional segmentation polygons or RLE) or by <split>/labels/<chip stem>.geojson "
        "(or .gpkg, .json, .fgb, .shp: polygons in map coordinates of any CRS, reprojected to the chip's; the "
        "class in a property, default 'class'; an empty file for a chip without objects)"
    ),
    options={
        **_LOADING,
        "with_masks": _MASKS,
        "class_property": "the property of the vector features that holds the class (default 'class')",
        "classes": "class names in label order (default: the classes in the labels, sorted; COCO: its categories)",
        "file_bands": "band names of the chips in file order (default: the band descriptions, or RGB colour bands)",
        "sensor": "sensor giving meaning to band codes such as B05 (sentinel2, hls_l30, landsat8 ...)",
        "nodata": "image value meaning no data (default: the chips' nodata); such pixels are 0 after normalisation",
        "scale": "constant multiplier applied before normalisation, e.g. 10000 for reflectance 0-1 chips",
        "val_fraction": "share of the training chips that validates when there is no val/ folder (default 0.2)",
        "split_seed": "seed of that share, independent of the run's seed (default 0)",
        "missing_labels": "a chip without a label file: error (default) or empty (a chip without objects)",
    },
    example_layout="geofm_detection.example_layouts:write_geotiff_detection_example",
)

DEMO_DETECTION_SPEC = DatasetSpec(
    name="demo_detection",
    summary="Generated 4-band chips with buildings and tanks (boxes and outlines); the demo for detection runs",
    factory="geofm_detection.demo_detection:build_demo_detection",
    task="detection",
    generic=True,
    bands=("BLUE", "GREEN", "RED", "NIR_BROAD"),
    classes=("building", "tank"),
    gsd=2.0,
    layout=(
        "{train,val,test}/images/demo_NNNN_YYYYMMDD.tif (uint16 reflectance x 10000, BLUE GREEN RED NIR_BROAD, "
        "EPSG:32633, 2 m) and {train,val,test}/labels/demo_NNNN_YYYYMMDD.geojson (polygons in EPSG:32633, "
        "property 'class': building or tank), as geotiff_detection reads them"
    ),
    download=(
        "generated on first use (deterministic, a few MB) under --data-root or $GEOFM_CACHE/datasets/demo_detection "
        "(default ~/.cache/geofm/datasets/demo_detection)"
    ),
    license="Apache-2.0",
    options={
        **_LOADING,
        "with_masks": _MASKS + "; every demo object has an outline, so auto delivers masks",
        "num_chips": "number of generated chips (default 300: 200 train / 50 val / 50 test)",
        "size": "chip size in pixels (default 64)",
        "regenerate": "rebuild the cached files even when they are current (default false)",
    },
)

NWPU_VHR10_SPEC = DatasetSpec(
    name="nwpu_vhr10",
    summary="NWPU VHR-10: 10 object classes boxed in 650 very-high-resolution RGB images (Google Earth, Vaihingen)",
    factory="geofm_detection.nwpu:build_nwpu_vhr10",
    task="detection",
    bands=("RED", "GREEN", "BLUE"),
    classes=(
        "airplane",
        "ship",
        "storage_tank",
        "baseball_diamond",
        "tennis_court",
        "basketball_court",
        "ground_track_field",
        "harbor",
        "bridge",
        "vehicle",
    ),
    gsd=1.0,
    layout=(
        "'positive image set/NNN.jpg' (650 images of different sizes), 'ground truth/NNN.txt' (one "
        "line '(x1,y1),(x2,y2),class' per object, pixels, classes 1..10) and optionally 'negative image set/NNN.jpg' "
        "(150 images without objects), directly under --data-root or in its 'NWPU VHR-10 dataset/' folder as the "
        "archive unpacks; not georeferenced (gsd 0.5-2 m for the Google Earth images, 0.08 m for the 85 "
        "colour-infrared Vaihingen ones, whose NIR, R, G bands are delivered as RED, GREEN, BLUE); no official "
        "split: 70/15/15 per cent drawn from split_seed"
    ),
    homepage="https://doi.org/10.1016/j.isprsjprs.2014.10.002",
    download=(
        "'NWPU VHR-10 dataset.rar' from https://drive.google.com/file/d/1--foZ3dV5OCsqXQXT84UeKtrAqc5CkAE "
        "(md5 d30a7ff99d92123ebb0b3a14d9102081); unpack it (unrar x) into --data-root"
    ),
    license="research use only (see the readme in the archive)",
    citation=(
        "Cheng, G., Han, J., Zhou, P., Guo, L. Multi-class geospatial object detection and geographic image "
        "classification based on collection of part detectors. ISPRS Journal of Photogrammetry and Remote "
        "Sensing 98, 119-132, 2014."
    ),
    options={
        **_LOADING,
        "negatives": "also use the 150 images without objects, split like the others (default false)",
        "split_seed": "seed of the 70/15/15 split, independent of the run's seed (default 0)",
    },
    example_layout="geofm_detection.example_layouts:write_nwpu_example",
)

DATASETS: tuple[DatasetSpec, ...] = (GEOTIFF_DETECTION_SPEC, DEMO_DETECTION_SPEC, NWPU_VHR10_SPEC)
"""The detection datasets this plugin contributes."""
