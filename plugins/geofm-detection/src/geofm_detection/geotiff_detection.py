"""The generic ``geotiff_detection`` dataset: raster chips per split with vector or COCO annotations.

Layout under ``--data-root``: ``<split>/images/*.tif`` for the splits ``train`` (required), ``val`` and
``test``, annotated per split either by ``<split>/annotations.json`` (COCO: boxes in pixels, optional
segmentations) or by one vector file per chip ``<split>/labels/<chip stem>.geojson`` (or ``.gpkg``,
``.json``, ``.fgb``, ``.shp``) whose geometries are in map coordinates of any CRS and whose class is a
property. Without ``val/``, a seeded share of the training chips validates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data import find_rasters, raster_info
from geofm.data.factory import DatasetOptions, complete_spec
from geofm.errors import ConfigError, DataError
from geofm_detection.annotations import (
    Instance,
    collect_class_names,
    encode_instances,
    find_vector_label,
    read_coco,
    read_vector_instances,
)
from geofm_detection.data_options import as_bool, as_list, masks_option, unknown_options
from geofm_detection.detection_datamodule import SPLITS, DetectionDataModule
from geofm_detection.detection_dataset import DetectionSample, quiet_georeferencing

__all__ = ["build_geotiff_detection", "detection_module", "file_band_names"]

log = logging.getLogger(__name__)

_COLOR_BANDS = {"red": "RED", "green": "GREEN", "blue": "BLUE"}


@dataclass(frozen=True)
class _Chip:
    """A chip as read, before class indices are known: its objects in pixels and its size."""

    id: str
    image: Path
    instances: tuple[Instance, ...]
    height: int
    width: int
    where: str


def _vector_split(folder: Path, *, class_property: str, missing_labels: str) -> list[_Chip]:
    chips = []
    labels = folder / "labels"
    for image in find_rasters(folder / "images"):
        info = raster_info(image)
        stem = image.name.rsplit(".", 1)[0]
        label = find_vector_label(labels, stem)
        if label is None and missing_labels != "empty":
            raise DataError(
                f"the chip {image} has no label file {labels / stem}.geojson (or .gpkg, .json, .fgb, .shp); "
                "write one (an empty one for a chip without objects), or set missing_labels=empty"
            )
        instances = (
            read_vector_instances(label, crs=info.crs, transform=info.transform, class_property=class_property)
            if label is not None
            else []
        )
        where = str(label or image)
        chips.append(_Chip(stem, image, tuple(instances), info.height, info.width, where))
    return chips


def _coco_split(folder: Path) -> tuple[tuple[str, ...], list[_Chip]]:
    path = folder / "annotations.json"
    categories, entries = read_coco(path)
    chips = []
    for entry in entries:
        image = folder / "images" / entry.file_name
        if not image.is_file():
            raise DataError(f"{path} lists the image {entry.file_name}, but {image} does not exist")
        info = raster_info(image)
        chip_id = entry.file_name.rsplit(".", 1)[0]
        chips.append(_Chip(chip_id, image, entry.instances, info.height, info.width, str(path)))
    return categories, chips


def _read_split(folder: Path, *, class_property: str, missing_labels: str) -> tuple[tuple[str, ...], list[_Chip]]:
    """COCO categories (empty for vector labels) and the chips of one split folder."""
    with quiet_georeferencing():
        if (folder / "annotations.json").is_file():
            return _coco_split(folder)
        if (folder / "labels").is_dir() or missing_labels == "empty":
            return (), _vector_split(folder, class_property=class_property, missing_labels=missing_labels)
    raise DataError(
        f"{folder} has neither annotations.json (COCO) nor a labels/ folder of vector files (one per chip); "
        "give one of them beside images/"
    )


def file_band_names(image: Path, given: Sequence[str] | None) -> tuple[str, ...]:
    """The band names of the chips in file order: ``given``, else ``image``'s band descriptions.

    Files without descriptions whose colour interpretation is red, green and blue (JPEG, PNG, RGB
    GeoTIFFs) are ``RED``, ``GREEN``, ``BLUE`` in file order; otherwise :class:`DataError` asks for
    ``file_bands``.
    """
    if given:
        return tuple(given)
    import rasterio

    with quiet_georeferencing(), rasterio.open(image) as src:
        descriptions = [d for d in src.descriptions if d]
        colors = [_COLOR_BANDS.get(c.name) for c in src.colorinterp]
        count = src.count
    if len(descriptions) == count:
        return tuple(descriptions)
    if count == 3 and None not in colors and len(set(colors)) == 3:
        return tuple(c for c in colors if c is not None)
    raise DataError(
        f"the bands of {image} are not named (no band descriptions): give file_bands, the {count} band names "
        "in file order, e.g. file_bands=RED,GREEN,BLUE,NIR_BROAD"
    )


def _hold_out(chips: list[_Chip], fraction: float, split_seed: int) -> tuple[list[_Chip], list[_Chip]]:
    """(train, val): a seeded ``fraction`` of ``chips`` (at least one, never all) validates."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"val_fraction={fraction} must be at least 0 and below 1")
    count = min(len(chips) - 1, max(1, round(fraction * len(chips)))) if fraction > 0 else 0
    order = np.random.default_rng(split_seed).permutation(len(chips))
    held = set(order[:count].tolist())
    return [c for i, c in enumerate(chips) if i not in held], [c for i, c in enumerate(chips) if i in held]


