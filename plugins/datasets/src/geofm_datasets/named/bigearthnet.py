"""BigEarthNet v1.0 (Sentinel-2): one folder per patch with a GeoTIFF per band and a labels json file.

Bands at 10, 20 and 60 m are resampled on read onto one grid (120 x 120 pixels by default: bilinear
for the upsampled bands). Targets are multi-hot in the 19-class (default) or 43-class nomenclature
(:mod:`geofm_datasets.named.bigearthnet_classes`); the acquisition date and the UTM bounds in the json give
``meta["timestamps"]`` and ``meta["center_latlon"]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data import center_latlon, date_from_tags
from geofm.data.factory import DatasetOptions, complete_spec
from geofm.errors import ConfigError, DataError
from geofm_datasets.availability import dataset_root, missing_dataset_error
from geofm_datasets.classification.datamodule import SPLITS, ClassificationDataModule
from geofm_datasets.classification.dataset import ClassificationDataset, ClassificationSample, ImageMeta
from geofm_datasets.classification.layouts import read_id_list, split_samples
from geofm_datasets.named.bigearthnet_classes import BAND_MEAN, BAND_STD, BANDS, CLASSES_43, TO_19, class_names
from geofm_datasets.options import (
    as_list,
    image_loading_keywords,
    loading_values,
    optional_float,
    takes_keywords_of,
    unknown_options,
)

__all__ = ["ARCHIVE_FOLDER", "BigEarthNetDataset", "build_bigearthnet", "patch_sample", "read_labels"]

ARCHIVE_FOLDER = "BigEarthNet-v1.0"
"""The folder the publisher's archive extracts to; patches are looked for in it, else under the root."""

_EXCLUDE_FILES = ("patches_with_seasonal_snow.csv", "patches_with_cloud_and_shadow.csv")
_LABELS_SUFFIX = "_labels_metadata.json"


def patch_sample(folder: Path) -> ClassificationSample:
    """The sample of one patch folder: its twelve band files in :data:`BANDS` order (labels read later)."""
    name = folder.name
    return ClassificationSample(name, tuple(folder / f"{name}_{band}.tif" for band in BANDS))


