"""What the generated datasets (``demo``, ``demo_regression``) share: generate once, cache, regenerate when stale.

A generator writes its files into a temporary folder beside the dataset's root, which is renamed into
place with a marker (the generation parameters, as JSON) written last, so an interrupted or concurrent
generation never leaves a half-written cache and a changed generator (another version in the marker)
regenerates. The scenes are six-band HLS GeoTIFFs (int16 reflectance x 10000) on a 30 m UTM grid, split
train / val / test with the training scenes' band statistics saved in ``stats.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import DataError
from geofm.specs import DatasetSpec
from geofm_datasets.options import as_bool, as_list, registered_spec, unknown_options
from geofm_datasets.scenes import NODATA

__all__ = [
    "FILE_BANDS",
    "SceneGenerator",
    "build_generated",
    "default_stats",
    "generate_once",
    "is_current",
    "saved_stats",
    "scene_profile",
    "split_counts",
    "write_image",
    "write_splits_and_stats",
]

FILE_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
"""The bands of a generated image, in file order (HLS S30: BLUE ... SWIR_2)."""

_PIXEL = 30.0


def is_current(root: Path, marker: str, params: dict[str, Any]) -> bool:
    """Whether ``root`` holds a finished generation with ``params`` (its ``marker`` file says so)."""
    try:
        return json.loads((root / marker).read_text()) == params
    except (OSError, ValueError):
        return False


def generate_once(
    root: Path,
    *,
    marker: str,
    params: dict[str, Any],
    write: Callable[[Path], None],
    force: bool = False,
    what: str,
) -> Path:
    """Run ``write(folder)`` into a fresh folder renamed to ``root``, unless ``root`` is current; return ``root``.

    The ``marker`` file (``params`` as JSON) is written last. A ``root`` that exists, is not empty and
    has no marker is not a cache of ``what`` and is never touched (:class:`DataError`). When another
    process finishes first, its files are kept.
    """
    if not force and is_current(root, marker, params):
        return root
    if root.exists() and not (root / marker).exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not a {what} folder; give an empty or new --data-root for it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    old = root.parent / f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(tmp)
        (tmp / marker).write_text(json.dumps(params))
        if root.exists():
            if not force and is_current(root, marker, params):  # another process finished first
                return root
            os.rename(root, old)
        try:
            os.rename(tmp, root)
        except OSError:
            if is_current(root, marker, params):  # a concurrent generation won the race
                return root
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return root


@dataclass(frozen=True)
class SceneGenerator:
    """How a generated dataset writes its scenes, one random stream seeded by ``seed`` through them in order.

    ``write_scene(folder, index, rng, size)`` writes one scene (its image into ``images/``) and returns
    its id; ``folders`` are made first. ``marker`` names the cache's marker file and ``what`` the dataset
    in errors.
    """

    what: str
    marker: str
    seed: int
    folders: tuple[str, ...]
    write_scene: Callable[[Path, int, np.random.Generator, int], str]

    def generate(self, root: Path, *, version: str, num_scenes: int, size: int, force: bool = False) -> Path:
        """:func:`generate_once` of ``num_scenes`` scenes of ``size`` pixels a side, with splits and statistics.

        The files depend only on ``version``, the seed, ``num_scenes`` and ``size`` (the marker's
        parameters). Fewer than 3 scenes or fewer than 32 pixels a side raise :class:`DataError`.
        """
        num_scenes, size = int(num_scenes), int(size)
        if size < 32 or num_scenes < 3:
            raise DataError(f"the {self.what} needs at least 3 scenes of 32 pixels a side; got {num_scenes} of {size}")

        def write(folder: Path) -> None:
            for name in self.folders:
                (folder / name).mkdir(parents=True)
            rng = np.random.default_rng(self.seed)
            write_splits_and_stats(folder, [self.write_scene(folder, i, rng, size) for i in range(num_scenes)])

        params = {"version": version, "seed": self.seed, "num_scenes": num_scenes, "size": size}
        return generate_once(root, marker=self.marker, params=params, write=write, force=force, what=self.what)


def split_counts(num_scenes: int) -> tuple[int, int, int]:
    """Scenes for train, val and test: a sixth (at least one) each for val and test, the rest train."""
    held = max(1, num_scenes // 6)
    if num_scenes < 3:
        raise DataError(f"a generated dataset needs at least 3 scenes (train, val, test); num_scenes={num_scenes}")
    return num_scenes - 2 * held, held, held


def scene_profile(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """The rasterio profile of a ``size`` x ``size`` scene at a random place in UTM zone 33N (30 m pixels)."""
    from affine import Affine
    from rasterio.crs import CRS

    east = float(np.round(rng.uniform(300_000, 700_000) / _PIXEL) * _PIXEL)
    north = float(np.round(rng.uniform(4_650_000, 6_000_000) / _PIXEL) * _PIXEL)
    return {
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


def write_image(path: Path, image: np.ndarray, profile: dict[str, Any], **tags: str) -> None:
    """Write a six-band int16 scene (nodata -9999) with its bands named :data:`FILE_BANDS` and ``tags``."""
    import rasterio

    with rasterio.open(path, "w", count=len(FILE_BANDS), dtype="int16", nodata=NODATA, **profile) as dst:
        dst.write(image)
        dst.descriptions = FILE_BANDS
        dst.update_tags(**tags)


def write_splits_and_stats(folder: Path, ids: Sequence[str]) -> None:
    """``splits/{train,val,test}.txt`` of ``ids`` (in :func:`split_counts` order) and the training ``stats.json``."""
    from geofm.data import compute_band_stats

    n_train, n_val, _ = split_counts(len(ids))
    splits = {"train": ids[:n_train], "val": ids[n_train : n_train + n_val], "test": ids[n_train + n_val :]}
    (folder / "splits").mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        (folder / "splits" / f"{split}.txt").write_text("\n".join(names) + "\n")
    stats = compute_band_stats([folder / "images" / f"{i}.tif" for i in splits["train"]], max_files=None)
    (folder / "stats.json").write_text(json.dumps({"bands": list(FILE_BANDS), **stats.to_dict()}, indent=1) + "\n")


def saved_stats(root: Path, indexes: Sequence[int]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Mean and std of the 1-based bands ``indexes`` from ``root/stats.json`` (``None`` when unreadable)."""
    try:
        doc = json.loads((root / "stats.json").read_text())
    except (OSError, ValueError):
        return None
    return tuple(doc["mean"][i - 1] for i in indexes), tuple(doc["std"][i - 1] for i in indexes)


