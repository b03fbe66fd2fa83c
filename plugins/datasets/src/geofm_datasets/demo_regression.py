"""The ``demo_regression`` dataset: generated scenes with a vegetation-cover target, deterministic and cached.

The images are the demo's land-cover scenes (:mod:`geofm_datasets.scenes`: six HLS bands, int16
reflectance x 10000, nodata -9999). The target is the fractional vegetation cover (0-1) of the
surroundings of each pixel: the per-pixel cover from the scene's NDVI (0 at bare soil, 1 at dense
vegetation), averaged over a ~150 m Gaussian neighbourhood, plus measurement noise. Targets are float32
GeoTIFFs with nodata -9999 where the image has no data, in patches without reference data (every third
scene) and NaN at scattered bad pixels (every fifth), so a model needs spatial context and the data
exercises nodata masking. Files go to a temporary folder renamed into place, with a version marker
written last.
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
from geofm_datasets.scenes import NODATA, _smooth, add_nodata, make_scene

__all__ = ["DEMO_REGRESSION_VERSION", "build_demo_regression", "demo_regression_root", "generate_demo_regression"]

DEMO_REGRESSION_VERSION = "1"
"""Bump when the generator changes: caches with another version are regenerated."""

SEED = 20240502
MARKER = ".geofm-demo-regression.json"
FILE_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
TARGET_NODATA = -9999.0
NDVI_SOIL, NDVI_VEGETATION = 0.2, 0.75
_PIXEL = 30.0


def demo_regression_root(data_root: str | Path | None = None) -> Path:
    """``data_root``, else ``$GEOFM_CACHE/datasets/demo_regression`` (default ``~/.cache/geofm/...``)."""
    if data_root is not None:
        return Path(data_root).expanduser()
    cache = os.environ.get("GEOFM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "geofm")
    return Path(cache) / "datasets" / "demo_regression"


def _params(num_scenes: int, size: int) -> dict[str, Any]:
    return {"version": DEMO_REGRESSION_VERSION, "seed": SEED, "num_scenes": num_scenes, "size": size}


def _is_current(root: Path, params: dict[str, Any]) -> bool:
    try:
        return json.loads((root / MARKER).read_text()) == params
    except (OSError, ValueError):
        return False


def vegetation_cover(image: np.ndarray, rng: np.random.Generator, *, sigma: float = 1.5) -> np.ndarray:
    """Fractional vegetation cover (float32 (H, W), 0-1) of an int16 HLS image's neighbourhood, with noise."""
    red, nir = image[2].astype(np.float64), image[3].astype(np.float64)
    ndvi = (nir - red) / np.maximum(nir + red, 1.0)
    cover = np.clip((ndvi - NDVI_SOIL) / (NDVI_VEGETATION - NDVI_SOIL), 0.0, 1.0)
    cover = _smooth(cover, sigma) + rng.normal(0.0, 0.03, cover.shape)
    return np.clip(cover, 0.0, 1.0).astype(np.float32)


def _target_gaps(rng: np.random.Generator, index: int, target: np.ndarray) -> None:
    """No reference data in a disc (every third scene, nodata) and at scattered bad pixels (every fifth, NaN)."""
    size = target.shape[0]
    if index % 3 == 0:
        rows, cols = np.mgrid[0:size, 0:size]
        row, col = rng.uniform(0, size, 2)
        target[(rows - row) ** 2 + (cols - col) ** 2 < (rng.uniform(0.1, 0.25) * size) ** 2] = TARGET_NODATA
    if index % 5 == 3:
        target[rng.random(target.shape) < 0.01] = np.nan


def _write_scene(folder: Path, index: int, rng: np.random.Generator, size: int) -> str:
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS

    image, labels = make_scene(rng, size)
    target = vegetation_cover(image, rng)
    add_nodata(rng, index, image, labels)
    target[(image == NODATA).any(axis=0)] = TARGET_NODATA
    _target_gaps(rng, index, target)
    when = datetime(2020, 3, 1, 10, tzinfo=timezone.utc) + timedelta(days=int(rng.integers(0, 3 * 365)))
    east = float(np.round(rng.uniform(300_000, 700_000) / _PIXEL) * _PIXEL)
    north = float(np.round(rng.uniform(4_650_000, 6_000_000) / _PIXEL) * _PIXEL)
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "crs": CRS.from_epsg(32633),
        "transform": Affine(_PIXEL, 0.0, east, 0.0, -_PIXEL, north),
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
    }
    scene_id = f"demo_regression_{index:03d}_{when:%Y%m%d}"
    with rasterio.open(
        folder / "images" / f"{scene_id}.tif", "w", count=6, dtype="int16", nodata=NODATA, **profile
    ) as dst:
        dst.write(image)
        dst.descriptions = FILE_BANDS
        dst.update_tags(ACQUISITION_DATE=when.strftime("%Y-%m-%dT%H:%M:%SZ"), UNITS="reflectance x 10000")
    with rasterio.open(
        folder / "targets" / f"{scene_id}_target.tif", "w", count=1, dtype="float32", nodata=TARGET_NODATA, **profile
    ) as dst:
        dst.write(target, 1)
        dst.descriptions = ("vegetation_cover",)
        dst.update_tags(UNITS="fraction of area (0-1)")
    return scene_id