def read_labels(path: Path) -> dict[str, Any]:
    """The parsed ``<patch>_labels_metadata.json``; a missing or broken file raises :class:`DataError`."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise DataError(f"{path} does not exist: every BigEarthNet patch folder needs its labels json") from error
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path} ({error}): re-extract the patch from the archive") from error
    if not isinstance(record, dict) or not isinstance(record.get("labels"), list):
        raise DataError(f"{path} has no 'labels' list: is it a BigEarthNet v1.0 Sentinel-2 labels file?")
    return record


class BigEarthNetDataset(ClassificationDataset):
    """BigEarthNet patches: multi-hot targets of ``nomenclature`` (19 or 43) and metadata from the json."""

    def __init__(self, samples: Sequence[ClassificationSample], *, nomenclature: int = 19, **kwargs: Any) -> None:
        super().__init__(samples, **kwargs)
        self.nomenclature = int(nomenclature)
        self.classes = class_names(self.nomenclature)
        self._index43 = {name: i for i, name in enumerate(CLASSES_43)}
        self._index = {name: i for i, name in enumerate(self.classes)}
        self._crs: dict[str, Any] = {}
        self._last: tuple[int, dict[str, Any]] | None = None

    def record(self, index: int, sample: ClassificationSample) -> dict[str, Any]:
        """The labels json of ``sample`` (the last one is kept: labels and meta read it once)."""
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        record = read_labels(sample.files[0].parent / f"{sample.id}{_LABELS_SUFFIX}")
        self._last = (index, record)
        return record

    def labels(self, index: int, sample: ClassificationSample) -> tuple[int, ...]:
        """Class indices of the patch in the dataset's nomenclature (43-class labels without a 19-class one drop)."""
        found: list[int] = []
        for name in self.record(index, sample)["labels"]:
            if name not in self._index43:
                close = difflib.get_close_matches(str(name), CLASSES_43, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise DataError(f"patch {sample.id} has the label {name!r}, not a BigEarthNet v1.0 class{hint}")
            target = name if self.nomenclature == 43 else TO_19[name]
            if target is not None and self._index[target] not in found:
                found.append(self._index[target])
        return tuple(sorted(found))

    def meta(self, index: int, sample: ClassificationSample, file_meta: ImageMeta) -> ImageMeta:
        """Acquisition time and centre from the json (the band file's where the json lacks them)."""
        from affine import Affine

        record = self.record(index, sample)
        when = date_from_tags({"ACQUISITION_DATE": str(record.get("acquisition_date", ""))})
        stamp = when.timestamp() if when is not None else file_meta.timestamp
        centre = file_meta.center_latlon
        bounds, wkt = record.get("coordinates"), record.get("projection")
        if isinstance(bounds, Mapping) and wkt and all(k in bounds for k in ("ulx", "uly", "lrx", "lry")):
            if wkt not in self._crs:
                from rasterio.crs import CRS

                self._crs[wkt] = CRS.from_wkt(wkt)
            ulx, uly, lrx, lry = (float(bounds[k]) for k in ("ulx", "uly", "lrx", "lry"))
            centre = center_latlon(self._crs[wkt], Affine(lrx - ulx, 0.0, ulx, 0.0, lry - uly, uly), 1, 1)
        return ImageMeta(stamp, centre, file_meta.gsd)


def _lists(root: Path, value: Any) -> dict[str, list[str]]:
    """Split lists: ``split_files`` (mapping or folder), else ``<split>.csv`` / ``.txt`` under root or splits/."""

    def resolve(item: Any) -> Path:
        path = Path(item).expanduser()
        return path if path.is_absolute() else root / path

    if isinstance(value, Mapping):
        return {str(k): read_id_list(resolve(v)) for k, v in value.items()}
    folders = [resolve(value)] if value is not None else [root, root / "splits"]
    found: dict[str, list[str]] = {}
    for split in SPLITS:
        names = (f"{split}.csv", f"{split}.txt", f"bigearthnet-{split}.csv")
        path = next((f / n for f in folders for n in names if (f / n).is_file()), None)
        if path is not None:
            found[split] = read_id_list(path)
    if value is not None and not found:
        raise DataError(f"split folder {folders[0]} holds none of train.csv, val.csv, test.csv (or .txt)")
    return found


def _excluded(root: Path, value: str | Sequence[str] | None) -> set[str]:
    files = [root / n for n in _EXCLUDE_FILES if (root / n).is_file()] if value is None else as_list(value) or []
    names: set[str] = set()
    for item in files:
        path = Path(item).expanduser()
        names.update(read_id_list(path if path.is_absolute() else root / path))
    return names


@takes_keywords_of(image_loading_keywords)
def build_bigearthnet(
    common: DatasetOptions,
    /,
    *,
    nomenclature: int | str = 19,
    image_size: int = 120,
    split_files: str | Path | Mapping[str, str | Path] | None = None,
    exclude: str | Sequence[str] | None = None,
    stats: str = "published",
    nodata: float | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    **options: Any,
) -> ClassificationDataModule:
    """Build the BigEarthNet data module from the publisher's layout under ``common.data_root``.

    See the ``bigearthnet`` spec's options for each keyword.
    """
    spec = common.spec
    loading, options = image_loading_keywords(**options)
    unknown_options(spec, options)
    if str(nomenclature) not in ("19", "43"):
        raise ConfigError(f"nomenclature={nomenclature!r}: BigEarthNet has the 19-class and the 43-class nomenclature")
    if stats not in ("published", "computed"):
        raise ConfigError(f"stats={stats!r} is unknown; use 'published' or 'computed'")
    root = dataset_root(spec, common.data_root)
    patches = root / ARCHIVE_FOLDER if (root / ARCHIVE_FOLDER).is_dir() else root
    expected = ["patch folders <patch>/<patch>_B01.tif ... <patch>_B12.tif with <patch>_labels_metadata.json"]
    if not patches.is_dir():
        raise missing_dataset_error(spec, root, expected)
    lists = _lists(root, split_files)
    drop = _excluded(root, exclude)
    if lists:
        names = list(dict.fromkeys(n for items in lists.values() for n in items if n not in drop))
        absent = [n for n in names if not (patches / n).is_dir()]
        if absent:
            raise DataError(
                f"{len(absent)} patch(es) in the split lists are not under {patches}, e.g. {', '.join(absent[:3])}; "
                "extract the whole archive there, or give split_files that match the patches you have"
            )
        folders = [patches / n for n in names]
        lists = {split: [n for n in items if n not in drop] for split, items in lists.items()}
    else:
        folders = sorted(
            d
            for d in patches.iterdir()
            if d.is_dir() and d.name not in drop and (d / f"{d.name}{_LABELS_SUFFIX}").is_file()
        )
    if not folders:
        raise missing_dataset_error(spec, root, expected)
    splits = split_samples(
        [patch_sample(f) for f in folders],
        lists=lists,
        val_fraction=float(val_fraction),
        test_fraction=float(test_fraction),
        seed=common.seed,
    )
    classes = class_names(int(nomenclature))
    source = "given"
    if common.mean is None and common.std is None and stats == "published":  # in the units of x * scale
        mean = [BAND_MEAN[b] * float(loading["scale"]) for b in BANDS]
        std = [BAND_STD[b] * float(loading["scale"]) for b in BANDS]
        common = dataclasses.replace(common, mean=mean, std=std)
        source = "published BigEarthNet statistics"
    return ClassificationDataModule(
        common=complete_spec(common, splits, classes=classes),
        samples=splits,
        file_bands=BANDS,
        classes=classes,
        multilabel=True,
        sensor=spec.sensor,
        stats_source=source,
        nodata=optional_float(nodata),
        image_size=int(image_size),
        **loading_values(**loading),
        gsd=10.0 * 120 / int(image_size) if image_size else math.nan,
        dataset_class=BigEarthNetDataset,
        dataset_options={"nomenclature": int(nomenclature)},
    )
