"""Where a named dataset lives on disk, and the one clear error when it is not there."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from geofm.data.download import dataset_dir, source_lines
from geofm.errors import DataError
from geofm.specs import DatasetSpec

__all__ = ["dataset_root", "missing_dataset_error", "require_paths"]


def dataset_root(spec: DatasetSpec, data_root: str | os.PathLike[str] | None) -> Path:
    """``--data-root`` when given, else ``$GEOFM_CACHE/datasets/<name>`` (where ``geofm data download`` puts it)."""
    return dataset_dir(spec, data_root)


def missing_dataset_error(spec: DatasetSpec, root: Path, missing: Sequence[str]) -> DataError:
    """An error naming the dataset, what is missing under ``root``, the expected layout and where to get it."""
    lines = [f"dataset {spec.name} is not at {root}: missing {', '.join(missing)}", *source_lines(spec, root)]
    return DataError("\n  ".join(lines))


def require_paths(spec: DatasetSpec, root: Path, relative: Sequence[str]) -> Path:
    """Return ``root`` if every path in ``relative`` exists under it; else raise :func:`missing_dataset_error`."""
    missing = [item for item in relative if not (root / item).exists()]
    if missing:
        raise missing_dataset_error(spec, root, missing)
    return root
