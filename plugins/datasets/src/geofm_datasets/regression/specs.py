"""The specs of the regression datasets (generic GeoTIFF regression and the generated demo); metadata only.

Light on purpose: :mod:`geofm_datasets.plugin` lists these, so nothing here imports numpy, torch or rasterio.
"""

from __future__ import annotations

from geofm.specs import DatasetSpec
from geofm_datasets import spec_options as so

__all__ = ["DEMO_REGRESSION_SPEC", "GEOTIFF_REGRESSION_SPEC", "REGRESSION_SPECS"]

_OPTIONS = {
    **so.window_options(
        flips="random horizontal and vertical flips of image and target together when training (default true)",
        scale="constant multiplier applied to the image before normalisation, e.g. 10000 for reflectance 0-1",
    ),
    "target_offset": "targets become (raw - target_offset) / target_scale: a number, one per target band, or auto "
    "(the training targets' mean); metrics are in these units (default 0)",
    "target_scale": "see target_offset: a number, one per target band, or auto (the training targets' std; default 1)",
}

GEOTIFF_REGRESSION_SPEC = DatasetSpec(
    name="geotiff_regression",
    summary="Any GeoTIFF pixel-wise regression data: image and float target folders or globs, nodata masked",
    factory="geofm_datasets.regression.generic:build_geotiff_regression",
    task="regression",
    generic=True,
    layout=(
        "images and targets as folders or globs (default <data-root>/images and <data-root>/targets), paired "
        "by file stem (targets may add a suffix such as _target or _gt); targets are float GeoTIFFs of the "
        "image's size, one band per output, NaN or their nodata where unknown; optional <data-root>/splits/"
        "{train,val,test}.txt with one id (image stem) per line"
    ),
    options={
        **_OPTIONS,
        "images": "folder, glob or list of image GeoTIFFs (relative to --data-root; default 'images')",
        "targets": "folder, glob or list of target GeoTIFFs (relative to --data-root; default 'targets')",
        "split_files": "mapping split -> text file of image ids, or a folder of {train,val,test}.txt "
        "(default <data-root>/splits/ if present)",
        "file_bands": so.FILE_BANDS,
        "sensor": so.SENSOR,
        "target_bands": "1-based bands of the target files to predict, e.g. 1 or 1,3 (default: all)",
        "target_nodata": "target value meaning no data (default: the target files' nodata; NaN always is)",
        "nodata": "image value meaning no data (default: the image files' nodata); such pixels are not scored",
        "target_suffix": "suffix after the image stem in target names (default: tries '', _target, _label, _gt ...)",
        "image_suffix": "suffix of image stems left out of the sample id (default none)",
        **so.SPLIT_FRACTIONS,
    },
)

DEMO_REGRESSION_SPEC = DatasetSpec(
    name="demo_regression",
    summary="Generated scenes in the six HLS bands with a vegetation-cover target (0-1) to regress per pixel",
    factory="geofm_datasets.demo_regression:build_demo_regression",
    task="regression",
    **so.HLS_SCENES,
    **so.generated("demo_regression"),
    layout=(
        "images/demo_regression_NNN_YYYYMMDD.tif (int16 reflectance x 10000, nodata -9999, EPSG:32633), "
        "targets/demo_regression_NNN_YYYYMMDD_target.tif (float32 vegetation cover 0-1, nodata -9999 and NaN), "
        "splits/{train,val,test}.txt, stats.json"
    ),
    options={
        **_OPTIONS,
        **so.GENERATED_OPTIONS,
        "target_offset": "targets become (raw - target_offset) / target_scale; default auto (the training mean), "
        "so metrics are in standard deviations of the training cover; 0 (with target_scale=1) for fractions",
        "target_scale": "see target_offset; default auto (the training targets' std)",
    },
)

REGRESSION_SPECS: tuple[DatasetSpec, ...] = (DEMO_REGRESSION_SPEC, GEOTIFF_REGRESSION_SPEC)
"""The regression datasets this plugin registers, in listing order."""
