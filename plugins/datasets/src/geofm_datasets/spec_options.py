"""What many dataset specs share: option descriptions and groups of fields (metadata only: no numpy, torch or rasterio).

The ``specs`` modules build their specs from these, so one option reads the same in every ``geofm datasets
show`` and each spec states only what is its own.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CACHE_TILES",
    "CROP_SIZE",
    "EVAL_FULL_TILES",
    "FILE_BANDS",
    "FLIPS",
    "GENERATED_OPTIONS",
    "HLS_BANDS",
    "HLS_SCENES",
    "PIN_MEMORY",
    "SCALE",
    "SENSOR",
    "SPLIT_FRACTIONS",
    "generated",
    "hugging_face",
    "window_options",
]

CROP_SIZE = "train on random crops of this many pixels (window reads); val/test use the centre crop"
FLIPS = "random horizontal and vertical flips when training (default true)"
SCALE = "constant multiplier applied before normalisation, e.g. 10000 for reflectance 0-1 files"
CACHE_TILES = "keep whole tiles in memory after the first read (default false)"
PIN_MEMORY = "pin batches in page-locked memory for faster GPU transfer (default false)"
EVAL_FULL_TILES = "validate and test on whole tiles even when crop_size is set (default false)"
FILE_BANDS = "band names of the image files in file order (default: the files' band descriptions)"
SENSOR = "sensor giving meaning to band codes such as B05 (sentinel2, hls_l30, landsat8 ...)"
SPLIT_FRACTIONS = {
    "val_fraction": "share of images for validation when there are no split files (default 0.2)",
    "test_fraction": "share of images for testing when there are no split files (default 0.0)",
}
"""The options of a generic dataset that splits images no split file places."""

GENERATED_OPTIONS = {
    "num_scenes": "number of generated scenes (default 48: 32 train / 8 val / 8 test)",
    "size": "scene size in pixels (default 128)",
    "regenerate": "rebuild the cached files even when they are current (default false)",
}
"""The options of a dataset of generated scenes."""

HLS_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
"""The six HLS S30 bands (BLUE ... SWIR_2), in file order."""

HLS_SCENES: dict[str, Any] = {"bands": HLS_BANDS, "sensor": "hls_s30", "gsd": 30.0}
"""The spec fields of data in the six HLS S30 bands at 30 m."""


def generated(name: str) -> dict[str, str]:
    """The spec fields of dataset ``name`` generated on first use: where it is written and its licence."""
    return {
        "download": f"generated on first use (deterministic, a few MB) under --data-root or $GEOFM_CACHE/datasets/"
        f"{name} (default ~/.cache/geofm/datasets/{name})",
        "license": "Apache-2.0",
    }


def hugging_face(repo: str, license: str = "CC-BY-4.0") -> dict[str, str]:
    """The spec fields of a dataset published as the Hugging Face dataset ``repo``: homepage, repository, licence."""
    return {"homepage": f"https://huggingface.co/datasets/{repo}", "hub_repo": repo, "license": license}


def window_options(*, flips: str = FLIPS, scale: str | None = SCALE) -> dict[str, str]:
    """The options of datasets read through windows: crops, flips, ``scale`` (left out when ``None``), loading."""
    options = {"crop_size": CROP_SIZE, "flips": flips}
    if scale is not None:
        options["scale"] = scale
    return {**options, "cache": CACHE_TILES, "pin_memory": PIN_MEMORY, "eval_full_tiles": EVAL_FULL_TILES}
