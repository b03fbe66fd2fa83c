"""Where a peer data module's files are: placeholders, paths, and the publishers' layouts geofm's named datasets read.

A peer *generic* data module whose roots and file patterns are one publisher's layout (Sen1Floods11's
``HandLabeled/S2Hand`` + ``LabelHand``, HLS burn scars' ``training`` / ``validation``, multi-temporal
crops' ``training_chips`` / ``validation_chips``) becomes that geofm named dataset, which reads the same
files with the same splits. The peer's own named modules map there too, with the statistics they
normalise with (copied from the peer's modules, so the numbers carry over exactly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geofm.migrate.peer_yaml import PLACEHOLDER

__all__ = [
    "NAMED_MODULES",
    "PEER_STATISTICS",
    "Layout",
    "detect_layout",
    "fill_path",
    "list_ids",
    "same_ids",
]

PEER_STATISTICS: dict[str, tuple[dict[str, float], dict[str, float]]] = {
    "sen1floods11": (
        {
            "COASTAL_AEROSOL": 0.16450718,
            "BLUE": 0.1412956,
            "GREEN": 0.13795798,
            "RED": 0.12353792,
            "RED_EDGE_1": 0.1481099,
            "RED_EDGE_2": 0.23991728,
            "RED_EDGE_3": 0.28587557,
            "NIR_BROAD": 0.26345379,
            "NIR_NARROW": 0.30902815,
            "WATER_VAPOR": 0.04911151,
            "CIRRUS": 0.00652506,
            "SWIR_1": 0.2044958,
            "SWIR_2": 0.11912015,
        },
        {
            "COASTAL_AEROSOL": 0.06977374,
            "BLUE": 0.07406382,
            "GREEN": 0.07370365,
            "RED": 0.08692279,
            "RED_EDGE_1": 0.07778555,
            "RED_EDGE_2": 0.09105416,
            "RED_EDGE_3": 0.10690993,
            "NIR_BROAD": 0.10096586,
            "NIR_NARROW": 0.11798815,
            "WATER_VAPOR": 0.03380113,
            "CIRRUS": 0.01463465,
            "SWIR_1": 0.09772074,
            "SWIR_2": 0.07659938,
        },
    ),
    "hls_burn_scars": (
        {
            "BLUE": 0.033349706741586264,
            "GREEN": 0.05701185520536176,
            "RED": 0.05889748132001316,
            "NIR_NARROW": 0.2323245113436119,
            "SWIR_1": 0.1972854853760658,
            "SWIR_2": 0.11944914225186566,
        },
        {
            "BLUE": 0.02269135568823774,
            "GREEN": 0.026807560223070237,
            "RED": 0.04004109844362779,
            "NIR_NARROW": 0.07791732423672691,
            "SWIR_1": 0.08708738838140137,
            "SWIR_2": 0.07241979477437814,
        },
    ),
    "multi_temporal_crop": (
        {
            "BLUE": 494.905781,
            "GREEN": 815.239594,
            "RED": 924.335066,
            "NIR_NARROW": 2968.881459,
            "SWIR_1": 2634.621962,
            "SWIR_2": 1739.579917,
        },
        {
            "BLUE": 284.925432,
            "GREEN": 357.84876,
            "RED": 575.566823,
            "NIR_NARROW": 896.601013,
            "SWIR_1": 951.900334,
            "SWIR_2": 921.407808,
        },
    ),
}
"""Per geofm dataset, the means and stds (per canonical band) the peer's named module normalises with."""

NAMED_MODULES: dict[str, tuple[str, float]] = {
    "Sen1Floods11NonGeoDataModule": ("sen1floods11", 0.0001),
    "FireScarsNonGeoDataModule": ("hls_burn_scars", 1.0),
    "MultiTemporalCropClassificationDataModule": ("multi_temporal_crop", 1.0),
}
"""The peer's named data modules -> (geofm dataset, the peer's constant scale)."""


