"""Where the images and labels of generic classification data are: a folder per class, a CSV, split lists.

Each layout gives :class:`ClassificationSample` s (ids are image paths without the suffix, relative to
the layout's folder), the class names in index order, and the split lists the layout itself carries
(``train/``, ``val/``, ``test/`` folders, or a CSV ``split`` column).
"""

from __future__ import annotations

import csv
import difflib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from geofm.data import RASTER_SUFFIXES
from geofm.errors import ConfigError, DataError
from geofm_datasets.classification.dataset import ClassificationSample
from geofm_datasets.options import SPLITS, split_paths
from geofm_datasets.splits import assign_splits, check_fractions, read_entries

__all__ = ["csv_layout", "folder_layout", "read_id_list", "split_lists", "split_samples"]

log = logging.getLogger(__name__)

_PATH_COLUMNS = ("path", "image", "file", "filename", "filepath", "image_path")
_LABEL_COLUMNS = ("label", "labels", "class", "classes", "target")
_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}


_SPLIT_LIST_HINT = "give one text or CSV file of ids per split"


def _strip_raster_suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in RASTER_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_id_list(path: str | Path) -> list[str]:
    """The ids in a split list: the first comma-separated field of each line, without a raster suffix.

    Blank lines and ``#`` comments are skipped, so text files and the one- or two-column CSV lists
    that publishers distribute both work.
    """
    fields = [text.split(",", 1)[0].strip() for text in read_entries(path, hint=_SPLIT_LIST_HINT)]
    return [_strip_raster_suffix(field.replace("\\", "/").rstrip("/")) for field in fields if field]


def split_samples(
    samples: Sequence[ClassificationSample],
    *,
    lists: Mapping[str, Sequence[str]] | None = None,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> dict[str, list[ClassificationSample]]:
    """Samples per split: the ids in ``lists`` where given (by id or unique file name), else a seeded shuffle.

    With a ``train`` list, validation (when not listed) takes ``val_fraction`` of it and images in no
    list are left out; without one, the images in no list are shuffled into test, val and train.
    Ids matching no image raise :class:`DataError`.
    """
    check_fractions(val_fraction, test_fraction)
    by_id = {s.id: s for s in samples}
    names: dict[str, list[ClassificationSample]] = {}
    for s in samples:
        names.setdefault(s.id.rsplit("/", 1)[-1], []).append(s)
    result: dict[str, list[ClassificationSample]] = {}
    for split, ids in (lists or {}).items():
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r} in split_files; use {', '.join(SPLITS)}")
        chosen, missing = [], []
        for item in ids:
            found = by_id.get(item) or (names[item][0] if len(names.get(item, ())) == 1 else None)
            (chosen if found is not None else missing).append(found or item)
        if missing:
            raise DataError(
                f"the {split} list names {len(missing)} image(s) the dataset does not have, e.g. "
                f"{', '.join(map(str, missing[:5]))}; ids are image paths or names without the suffix"
            )
        result[split] = chosen
    return assign_splits(samples, result, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)


def _rasters(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)


def _class_folders(folder: Path) -> dict[str, list[Path]]:
    return {
        d.name: files
        for d in sorted(folder.iterdir())
        if d.is_dir() and not d.name.startswith(".") and (files := _rasters(d))
    }


def folder_layout(
    folder: Path, classes: list[str] | None
) -> tuple[list[ClassificationSample], list[str], dict[str, list[str]]]:
    """Samples of ``<folder>/<class>/*.tif`` (or ``<folder>/{train,val,test}/<class>/*.tif``)."""
    split_dirs = {s: folder / s for s in SPLITS if (folder / s).is_dir() and _class_folders(folder / s)}
    by_split = {s: _class_folders(d) for s, d in split_dirs.items()} or {"": _class_folders(folder)}
    found = sorted({name for groups in by_split.values() for name in groups})
    names = classes or found
    unknown = [name for name in found if name not in names]
    if unknown:
        log.warning("class folders %s are not among the classes %s: ignored", unknown, names)
    samples, lists = [], {}
    for split, groups in by_split.items():
        ids = []
        for name, files in groups.items():
            if name not in names:
                continue
            for path in files:
                prefix = f"{split}/" if split else ""
                sample = ClassificationSample(
                    f"{prefix}{name}/{_strip_raster_suffix(path.name)}", (path,), (names.index(name),)
                )
                samples.append(sample)
                ids.append(sample.id)
        if split:
            lists[split] = ids
    return samples, list(names), lists


