"""Sen1Floods11 hand-labelled chips in the publisher's layout: Sentinel-2, Sentinel-1 or both, official splits.

Chip names start with their flood event (``Spain_7370579``); the acquisition dates of each event come
from the publisher's ``Sen1Floods11_Metadata.geojson`` and are carried as the batch ``timestamps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from geofm.bands import canonical_bands
from geofm.data.factory import DatasetOptions
from geofm.errors import ConfigError, DataError
from geofm_datasets.availability import dataset_root, missing_dataset_error
from geofm_datasets.named.common import (
    build_named_segmentation,
    check_samples,
    find_folder,
    read_id_list,
    unknown_options,
)
from geofm_datasets.named.specs import SEN1FLOODS11_SPEC, SENTINEL1_BANDS, SENTINEL2_L1C_BANDS
from geofm_datasets.options import loading_keywords, takes_keywords_of
from geofm_datasets.segmentation.datamodule import GeoTiffSegmentationDataModule
from geofm_datasets.segmentation.dataset import BandLayout, SegmentationSample

__all__ = ["EVENT_DATES", "MODALITIES", "build_sen1floods11", "sen1floods11_samples"]

MODALITIES = {
    "s2": (("S2Hand", SENTINEL2_L1C_BANDS),),
    "s1": (("S1Hand", SENTINEL1_BANDS),),
    "s1s2": (("S2Hand", SENTINEL2_L1C_BANDS), ("S1Hand", SENTINEL1_BANDS)),
}
"""Per modality, the stacked chip folders (suffix ``_<folder>.tif``) and their bands in file order."""

EVENT_DATES = {
    "Bolivia": ("2018-02-15", "2018-02-15"),
    "Colombia": ("2018-08-22", "2018-08-23"),
    "Ghana": ("2018-09-18", "2018-09-19"),
    "India": ("2016-08-12", "2016-08-12"),
    "Cambodia": ("2018-08-05", "2018-08-04"),
    "Mekong": ("2018-08-05", "2018-08-04"),
    "Nigeria": ("2018-09-21", "2018-09-20"),
    "Pakistan": ("2017-06-28", "2017-06-28"),
    "Paraguay": ("2018-10-31", "2018-10-31"),
    "Somalia": ("2018-05-07", "2018-05-05"),
    "Spain": ("2019-09-17", "2019-09-18"),
    "Sri-Lanka": ("2017-05-30", "2017-05-28"),
    "USA": ("2019-05-22", "2019-05-22"),
}
"""(Sentinel-1 date, Sentinel-2 date) of each flood event (``Sen1Floods11_Metadata.geojson``; Mekong = Cambodia)."""

SPLIT_FILES = {
    "train": "flood_train_data.csv",
    "val": "flood_valid_data.csv",
    "test": "flood_test_data.csv",
    "bolivia": "flood_bolivia_data.csv",
}

_HAND = (
    "v1.1/data/flood_events/HandLabeled",
    "data/flood_events/HandLabeled",
    "flood_events/HandLabeled",
    "HandLabeled",
    "sen1floods11/v1.1/data/flood_events/HandLabeled",
    "",
)
_SPLITS = (
    "v1.1/splits/flood_handlabeled",
    "splits/flood_handlabeled",
    "flood_handlabeled",
    "splits",
    "sen1floods11/v1.1/splits/flood_handlabeled",
    "",
)


def _modality(modality: str | None, bands: Sequence[str] | None) -> str:
    if modality is not None:
        key = str(modality).lower().replace("+", "").replace("_", "")
        if key == "s2s1":
            key = "s1s2"
        if key not in MODALITIES:
            raise ConfigError(f"sen1floods11: modality {modality!r} is not one of {', '.join(MODALITIES)}")
        return key
    if not bands:
        return "s2"
    wanted = set(canonical_bands(bands, SEN1FLOODS11_SPEC.sensor))
    if wanted <= set(canonical_bands(SENTINEL2_L1C_BANDS, "sentinel2")):
        return "s2"
    if wanted <= set(canonical_bands(SENTINEL1_BANDS)):
        return "s1"
    return "s1s2"


def _event_timestamp(sample_id: str, modality: str) -> float:
    dates = EVENT_DATES.get(sample_id.rsplit("_", 1)[0])
    if dates is None:
        return math.nan
    day = dates[0] if modality == "s1" else dates[1]
    return datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()


def sen1floods11_samples(
    root: Path, *, modality: str = "s2", test_split: str = "test"
) -> dict[str, list[SegmentationSample]]:
    """The official train/val/test samples under ``root`` (``test_split="bolivia"``: the Bolivia hold-out).

    Missing folders, split lists or chips raise the dataset's missing-data error (layout and download).
    """
    spec = SEN1FLOODS11_SPEC
    parts = MODALITIES[modality]
    folders = [name for name, _ in parts]
    hand = find_folder(root, _HAND, ["LabelHand", *folders])
    split_dir = find_folder(root, _SPLITS, SPLIT_FILES["train"])
    missing = []
    if hand is None:
        missing.append(f"data/flood_events/HandLabeled/{{{','.join([*folders, 'LabelHand'])}}}")
    if split_dir is None:
        missing.append("splits/flood_handlabeled/flood_train_data.csv")
    if missing:
        raise missing_dataset_error(spec, root, missing)
    assert hand is not None and split_dir is not None
    if test_split not in ("test", "bolivia"):
        raise ConfigError(f"sen1floods11: test_split must be test or bolivia, not {test_split!r}")
    result: dict[str, list[SegmentationSample]] = {}
    for split, key in (("train", "train"), ("val", "val"), ("test", test_split)):
        path = split_dir / SPLIT_FILES[key]
        if not path.is_file():
            raise missing_dataset_error(spec, root, [str(path.relative_to(root))])
        ids = read_id_list(path, strip=("_S1Hand.tif", "_S2Hand.tif", "_LabelHand.tif", ".tif"))
        samples = []
        for sample_id in ids:
            files = tuple(hand / name / f"{sample_id}_{name}.tif" for name in folders)
            samples.append(
                SegmentationSample(
                    sample_id,
                    files[0],
                    hand / "LabelHand" / f"{sample_id}_LabelHand.tif",
                    frames=(files,) if len(files) > 1 else (),
                    timestamps=(_event_timestamp(sample_id, modality),),
                )
            )
        check_samples(spec, root, split, samples)
        result[split] = samples
    return result


@takes_keywords_of(loading_keywords)
def build_sen1floods11(
    common: DatasetOptions,
    /,
    *,
    modality: str | None = None,
    test_split: str = "test",
    **options: Any,
) -> GeoTiffSegmentationDataModule:
    """The Sen1Floods11 data module: hand-labelled chips, -1 labels ignored (as 255), official splits.

    ``modality`` picks Sentinel-2 (``s2``), Sentinel-1 (``s1``) or both stacked (``s1s2``); by default
    the requested ``bands`` decide. Normalisation statistics default to the training split's.
    """
    spec = common.spec
    loading, options = loading_keywords(**options)
    unknown_options(spec, options)
    wanted = list(common.bands or ())
    chosen = _modality(modality, wanted)
    file_bands = [band for _, names in MODALITIES[chosen] for band in names]
    if wanted:
        absent = set(canonical_bands(wanted, spec.sensor)) - set(canonical_bands(file_bands, spec.sensor))
        if absent:
            raise DataError(
                f"dataset sen1floods11 with modality {chosen} has no band {', '.join(sorted(absent))} (it holds "
                f"{', '.join(file_bands)}); use modality s1s2 for Sentinel-2 and Sentinel-1 bands together, or "
                "leave modality out to let --bands choose"
            )
    root = dataset_root(spec, common.data_root)
    splits = sen1floods11_samples(root, modality=chosen, test_split=str(test_split))
    layout = BandLayout(tuple(len(names) for _, names in MODALITIES[chosen]))
    return build_named_segmentation(common, splits, file_bands=file_bands, layout=layout, label_nodata=-1, **loading)