@dataclass
class Layout:
    """A publisher's layout recognised in a generic module's paths: the geofm dataset and its root."""

    dataset: str
    root: str
    options: dict[str, Any] = field(default_factory=dict)
    why: str = ""


def fill_path(value: Any, data_root: str | None) -> tuple[str, list[str]]:
    """``value`` with placeholders replaced by ``data_root`` (relative paths put under it); unfilled placeholders."""
    text = str(value)
    found = PLACEHOLDER.findall(text)
    if found and data_root is not None:
        text = PLACEHOLDER.sub(lambda _: str(data_root).rstrip("/"), text)
        found = []
    elif not found and data_root is not None and not os.path.isabs(text):
        text = str(Path(data_root) / text)
    return text, found


def _strip(path: str) -> str:
    return path.rstrip("/").rstrip(os.sep)


def _parent_if(path: str, *names: str) -> str | None:
    """The folder holding ``path`` when ``path`` ends with ``names`` (as path components), else ``None``."""
    parts = Path(_strip(path)).parts
    if len(parts) >= len(names) and tuple(parts[len(parts) - len(names) :]) == names:
        return str(Path(*parts[: len(parts) - len(names)])) if len(parts) > len(names) else "."
    return None


def _sen1floods11_root(image_root: str) -> str | None:
    tails = (
        ("v1.1", "data", "flood_events", "HandLabeled"),
        ("data", "flood_events", "HandLabeled"),
        ("flood_events", "HandLabeled"),
        ("HandLabeled",),
        (),
    )
    for modality in ("S2Hand", "S1Hand"):
        for tail in tails:
            root = _parent_if(image_root, *tail, modality)
            if root is not None:
                return root
    return None


def detect_layout(roots: Mapping[str, str | None], img_grep: str, label_grep: str) -> Layout | None:
    """The named dataset whose publisher's layout the generic module's ``roots`` and greps are, or ``None``.

    ``roots`` holds ``train`` / ``val`` / ``test`` image roots and ``*_label`` roots (placeholders filled).
    """
    train, val, test = (roots.get(s) for s in ("train", "val", "test"))
    if not train or not val or not test:
        return None
    label = roots.get("train_label") or train
    sen1floods11 = img_grep.endswith(("_S2Hand.tif", "_S1Hand.tif")) and label_grep.endswith("_LabelHand.tif")
    if sen1floods11 and _strip(train) == _strip(val) == _strip(test) and Path(_strip(label)).name == "LabelHand":
        root = _sen1floods11_root(train)
        if root is not None:
            modality = "s2" if img_grep.endswith("_S2Hand.tif") else "s1"
            return Layout("sen1floods11", root, {"modality": modality})
    if img_grep.endswith("_merged.tif") and label_grep.endswith(".mask.tif"):
        for dataset, (train_dir, val_dir) in {
            "hls_burn_scars": ("training", "validation"),
            "multi_temporal_crop": ("training_chips", "validation_chips"),
        }.items():
            root = _parent_if(train, train_dir)
            if root is None or _parent_if(val, val_dir) != root or _parent_if(test, val_dir) != root:
                continue
            labels = [roots.get(f"{s}_label") for s in ("train", "val", "test")]
            if all(
                lbl is None or _strip(lbl) == _strip(img) for lbl, img in zip(labels, (train, val, test), strict=True)
            ):
                return Layout(dataset, root)
    return None


def list_ids(path: str | Path, strip: Sequence[str] = ()) -> list[str] | None:
    """Sample ids of a split list (first comma-separated field, known suffixes stripped), ``None`` if unreadable."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    ids = []
    for line in lines:
        text = line.split("#", 1)[0].split(",", 1)[0].strip().strip('"')
        if not text:
            continue
        name = Path(text).name
        for suffix in strip:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        ids.append(name)
    return ids


def same_ids(first: Sequence[str] | None, second: Sequence[str] | None) -> bool:
    """Whether two id lists hold the same ids (order aside); unreadable lists are never the same."""
    return first is not None and second is not None and sorted(set(first)) == sorted(set(second))
