"""Generic GeoTIFF regression data: finding images and float targets, pairing them, splitting, building the module."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data import find_rasters, raster_info
from geofm.data.factory import DatasetOptions, complete_spec
from geofm.errors import ConfigError, DataError
from geofm_datasets.options import (
    as_list,
    loading_keywords,
    loading_values,
    optional_float,
    pair_by_stem,
    read_file_bands,
    sources,
    split_paths,
    takes_keywords_of,
    unknown_options,
)
from geofm_datasets.regression.datamodule import GeoTiffRegressionDataModule
from geofm_datasets.regression.dataset import RegressionSample
from geofm_datasets.segmentation.generic import split_samples

__all__ = ["TARGET_SUFFIXES", "build_geotiff_regression", "pair_targets"]

TARGET_SUFFIXES = ("", "_target", "_label", "_mask", "_gt", "_y", "_value", "_values", ".target", "-target")
"""Suffixes tried after an image stem to find its target when ``target_suffix`` is not given."""


def pair_targets(
    images: Sequence[Path], targets: Sequence[Path], *, target_suffix: str | None = None, image_suffix: str = ""
) -> list[RegressionSample]:
    """Pair each image with the target whose stem is the image id plus a suffix (``_target``, ``_gt`` ...).

    The id is the image stem without ``image_suffix``. An image without a target raises
    :class:`DataError` naming it and the suffixes tried.
    """
    suffixes = (target_suffix,) if target_suffix is not None else TARGET_SUFFIXES
    pairs = pair_by_stem(images, targets, suffixes=suffixes, image_suffix=image_suffix, what="target")
    return [RegressionSample(sample_id, image, target) for sample_id, image, target in pairs]


def _target_indexes(value: str | int | Sequence[int] | None, count: int) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int) else as_list(value) if isinstance(value, str) else list(value)
    try:
        indexes = tuple(int(i) for i in items)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"target_bands={value!r}: give 1-based band indexes of the target files, e.g. 1,2") from error
    bad = [i for i in indexes if not 1 <= i <= count]
    if bad or not indexes:
        raise ConfigError(f"target_bands {bad or value!r} out of range: the target files have bands 1..{count}")
    return indexes


def _number_or_auto(value: Any, name: str) -> float | tuple[float, ...] | str:
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        try:
            items = tuple(float(v) for v in text.split(",") if v.strip())
        except ValueError as error:
            raise ConfigError(f"{name}={value!r}: give a number, one number per target band, or auto") from error
        return items[0] if len(items) == 1 else items
    if isinstance(value, int | float):
        return float(value)
    return tuple(float(v) for v in value)


@takes_keywords_of(loading_keywords)
def build_geotiff_regression(
    common: DatasetOptions,
    /,
    *,
    images: str | Path | Sequence[str | Path] = "images",
    targets: str | Path | Sequence[str | Path] = "targets",
    target_suffix: str | None = None,
    target_bands: str | int | Sequence[int] | None = None,
    target_nodata: float | None = None,
    target_offset: float | str | Sequence[float] = 0.0,
    target_scale: float | str | Sequence[float] = 1.0,
    image_suffix: str = "",
    file_bands: str | Sequence[str] | None = None,
    sensor: str | None = None,
    nodata: float | None = None,
    split_files: str | Path | Mapping[str, str | Path] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    **options: Any,
) -> GeoTiffRegressionDataModule:
    """Build the data module of a folder (or globs) of image GeoTIFFs and float target GeoTIFFs.

    Relative ``images``, ``targets`` and split files are taken under ``common.data_root``. See the
    ``geotiff_regression`` spec's options for each keyword. A generic spec is completed with the bands
    and splits found; another (e.g. ``demo_regression``) is kept as it is.
    """
    spec = common.spec
    loading, options = loading_keywords(**options)
    unknown_options(spec, options)
    root = common.data_root
    try:
        image_files = find_rasters(sources(root, images))
        target_files = find_rasters(sources(root, targets))
    except DataError as error:
        raise DataError(
            f"{error}. geotiff_regression reads images and targets from --data-root (folders images/ and "
            "targets/ by default) or from the images and targets options (folders or globs)"
        ) from error
    samples = pair_targets(image_files, target_files, target_suffix=target_suffix, image_suffix=image_suffix)
    names = read_file_bands(samples[0].image, as_list(file_bands))
    target_count = raster_info(samples[0].target).count  # type: ignore[arg-type]
    splits = split_samples(
        samples,  # type: ignore[arg-type]
        split_files=split_paths(root, split_files),
        val_fraction=float(val_fraction),
        test_fraction=float(test_fraction),
        seed=common.seed,
        image_suffix=image_suffix,
    )
    if spec.generic:
        common = complete_spec(common, splits, bands=tuple(names), sensor=sensor)
    return GeoTiffRegressionDataModule(
        common=common,
        samples=splits,  # type: ignore[arg-type]
        file_bands=names,
        target_count=target_count,
        sensor=sensor,
        target_indexes=_target_indexes(target_bands, target_count),
        target_offset=_number_or_auto(target_offset, "target_offset"),
        target_scale=_number_or_auto(target_scale, "target_scale"),
        nodata=optional_float(nodata),
        target_nodata=optional_float(target_nodata),
        **loading_values(**loading),
        gsd=common.spec.gsd,
    )
