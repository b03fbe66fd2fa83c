"""Generic GeoTIFF image classification data: a folder per class or a CSV of path,label(s); splits; the module.

``geotiff_classification`` delivers one class index per image, ``geotiff_multilabel`` a multi-hot vector.
Images are multi-band GeoTIFFs whose bands are named by their descriptions or ``file_bands``. Both
factories take the keywords of one private builder, so their signatures cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data import gsd_metres, raster_info
from geofm.data.factory import DatasetOptions, complete_spec
from geofm.errors import ConfigError, DataError
from geofm_datasets.availability import missing_dataset_error
from geofm_datasets.classification.datamodule import ClassificationDataModule
from geofm_datasets.classification.layouts import csv_layout, folder_layout, split_lists, split_samples
from geofm_datasets.options import (
    as_bool,
    as_list,
    image_loading_keywords,
    loading_values,
    optional_float,
    read_file_bands,
    resolve,
    takes_keywords_of,
    unknown_options,
)

__all__ = [
    "as_bool",
    "as_list",
    "build_geotiff_classification",
    "build_geotiff_multilabel",
]


@takes_keywords_of(image_loading_keywords)
def _build(
    common: DatasetOptions,
    multilabel: bool,
    /,
    *,
    images: str | Path | None = None,
    csv: str | Path | None = None,
    split_files: str | Path | Mapping[str, str | Path] | None = None,
    file_bands: str | Sequence[str] | None = None,
    sensor: str | None = None,
    classes: str | Sequence[str] | None = None,
    num_classes: int | None = None,
    label_separator: str = ";",
    image_size: int | None = None,
    nodata: float | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    **options: Any,
) -> ClassificationDataModule:
    spec = common.spec
    loading, options = image_loading_keywords(**options)
    unknown_options(spec, options)
    root = common.data_root
    class_names = as_list(classes)
    if num_classes is not None and class_names and int(num_classes) != len(class_names):
        raise ConfigError(f"num_classes={num_classes} but {len(class_names)} class names were given")
    csv_path = Path(resolve(root, csv)) if csv is not None else None
    if csv_path is None and root is not None and (root / "labels.csv").is_file():
        csv_path = root / "labels.csv"
    if csv_path is not None:
        samples, class_names, lists = csv_layout(csv_path, root, class_names, num_classes, label_separator, multilabel)
    else:
        folder = Path(resolve(root, images if images is not None else "."))
        if root is None and images is None:
            raise missing_dataset_error(spec, Path("."), ["--data-root"])
        expected = ["class folders of GeoTIFFs (<class>/*.tif) or labels.csv"]
        if not folder.is_dir():
            raise missing_dataset_error(spec, folder, expected)
        samples, class_names, lists = folder_layout(folder, class_names)
        if not samples:
            raise missing_dataset_error(spec, folder, expected)
    if len(class_names) < 2:
        raise DataError(f"{spec.name} found {len(class_names)} class ({', '.join(class_names)}): it needs at least 2")
    lists = split_lists(root, split_files) or lists
    splits = split_samples(
        samples, lists=lists, val_fraction=float(val_fraction), test_fraction=float(test_fraction), seed=common.seed
    )
    first = splits["train"][0].files[0] if splits.get("train") else samples[0].files[0]
    example = "file_bands=B02,B03,B04,B08 with sensor=sentinel2"
    names = read_file_bands(first, as_list(file_bands), check_count=True, example=example)
    info = raster_info(first)
    gsd = gsd_metres(info.crs, info.transform)
    if image_size:
        gsd *= info.width / int(image_size)
    return ClassificationDataModule(
        common=complete_spec(common, splits, bands=tuple(names), sensor=sensor, classes=tuple(class_names)),
        samples=splits,
        file_bands=names,
        classes=class_names,
        multilabel=multilabel,
        sensor=sensor,
        nodata=optional_float(nodata),
        image_size=int(image_size) if image_size else None,
        **loading_values(**loading),
        gsd=gsd,
    )


@takes_keywords_of(_build)
def build_geotiff_classification(common: DatasetOptions, /, **options: Any) -> ClassificationDataModule:
    """Multi-class data (one class index per image) from a folder per class or a CSV of path,label.

    See the ``geotiff_classification`` spec's options for each keyword.
    """
    return _build(common, False, **options)


@takes_keywords_of(_build)
def build_geotiff_multilabel(common: DatasetOptions, /, **options: Any) -> ClassificationDataModule:
    """Multi-label data (a multi-hot target per image) from a CSV of path,labels or multi-hot columns.

    See the ``geotiff_multilabel`` spec's options for each keyword.
    """
    return _build(common, True, **options)