def _generate_into(folder: Path, num_scenes: int, size: int) -> None:
    from geofm.data import compute_band_stats

    for name in ("images", "targets", "splits"):
        (folder / name).mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    ids = [_write_scene(folder, i, rng, size) for i in range(num_scenes)]
    held = max(1, num_scenes // 6)
    splits = {"train": ids[: -2 * held], "val": ids[-2 * held : -held], "test": ids[-held:]}
    for split, names in splits.items():
        (folder / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
    stats = compute_band_stats([folder / "images" / f"{i}.tif" for i in splits["train"]], max_files=None)
    (folder / "stats.json").write_text(json.dumps({"bands": list(FILE_BANDS), **stats.to_dict()}, indent=1) + "\n")
    (folder / MARKER).write_text(json.dumps(_params(num_scenes, size)))


def generate_demo_regression(
    data_root: str | Path | None = None, *, num_scenes: int = 48, size: int = 128, force: bool = False
) -> Path:
    """Generate the regression demo under ``data_root`` (see :func:`demo_regression_root`) unless current.

    Deterministic: the same parameters give the same files. A folder that exists, is not empty and is
    not a regression demo cache is never touched (:class:`DataError`).
    """
    root = demo_regression_root(data_root)
    params = _params(int(num_scenes), int(size))
    if not force and _is_current(root, params):
        return root
    if size < 32 or num_scenes < 3:
        raise DataError(f"the regression demo needs at least 3 scenes of 32 pixels; got {num_scenes} of {size}")
    if root.exists() and not (root / MARKER).exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not a geofm regression demo folder; give an empty or new --data-root")
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


def _saved_stats(root: Path, indexes: Sequence[int]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    try:
        doc = json.loads((root / "stats.json").read_text())
    except (OSError, ValueError):
        return None
    return tuple(doc["mean"][i - 1] for i in indexes), tuple(doc["std"][i - 1] for i in indexes)


def build_demo_regression(
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
    target_offset: float | str = "auto",
    target_scale: float | str = "auto",
    scale: float = 1.0,
    flips: bool | str = True,
    cache: bool | str = False,
    pin_memory: bool | str = False,
    eval_full_tiles: bool | str = False,
    **options: Any,
) -> Any:
    """The regression demo's data module (generating the files first when missing or stale).

    Targets are standardised by default (``target_offset`` / ``target_scale`` = ``"auto"``: the training
    targets' mean and std), so the metrics are in standard deviations of the training cover; give
    ``target_offset=0`` and ``target_scale=1`` for cover fractions.
    """
    from geofm.data import select_bands
    from geofm_datasets.regression import build_geotiff_regression
    from geofm_datasets.regression_specs import DEMO_REGRESSION_SPEC
    from geofm_datasets.segmentation import _as_bool, _as_list, registered_spec

    if options:
        known = ", ".join(sorted(DEMO_REGRESSION_SPEC.options))
        raise ConfigError(f"unknown option(s) {', '.join(sorted(options))} for demo_regression; known: {known}")
    root = generate_demo_regression(
        data_root, num_scenes=num_scenes, size=size, force=_as_bool(regenerate, "regenerate")
    )
    spec = registered_spec(DEMO_REGRESSION_SPEC)
    wanted = _as_list(bands)
    if mean is None and std is None and float(scale) == 1.0:
        selection = select_bands(spec.bands, wanted, sensor=spec.sensor, source="dataset demo_regression")
        saved = _saved_stats(root, selection.indexes)
        if saved is not None:
            mean, std = saved
    return build_geotiff_regression(
        data_root=root,
        bands=wanted,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        mean=mean,
        std=std,
        crop_size=crop_size,
        images="images",
        targets="targets",
        split_files="splits",
        file_bands=spec.bands,
        sensor=spec.sensor,
        target_nodata=TARGET_NODATA,
        target_suffix="_target",
        target_offset=target_offset,
        target_scale=target_scale,
        scale=scale,
        flips=flips,
        cache=cache,
        pin_memory=pin_memory,
        eval_full_tiles=eval_full_tiles,
        spec=spec,
    )