def _class_index(token: str, classes: list[str] | None, where: str) -> int | str:
    if classes is None:
        return int(token) if token.lstrip("-").isdigit() else token
    if token in classes:
        return classes.index(token)
    if token.isdigit() and int(token) < len(classes):
        return int(token)
    close = difflib.get_close_matches(token, classes, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise DataError(f"{where}: label {token!r} is not one of the classes {', '.join(classes)}.{hint}")


def csv_layout(
    path: Path, root: Path | None, classes: list[str] | None, num_classes: int | None, separator: str, multilabel: bool
) -> tuple[list[ClassificationSample], list[str], dict[str, list[str]]]:
    """Samples of a CSV: ``path,label[,split]`` (labels joined by ``separator``) or ``path,<class>...`` (0/1)."""
    if not path.is_file():
        raise DataError(f"CSV {path} does not exist; give csv= relative to --data-root, or an absolute path")
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"CSV {path} is empty; it needs a header path,label and one row per image")
    header = [cell.strip().lower() for cell in rows[0]]
    if header[0] in _PATH_COLUMNS:
        raw_header, rows = [cell.strip() for cell in rows[0]], rows[1:]
    else:  # no header: path,label[,split]
        raw_header = ["path", "label", "split"][: len(rows[0])]
        header = raw_header
    split_col = header.index("split") if "split" in header else None
    label_col = next((header.index(c) for c in _LABEL_COLUMNS if c in header), None)
    hot_cols = [i for i in range(1, len(header)) if i not in (split_col, label_col)] if label_col is None else []
    if label_col is None and not hot_cols:
        raise DataError(f"CSV {path} has no label column: give a header path,label or path,<class 1>,<class 2>,...")
    if hot_cols and not multilabel:
        raise DataError(f"CSV {path} has multi-hot class columns: use the geotiff_multilabel dataset")
    names = [raw_header[i] for i in hot_cols] if hot_cols else classes
    entries: list[tuple[str, Path, list[int | str], str]] = []
    for number, row in enumerate(rows, start=2):
        where = f"{path} line {number}"
        cell = row[0].strip()
        file = next((p for p in (path.parent / cell, (root or path.parent) / cell) if p.is_file()), None)
        if file is None:
            raise DataError(f"{where}: image {cell} does not exist (paths are relative to the CSV's folder)")
        if hot_cols:
            labels: list[int | str] = [k for k, i in enumerate(hot_cols) if i < len(row) and _truthy(row[i])]
        else:
            text = row[label_col].strip() if label_col < len(row) else ""
            if not multilabel and separator in text:
                raise DataError(
                    f"{where}: {text!r} holds several labels but the dataset is multi-class; "
                    "use the geotiff_multilabel dataset for several labels per image"
                )
            tokens = [t.strip() for t in text.split(separator) if t.strip()] if multilabel else [text]
            labels = [_class_index(t, names, where) for t in tokens if t]
            if not multilabel and not labels:
                raise DataError(f"{where}: image {cell} has no label; every image needs its class")
        split = (
            _SPLIT_NAMES.get(row[split_col].strip().lower(), "")
            if split_col is not None and split_col < len(row)
            else ""
        )
        entries.append((_strip_raster_suffix(cell.replace("\\", "/")), file, labels, split))
    if names is None:  # names from the labels: integer indices, else sorted names
        tokens = {t for _, _, labels, _ in entries for t in labels}
        if all(isinstance(t, int) for t in tokens):
            count = int(num_classes) if num_classes is not None else max(tokens, default=-1) + 1
            names = [f"class_{i}" for i in range(count)]
        else:
            names = sorted(str(t) for t in tokens)
            entries = [(i, f, [names.index(str(t)) for t in labels], s) for i, f, labels, s in entries]
    samples = [ClassificationSample(i, (f,), tuple(int(t) for t in labels)) for i, f, labels, _ in entries]
    lists: dict[str, list[str]] = {}
    for sample_id, _, _, split in entries:
        if split:
            lists.setdefault(split, []).append(sample_id)
    return samples, names, lists


def _truthy(cell: str) -> bool:
    text = cell.strip().lower()
    return text in {"true", "yes"} or (text.replace(".", "", 1).isdigit() and float(text) > 0.5)


def split_lists(root: Path | None, value: Any) -> dict[str, list[str]]:
    """The id lists per split that ``split_files`` names (relative paths under ``root``).

    ``split_files`` is a mapping split -> file, a folder of ``<split>.txt`` / ``<split>.csv``, or
    ``None``: ``<root>/splits/<split>.txt`` where present.
    """
    found = split_paths(root, value, suffixes=(".txt", ".csv")) or {}
    return {split: read_id_list(path) for split, path in found.items()}
