"""The ``demo`` dataset: generated land-cover GeoTIFFs, deterministic, cached after the first run.

Scenes (:mod:`geofm_datasets.scenes`) are written as int16 reflectance x 10000 GeoTIFFs in the six HLS
bands (nodata -9999) with uint8 label GeoTIFFs (255 = nodata), in EPSG:32633 with a 30 m transform at
different places and dates (in the tags and the file names). The files go to a temporary folder that
is renamed into place, with a version marker written last, so an interrupted or concurrent generation
never leaves a half-written cache and a changed generator regenerates.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import ConfigError, DataError
from geofm_datasets.scenes import CLASSES, LABEL_NODATA, NODATA, add_nodata, make_scene

__all__ = ["DEMO_VERSION", "build_demo", "demo_root", "generate_demo"]

DEMO_VERSION = "1"
"""Bump when the generator changes: caches with another version are regenerated."""

DEMO_SEED = 20240501
MARKER = ".geofm-demo.json"
FILE_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
_PIXEL = 30.0


def demo_root(data_root: str | Path | None = None) -> Path:
    """Where the demo lives: ``data_root``, else ``$GEOFM_CACHE/datasets/demo`` (``~/.cache/geofm/...``)."""
    if data_root is not None:
        return Path(data_root).expanduser()
    cache = os.environ.get("GEOFM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "geofm")
    return Path(cache) / "datasets" / "demo"


def _params(num_scenes: int, size: int) -> dict[str, Any]:
    return {"version": DEMO_VERSION, "seed": DEMO_SEED, "num_scenes": num_scenes, "size": size}


def _is_current(root: Path, params: dict[str, Any]) -> bool:
    try:
        return json.loads((root / MARKER).read_text()) == params
    except (OSError, ValueError):
        return False


def _split_counts(num_scenes: int) -> tuple[int, int, int]:
    held = max(1, num_scenes // 6)
    if num_scenes < 3:
        raise DataError(f"the demo needs at least 3 scenes (train, val, test); num_scenes={num_scenes}")
    return num_scenes - 2 * held, held, held


def _write_scene(folder: Path, index: int, rng: np.random.Generator, size: int) -> str:
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    image, labels = make_scene(rng, size)
    add_nodata(rng, index, image, labels)
    when = datetime(2019, 1, 1, 10, tzinfo=timezone.utc) + timedelta(
        days=int(rng.integers(0, 4 * 365)), seconds=int(rng.integers(0, 3600))
    )
    east = float(np.round(rng.uniform(300_000, 700_000) / _PIXEL) * _PIXEL)
    north = float(np.round(rng.uniform(4_650_000, 6_000_000) / _PIXEL) * _PIXEL)
    transform = Affine(_PIXEL, 0.0, east, 0.0, -_PIXEL, north)
    crs = CRS.from_epsg(32633)
    scene_id = f"demo_{index:03d}_{when:%Y%m%d}"
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "crs": crs,
        "transform": transform,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
    }
    with rasterio.open(
        folder / "images" / f"{scene_id}.tif", "w", count=6, dtype="int16", nodata=NODATA, **profile
    ) as dst:
        dst.write(image)
        dst.descriptions = FILE_BANDS
        dst.update_tags(
            TIFFTAG_DATETIME=f"{when:%Y:%m:%d %H:%M:%S}",
            ACQUISITION_DATE=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            SENSOR="synthetic HLS S30",
            UNITS="reflectance x 10000",
        )
    label_path = folder / "labels" / f"{scene_id}_mask.tif"
    with rasterio.open(label_path, "w", count=1, dtype="uint8", nodata=LABEL_NODATA, **profile) as dst:
        dst.write(labels, 1)
        dst.update_tags(CLASSES=",".join(CLASSES))
    return scene_id


def _generate_into(folder: Path, num_scenes: int, size: int) -> None:
    from geofm.data import compute_band_stats

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder / "splits").mkdir()
    rng = np.random.default_rng(DEMO_SEED)
    ids = [_write_scene(folder, i, rng, size) for i in range(num_scenes)]
    n_train, n_val, _ = _split_counts(num_scenes)
    splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
    for split, names in splits.items():
        (folder / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
    stats = compute_band_stats([folder / "images" / f"{i}.tif" for i in splits["train"]], max_files=None)
    stats_doc = {"bands": list(FILE_BANDS), **stats.to_dict()}
    (folder / "stats.json").write_text(json.dumps(stats_doc, indent=1) + "\n")
    (folder / MARKER).write_text(json.dumps(_params(num_scenes, size)))


def generate_demo(
    data_root: str | Path | None = None, *, num_scenes: int = 48, size: int = 128, force: bool = False
) -> Path:
    """Generate the demo dataset under ``data_root`` (see :func:`demo_root`) unless it is current; return it.

    Deterministic: the same parameters give the same files. A folder that exists, is not empty and is
    not a demo cache is never touched (:class:`DataError`).
    """
    root = demo_root(data_root)
    params = _params(int(num_scenes), int(size))
    if not force and _is_current(root, params):
        return root
    if size < 32:
        raise DataError(f"demo scenes need at least 32 pixels a side; size={size}")
    if root.exists() and not (root / MARKER).exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not a geofm demo folder; give an empty or new --data-root for the demo")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    old = root.parent / f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _generate_into(tmp, int(num_scenes), int(size))
        if root.exists():
            if not force and _is_current(root, params):  # another process finished first
                return root
            os.rename(root, old)
        try:
            os.rename(tmp, root)
        except OSError:
            if _is_current(root, params):  # a concurrent generation won the race
                return root
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return root


def _stats_for(root: Path, indexes: Sequence[int]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    try:
        doc = json.loads((root / "stats.json").read_text())
    except (OSError, ValueError):
        return None
    return tuple(doc["mean"][i - 1] for i in indexes), tuple(doc["std"][i - 1] for i in indexes)


def build_demo(
    *,
    data_root: str | Path | None = None,
    bands: Sequence[str] | None = None,
    batch_size: int = 8,
    num_workers: int = 0,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    crop_size: int | None = None,
    num_scenes: int = 48,
    size: int = 128,
    regenerate: bool | str = False,
    scale: float = 1.0,
    flips: bool | str = True,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    eval_full_tiles: bool | str = False,
    **options: Any,
) -> Any:
    """The demo's data module (generating the files first when they are missing or stale).

    ``mean``/``std`` default to the statistics of the training scenes saved at generation.
    """
    from geofm.data import select_bands
    from geofm_datasets.plugin import DEMO_SPEC
    from geofm_datasets.segmentation import _as_bool, _as_list, build_geotiff_segmentation, registered_spec

    if options:
        known = ", ".join(sorted(DEMO_SPEC.options))
        raise ConfigError(f"unknown option(s) {', '.join(sorted(options))} for the demo dataset; known: {known}")
    root = generate_demo(data_root, num_scenes=num_scenes, size=size, force=_as_bool(regenerate, "regenerate"))
    spec = registered_spec(DEMO_SPEC)
    wanted = _as_list(bands)
    if mean is None and std is None and float(scale) == 1.0:
        selection = select_bands(spec.bands, wanted, sensor=spec.sensor, source="dataset demo")
        saved = _stats_for(root, selection.indexes)
        if saved is not None:
            mean, std = saved
    return build_geotiff_segmentation(
        data_root=root,
        bands=wanted,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        mean=mean,
        std=std,
        crop_size=crop_size,
        images="images",
        labels="labels",
        split_files="splits",
        file_bands=spec.bands,
        sensor=spec.sensor,
        classes=spec.classes,
        ignore_index=spec.ignore_index if spec.ignore_index is not None else LABEL_NODATA,
        label_nodata=LABEL_NODATA,
        label_suffix="_mask",
        scale=scale,
        flips=flips,
        cache=cache,
        pin_memory=pin_memory,
        eval_full_tiles=eval_full_tiles,
        spec=spec,
    )