def detection_module(
    common: DatasetOptions,
    root: Path,
    *,
    classes: Sequence[str] | None = None,
    class_property: str = "class",
    with_masks: bool | None = None,
    file_bands: Sequence[str] | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    missing_labels: str = "error",
    **module_options: Any,
) -> DetectionDataModule:
    """The data module of a folder laid out as the ``geotiff_detection`` spec says, described by ``common.spec``.

    ``with_masks`` ``None`` delivers masks when any training object has an outline. ``module_options``
    go to :class:`~geofm_detection.detection_datamodule.DetectionDataModule` (bands, loaders, crops ...).
    """
    spec = common.spec
    if missing_labels not in ("error", "empty"):
        raise ConfigError(f"missing_labels={missing_labels!r} must be 'error' or 'empty'")
    if not (root / "train" / "images").is_dir():
        raise DataError(
            f"dataset {spec.name} found no {root / 'train' / 'images'} folder; expected layout under --data-root: "
            f"{spec.layout}"
        )
    read = {
        split: _read_split(root / split, class_property=class_property, missing_labels=missing_labels)
        for split in SPLITS
        if (root / split / "images").is_dir()
    }
    train_categories = read["train"][0]
    found = [c for _, chips in read.values() for chip in chips for c in (i.category for i in chip.instances)]
    names = collect_class_names(found, classes or train_categories or None)
    index = {name: i for i, name in enumerate(names)}
    chips = {split: items for split, (_, items) in read.items()}
    if "val" not in chips:
        chips["train"], held = _hold_out(chips["train"], float(val_fraction), int(split_seed))
        if held:
            chips["val"] = held
    samples = {
        split: [
            DetectionSample(
                c.id, c.image, encode_instances(c.instances, index, height=c.height, width=c.width, where=c.where)
            )
            for c in items
        ]
        for split, items in chips.items()
    }
    if with_masks is None:
        with_masks = any(s.annotations.has_outlines for s in samples["train"])
    band_names = file_band_names(chips["train"][0].image, file_bands)
    log.info("dataset %s: %s", spec.name, ", ".join(f"{len(v)} {k} chips" for k, v in samples.items()))
    common = complete_spec(common, samples, bands=band_names, classes=names)
    return DetectionDataModule(
        common=common,
        samples=samples,
        class_names=names,
        file_bands=band_names,
        with_masks=with_masks,
        gsd=common.spec.gsd,
        **module_options,
    )


def build_geotiff_detection(
    common: DatasetOptions,
    /,
    *,
    class_property: str = "class",
    classes: str | Sequence[str] | None = None,
    with_masks: bool | str = "auto",
    augment: bool | str = True,
    file_bands: str | Sequence[str] | None = None,
    sensor: str | None = None,
    nodata: float | None = None,
    scale: float = 1.0,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    missing_labels: str = "error",
    pin_memory: bool | str = False,
    **options: Any,
) -> DetectionDataModule:
    """Build the detection data module of a folder of chips with vector or COCO annotations.

    See the ``geotiff_detection`` spec's layout and options for each keyword.
    """
    spec = common.spec
    unknown_options(spec, options)
    if common.data_root is None:
        raise DataError(f"dataset {spec.name} needs --data-root: a folder laid out as {spec.layout}")
    return detection_module(
        dataclasses.replace(common, spec=dataclasses.replace(spec, sensor=sensor)),
        common.data_root,
        classes=as_list(classes),
        class_property=class_property,
        with_masks=masks_option(with_masks),
        file_bands=as_list(file_bands),
        val_fraction=float(val_fraction),
        split_seed=int(split_seed),
        missing_labels=str(missing_labels),
        sensor=sensor,
        scale=float(scale),
        nodata=None if nodata is None else float(nodata),
        augment=as_bool(augment, "augment"),
        pin_memory=as_bool(pin_memory, "pin_memory"),
    )
