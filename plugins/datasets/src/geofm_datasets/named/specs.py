"""Specs of the named public datasets: sen1floods11, hls_burn_scars, multi_temporal_crop and bigearthnet.

Light (no torch, numpy or rasterio): the plugin's hook returns these, and the factories are lazy.
"""

from __future__ import annotations

from geofm.specs import DatasetSpec
from geofm_datasets import spec_options as so
from geofm_datasets.classification.specs import CLASSIFICATION_COMMON_OPTIONS
from geofm_datasets.named.bigearthnet_classes import BANDS, CLASSES_19
from geofm_datasets.spec_options import HLS_BANDS

__all__ = [
    "BIGEARTHNET_SPEC",
    "HLS_BANDS",
    "HLS_BURN_SCARS_SPEC",
    "MULTI_TEMPORAL_CROP_SPEC",
    "NAMED_SEGMENTATION_SPECS",
    "SEN1FLOODS11_SPEC",
    "SENTINEL1_BANDS",
    "SENTINEL2_L1C_BANDS",
]

SENTINEL2_L1C_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
"""The 13 bands of a Sen1Floods11 ``S2Hand`` chip, in file order (Sentinel-2 L1C)."""

SENTINEL1_BANDS = ("VV", "VH")
"""The 2 bands of a Sen1Floods11 ``S1Hand`` chip, in file order (Sentinel-1 GRD, dB)."""

_COMMON = so.window_options(scale=None)

SEN1FLOODS11_SPEC = DatasetSpec(
    name="sen1floods11",
    summary="Sen1Floods11 hand-labelled flood chips: Sentinel-2 L1C (13 bands), Sentinel-1 (VV, VH) or both",
    factory="geofm_datasets.named.sen1floods11:build_sen1floods11",
    task="segmentation",
    bands=(*SENTINEL2_L1C_BANDS, *SENTINEL1_BANDS),
    sensor="sentinel2",
    classes=("not_water", "water"),
    ignore_index=255,
    gsd=10.0,
    layout=(
        "the v1.1 bucket layout (--data-root = the v1.1 folder, or a folder holding it): "
        "data/flood_events/HandLabeled/S2Hand/<id>_S2Hand.tif (13 bands B1..B12 incl. B8A and B10, "
        "TOA reflectance x 10000), S1Hand/<id>_S1Hand.tif (VV, VH in dB), LabelHand/<id>_LabelHand.tif "
        "(-1 no data -> ignored as 255, 0 not water, 1 water) and splits/flood_handlabeled/"
        "flood_{train,valid,test,bolivia}_data.csv (lines '<id>_S1Hand.tif,<id>_LabelHand.tif'); the "
        "HandLabeled folders and the CSVs may also sit directly under --data-root"
    ),
    homepage="https://github.com/cloudtostreet/Sen1Floods11",
    download=(
        "Google Cloud Storage bucket gs://sen1floods11 (no account needed): gsutil -m rsync -r "
        "gs://sen1floods11/v1.1/data/flood_events/HandLabeled DIR/v1.1/data/flood_events/HandLabeled and "
        "gsutil -m rsync -r gs://sen1floods11/v1.1/splits/flood_handlabeled DIR/v1.1/splits/flood_handlabeled "
        "(about 1 GB; the whole bucket is about 14 GB), then --data-root DIR"
    ),
    license="CC-BY-4.0",
    citation=(
        "Bonafilia, D., Tellman, B., Anderson, T., Issenberg, E. Sen1Floods11: a georeferenced dataset to train "
        "and test deep learning flood algorithms for Sentinel-1. CVPR Workshops 2020, pp. 210-211."
    ),
    options={
        **_COMMON,
        "modality": (
            "s2 (the 13 Sentinel-2 bands), s1 (VV, VH) or s1s2 (both stacked: S2 then S1, 15 bands); default: "
            "from the requested bands (s2 when none are asked or all are Sentinel-2, s1 when all are "
            "Sentinel-1, s1s2 when both)"
        ),
        "test_split": "test (flood_test_data.csv, default) or bolivia (the held-out Bolivia event)",
        "scale": "constant multiplier applied before normalisation (default 1: S2 is already x 10000)",
    },
)

