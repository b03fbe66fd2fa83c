"""Generic GeoTIFF image classification data: a folder per class or a CSV of path,label(s); splits; the module.

``geotiff_classification`` delivers one class index per image, ``geotiff_multilabel`` a multi-hot vector.
Images are multi-band GeoTIFFs whose bands are named by their descriptions or ``file_bands``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data import gsd_metres, raster_info
from geofm.errors import ConfigError, DataError
from geofm.specs import DatasetSpec
from geofm_datasets.availability import missing_dataset_error
from geofm_datasets.classification_datamodule import SPLITS, ClassificationDataModule
from geofm_datasets.classification_layouts import csv_layout, folder_layout, split_lists, split_samples

__all__ = [
    "as_bool",
    "as_list",
    "build_geotiff_classification",
    "build_geotiff_multilabel",
    "registered_spec",
]


def registered_spec(default: DatasetSpec) -> DatasetSpec:
    """The registry's copy of ``default`` (stamped with distribution and version), else ``default``."""
    try:
        from geofm.registry import get_registry

        return get_registry("datasets").get(default.name)
    except Exception:  # used outside a loaded plugin system (e.g. the factory called directly)
        return default


def as_list(value: str | Sequence[Any] | None) -> list[str] | None:
    """A comma-separated string or a sequence as a list of strings (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def as_bool(value: Any, name: str) -> bool:
    """``true``/``false`` (and 1/0, yes/no, on/off) from a string option, else ``bool(value)``."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)


def _file_bands(path: Path, file_bands: list[str] | None) -> list[str]:
    info = raster_info(path)
    if file_bands:
        if len(file_bands) != info.count:
            raise DataError(
                f"file_bands names {len(file_bands)} bands ({', '.join(file_bands)}) but {path} has {info.count}: "
                "give one name per band of the files, in file order"
            )
        return file_bands
    names = [d for d in info.descriptions if d]
    if len(names) == info.count:
        return names
    raise DataError(
        f"the bands of {path} are not named (no band descriptions): give file_bands, the band names in "
        f"file order ({info.count} bands), e.g. file_bands=B02,B03,B04,B08 with sensor=sentinel2"
    )


def _build(
    default_spec: DatasetSpec,
    *,
    multilabel: bool,
    data_root: str | Path | None,
    bands: Sequence[str] | None,
    batch_size: int,
    num_workers: int,
    seed: int,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    crop_size: int | None,
    images: str | Path | None,
    csv: str | Path | None,
    split_files: Any,
    file_bands: str | Sequence[str] | None,
    sensor: str | None,
    classes: str | Sequence[str] | None,
    num_classes: int | None,
    label_separator: str,
    image_size: int | None,
    scale: float,
    nodata: float | None,
    flips: bool | str,
    cache: bool | str,
    pin_memory: bool | str,
    val_fraction: float,
    test_fraction: float,
    options: Mapping[str, Any],
) -> ClassificationDataModule:
    spec = registered_spec(default_spec)
    if options:
        known = ", ".join(sorted(spec.options))
        raise ConfigError(f"unknown option(s) {', '.join(sorted(options))} for {spec.name}; known: {known}")
    root = Path(data_root).expanduser() if data_root is not None else None
    class_names = as_list(classes)
    if num_classes is not None and class_names and int(num_classes) != len(class_names):
        raise ConfigError(f"num_classes={num_classes} but {len(class_names)} class names were given")
    csv_path = Path(csv).expanduser() if csv is not None else None
    if csv_path is not None and not csv_path.is_absolute() and root is not None:
        csv_path = root / csv_path
    if csv_path is None and root is not None and (root / "labels.csv").is_file():
        csv_path = root / "labels.csv"
    if csv_path is not None:
        samples, class_names, lists = csv_layout(csv_path, root, class_names, num_classes, label_separator, multilabel)
    else:
        folder = Path(images).expanduser() if images is not None else Path(".")
        folder = folder if folder.is_absolute() or root is None else root / folder
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
        samples, lists=lists, val_fraction=float(val_fraction), test_fraction=float(test_fraction), seed=seed
    )
    first = splits["train"][0].files[0] if splits.get("train") else samples[0].files[0]
    names = _file_bands(first, as_list(file_bands))
    info = raster_info(first)
    gsd = gsd_metres(info.crs, info.transform)
    if image_size:
        gsd *= info.width / int(image_size)
    spec = dataclasses.replace(
        spec,
        bands=tuple(names),
        sensor=sensor,
        classes=tuple(class_names),
        splits=tuple(s for s in SPLITS if splits.get(s)),
    )
    return ClassificationDataModule(
        spec=spec,
        samples=splits,
        file_bands=names,
        classes=class_names,
        multilabel=multilabel,
        sensor=sensor,
        bands=as_list(bands),
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        mean=mean,
        std=std,
        scale=float(scale),
        nodata=None if nodata is None else float(nodata),
        image_size=int(image_size) if image_size else None,
        crop_size=int(crop_size) if crop_size else None,
        flips=as_bool(flips, "flips"),
        cache=as_bool(cache, "cache"),
        pin_memory=as_bool(pin_memory, "pin_memory"),
        gsd=gsd,
    )


def build_geotiff_classification(
    *,
    data_root: str | Path | None = None,
    bands: Sequence[str] | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_size: int | None = None,
    images: str | Path | None = None,
    csv: str | Path | None = None,
    split_files: str | Path | Mapping[str, str | Path] | None = None,
    file_bands: str | Sequence[str] | None = None,
    sensor: str | None = None,
    classes: str | Sequence[str] | None = None,
    num_classes: int | None = None,
    label_separator: str = ";",
    image_size: int | None = None,
    scale: float = 1.0,
    nodata: float | None = None,
    flips: bool | str = True,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    **options: Any,
) -> ClassificationDataModule:
    """Multi-class data (one class index per image) from a folder per class or a CSV of path,label.

    See the ``geotiff_classification`` spec's options for each keyword.
    """
    from geofm_datasets.classification_specs import GEOTIFF_CLASSIFICATION_SPEC

    arguments = {k: v for k, v in locals().items() if k not in {"options", "GEOTIFF_CLASSIFICATION_SPEC"}}
    return _build(GEOTIFF_CLASSIFICATION_SPEC, multilabel=False, options=options, **arguments)


def build_geotiff_multilabel(
    *,
    data_root: str | Path | None = None,
    bands: Sequence[str] | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_size: int | None = None,
    images: str | Path | None = None,
    csv: str | Path | None = None,
    split_files: str | Path | Mapping[str, str | Path] | None = None,
    file_bands: str | Sequence[str] | None = None,
    sensor: str | None = None,
    classes: str | Sequence[str] | None = None,
    num_classes: int | None = None,
    label_separator: str = ";",
    image_size: int | None = None,
    scale: float = 1.0,
    nodata: float | None = None,
    flips: bool | str = True,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    **options: Any,
) -> ClassificationDataModule:
    """Multi-label data (a multi-hot target per image) from a CSV of path,labels or multi-hot columns.

    See the ``geotiff_multilabel`` spec's options for each keyword.
    """
    from geofm_datasets.classification_specs import GEOTIFF_MULTILABEL_SPEC

    arguments = {k: v for k, v in locals().items() if k not in {"options", "GEOTIFF_MULTILABEL_SPEC"}}
    return _build(GEOTIFF_MULTILABEL_SPEC, multilabel=True, options=options, **arguments)
