"""Descriptions of the options many dataset specs share (metadata only: no numpy, torch or rasterio).

The ``*_specs`` modules and :mod:`geofm_datasets.plugin` build their ``options`` from these, so one
option reads the same in every ``geofm datasets show``.
"""

from __future__ import annotations

__all__ = ["CACHE_TILES", "CROP_SIZE", "EVAL_FULL_TILES", "FLIPS", "PIN_MEMORY", "SCALE", "window_options"]

CROP_SIZE = "train on random crops of this many pixels (window reads); val/test use the centre crop"
FLIPS = "random horizontal and vertical flips when training (default true)"
SCALE = "constant multiplier applied before normalisation, e.g. 10000 for reflectance 0-1 files"
CACHE_TILES = "keep whole tiles in memory after the first read (default false)"
PIN_MEMORY = "pin batches in page-locked memory for faster GPU transfer (default false)"
EVAL_FULL_TILES = "validate and test on whole tiles even when crop_size is set (default false)"


def window_options(*, flips: str = FLIPS, scale: str | None = SCALE) -> dict[str, str]:
    """The options of datasets read through windows: crops, flips, ``scale`` (left out when ``None``), loading."""
    options = {"crop_size": CROP_SIZE, "flips": flips}
    if scale is not None:
        options["scale"] = scale
    return {**options, "cache": CACHE_TILES, "pin_memory": PIN_MEMORY, "eval_full_tiles": EVAL_FULL_TILES}