HLS_BURN_SCARS_SPEC = DatasetSpec(
    name="hls_burn_scars",
    summary="HLS burn scars (US 2018-2021): 6-band HLS chips of 512 px with burn-scar masks",
    factory="geofm_datasets.named.hls_burn_scars:build_hls_burn_scars",
    task="segmentation",
    **so.HLS_SCENES,
    **so.hugging_face("ibm-nasa-geospatial/hls_burn_scars"),
    classes=("not_burned", "burn_scar"),
    ignore_index=255,
    layout=(
        "training/ and validation/ (or hls_burn_scars/training/ ... as the tarball extracts) holding "
        "subsetted_512x512_HLS.S30.<tile>.<yyyydoy>.v1.4_merged.tif (6 bands B02 B03 B04 B8A B11 B12, "
        "reflectance 0-1) and the masks <same name>.mask.tif (1 burn scar, 0 not burned, -1 no data -> "
        "ignored as 255); test uses validation/ (the publisher ships two splits); a downloaded "
        "hls_burn_scars.tar.gz under --data-root is extracted on first use"
    ),
    download=(
        "Hugging Face dataset ibm-nasa-geospatial/hls_burn_scars (hls_burn_scars.tar.gz, 2.65 GB): "
        "geofm data download hls_burn_scars, or huggingface-cli download --repo-type dataset "
        "ibm-nasa-geospatial/hls_burn_scars --local-dir DIR, then tar -xzf DIR/hls_burn_scars.tar.gz -C DIR"
    ),
    citation=(
        "Phillips, C., Roy, S., Ankur, K., Ramachandran, R. HLS Foundation Burnscars Dataset. Hugging Face, "
        "2023. doi:10.57967/hf/0956"
    ),
    options={
        **_COMMON,
        "scale": "constant multiplier applied before normalisation (default 10000: reflectance x 10000, like HLS)",
    },
)

MULTI_TEMPORAL_CROP_SPEC = DatasetSpec(
    name="multi_temporal_crop",
    summary="Multi-temporal crop classification (US 2022): 3 time steps x 6 HLS bands, 13 land-cover/crop classes",
    factory="geofm_datasets.named.multi_temporal_crop:build_multi_temporal_crop",
    task="segmentation",
    **so.HLS_SCENES,
    **so.hugging_face("ibm-nasa-geospatial/multi-temporal-crop-classification"),
    classes=(
        "natural_vegetation",
        "forest",
        "corn",
        "soybeans",
        "wetlands",
        "developed_barren",
        "open_water",
        "winter_wheat",
        "alfalfa",
        "fallow_idle_cropland",
        "cotton",
        "sorghum",
        "other",
    ),
    ignore_index=255,
    num_frames=3,
    layout=(
        "training_chips/ and validation_chips/ (as training_chips.tgz and validation_chips.tgz extract) holding "
        "chip_<row>_<col>_merged.tif (18 bands: 3 time steps x B02 B03 B04 B8A B11 B12, time-major, "
        "reflectance x 10000, nodata -9999) and chip_<row>_<col>.mask.tif (0 no data -> ignored as 255, "
        "1..13 the classes -> 0..12), with the id lists training_data.txt and validation_data.txt beside "
        "them (optional: without them every chip of the folder is used); test uses validation_chips/; "
        "downloaded .tgz archives under --data-root are extracted on first use"
    ),
    download=(
        "Hugging Face dataset ibm-nasa-geospatial/multi-temporal-crop-classification (training_chips.tgz "
        "10.6 GB, validation_chips.tgz 1.2 GB, training_data.txt, validation_data.txt): geofm data download "
        "multi_temporal_crop, or huggingface-cli download --repo-type dataset "
        "ibm-nasa-geospatial/multi-temporal-crop-classification --local-dir DIR"
    ),
    citation=(
        "Cecil, M., Kordi, F., Li, H., Khallaghi, S., Alemohammad, H. HLS Multi Temporal Crop Classification. "
        "Hugging Face, 2023. doi:10.57967/hf/0955"
    ),
    options={
        **_COMMON,
        "scale": "constant multiplier applied before normalisation (default 1: reflectance x 10000 already)",
    },
)

BIGEARTHNET_SPEC = DatasetSpec(
    name="bigearthnet",
    summary="BigEarthNet v1.0: 120x120 Sentinel-2 L2A patches, multi-label CORINE land cover (19 or 43 classes)",
    factory="geofm_datasets.named.bigearthnet:build_bigearthnet",
    task="multilabel_classification",
    bands=BANDS,
    sensor="sentinel2",
    classes=CLASSES_19,
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
        **CLASSIFICATION_COMMON_OPTIONS,
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

NAMED_SEGMENTATION_SPECS = (SEN1FLOODS11_SPEC, HLS_BURN_SCARS_SPEC, MULTI_TEMPORAL_CROP_SPEC)
"""The named segmentation datasets, in listing order."""
