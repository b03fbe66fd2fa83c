"""Where a named dataset lives on disk, and the one clear error when it is not there."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from geofm.errors import DataError
from geofm.specs import DatasetSpec

__all__ = ["dataset_root", "missing_dataset_error", "require_paths"]


def dataset_root(spec: DatasetSpec, data_root: str | os.PathLike[str] | None) -> Path:
    """``--data-root`` when given, else ``$GEOFM_CACHE/datasets/<name>`` (where ``geofm data download`` puts it)."""
    if data_root is not None:
        return Path(data_root).expanduser()
    cache = Path(os.environ.get("GEOFM_CACHE", Path.home() / ".cache" / "geofm")).expanduser()
    return cache / "datasets" / spec.name


def missing_dataset_error(spec: DatasetSpec, root: Path, missing: Sequence[str]) -> DataError:
    """An error naming the dataset, what is missing under ``root``, the expected layout and where to get it."""
    lines = [f"dataset {spec.name} is not at {root}: missing {', '.join(missing)}"]
    if spec.layout:
        lines.append(f"expected layout under --data-root: {spec.layout}")
    if spec.hub_repo:
        lines.append(f"fetch it with: geofm data download {spec.name} --data-root {root}")
    if spec.download:
        lines.append(f"download: {spec.download}")
    elif spec.homepage:
        lines.append(f"see: {spec.homepage}")
    return DataError("\n  ".join(lines))


def require_paths(spec: DatasetSpec, root: Path, relative: Sequence[str]) -> Path:
    """Return ``root`` if every path in ``relative`` exists under it; else raise :func:`missing_dataset_error`."""
    missing = [item for item in relative if not (root / item).exists()]
    if missing:
        raise missing_dataset_error(spec, root, missing)
    return root