def default_stats(
    root: Path,
    spec: DatasetSpec,
    bands: Sequence[str] | None,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    scale: float,
) -> tuple[Sequence[float] | None, Sequence[float] | None]:
    """``mean``/``std`` as given, or, when neither is given at ``scale`` 1, the saved ones of ``bands``."""
    if mean is None and std is None and float(scale) == 1.0:
        from geofm.data import select_bands

        selection = select_bands(spec.bands, bands, sensor=spec.sensor, source=f"dataset {spec.name}")
        saved = saved_stats(root, selection.indexes)
        if saved is not None:
            return saved
    return mean, std


def build_generated(
    default_spec: DatasetSpec,
    generate: Callable[..., Path],
    build: Callable[..., Any],
    fixed: Mapping[str, Any],
    /,
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
    """The data module of a generated dataset: ``generate`` its files (when missing or stale), then ``build``.

    ``generate(data_root, num_scenes=, size=, force=)`` returns the dataset's folder of ``images/``,
    ``splits/`` and ``stats.json``; ``build`` is the generic factory that reads it, given ``fixed`` (the
    dataset's labels or targets) besides these keywords. ``mean``/``std`` default to the statistics of
    the training scenes saved at generation. Options ``default_spec`` does not list are refused.
    """
    unknown_options(default_spec, options)
    root = generate(data_root, num_scenes=num_scenes, size=size, force=as_bool(regenerate, "regenerate"))
    spec = registered_spec(default_spec)
    wanted = as_list(bands)
    mean, std = default_stats(root, spec, wanted, mean, std, scale)
    return build(
        data_root=root,
        bands=wanted,
        batch_size=batch_size,
        num_workers=num_workers,
        seed=seed,
        mean=mean,
        std=std,
        crop_size=crop_size,
        images="images",
        split_files="splits",
        file_bands=spec.bands,
        sensor=spec.sensor,
        scale=scale,
        flips=flips,
        cache=cache,
        pin_memory=pin_memory,
        eval_full_tiles=eval_full_tiles,
        spec=spec,
        **fixed,
    )
