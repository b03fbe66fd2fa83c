"""What the generated datasets (``demo``, ``demo_regression``) share: the scenes, their splits and statistics.

Scenes are generated once into a cache and regenerated when stale (:mod:`geofm.data.generated`). The
scenes are six-band HLS GeoTIFFs (int16 reflectance x 10000) on a 30 m UTM grid, split train / val / test
with the training scenes' band statistics saved in ``stats.json``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data.factory import DatasetOptions
from geofm.data.generated import generate_once, split_counts
from geofm.errors import DataError
from geofm.specs import DatasetSpec
from geofm_datasets.options import as_bool, loading_keywords, takes_keywords_of, unknown_options
from geofm_datasets.scenes import NODATA
from geofm_datasets.spec_options import HLS_BANDS

__all__ = [
    "FILE_BANDS",
    "SceneGenerator",
    "build_generated",
    "default_stats",
    "saved_stats",
    "scene_profile",
    "write_band",
    "write_image",
    "write_scene_image",
    "write_splits_and_stats",
]

FILE_BANDS = HLS_BANDS
"""The bands of a generated image, in file order (HLS S30: BLUE ... SWIR_2)."""

_PIXEL = 30.0


@dataclass(frozen=True)
class SceneGenerator:
    """How a generated dataset writes its scenes, one random stream seeded by ``seed`` through them in order.

    ``write_scene(folder, index, rng, size)`` writes one scene (its image into ``images/``) and returns
    its id; ``folders`` are made first. ``marker`` names the cache's marker file and ``what`` the dataset
    in errors; ``spec`` says where the dataset lives by default and ``version`` what its files are.
    """

    what: str
    marker: str
    seed: int
    folders: tuple[str, ...]
    write_scene: Callable[[Path, int, np.random.Generator, int], str]
    spec: DatasetSpec
    version: str

    def generate(
        self, data_root: str | Path | None = None, *, num_scenes: int = 48, size: int = 128, force: bool = False
    ) -> Path:
        """Write ``num_scenes`` scenes of ``size`` pixels a side, splits and statistics, unless they are current.

        They go under ``data_root``, else the dataset's folder under ``$GEOFM_CACHE/datasets/`` (see
        :func:`~geofm.data.download.dataset_dir`). Deterministic: the files depend only on ``version``,
        the seed, ``num_scenes`` and ``size`` (the marker's parameters). A folder that exists, is not
        empty and is not this dataset's cache is never touched (:class:`DataError`), nor are fewer than 3
        scenes or fewer than 32 pixels a side generated.
        """
        from geofm.data.download import dataset_dir

        num_scenes, size = int(num_scenes), int(size)
        if size < 32 or num_scenes < 3:
            raise DataError(f"the {self.what} needs at least 3 scenes of 32 pixels a side; got {num_scenes} of {size}")

        def write(folder: Path) -> None:
            for name in self.folders:
                (folder / name).mkdir(parents=True)
            rng = np.random.default_rng(self.seed)
            write_splits_and_stats(folder, [self.write_scene(folder, i, rng, size) for i in range(num_scenes)])

        params = {"version": self.version, "seed": self.seed, "num_scenes": num_scenes, "size": size}
        root = dataset_dir(self.spec, data_root)
        return generate_once(root, marker=self.marker, params=params, write=write, force=force, what=self.what)


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


def write_scene_image(
    folder: Path, name: str, index: int, image: np.ndarray, rng: np.random.Generator, when: datetime, **tags: str
) -> tuple[str, dict[str, Any]]:
    """Write ``image`` as ``images/<name>_<NNN>_<YYYYMMDD>.tif`` at a random place; return its id and profile.

    The tags say the acquisition time ``when`` and the units (reflectance x 10000), besides ``tags``.
    """
    profile = scene_profile(rng, image.shape[-1])
    scene_id = f"{name}_{index:03d}_{when:%Y%m%d}"
    acquired = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    units = "reflectance x 10000"
    write_image(folder / "images" / f"{scene_id}.tif", image, profile, ACQUISITION_DATE=acquired, UNITS=units, **tags)
    return scene_id, profile


def write_band(
    path: Path, array: np.ndarray, profile: dict[str, Any], *, nodata: float, description: str = "", **tags: str
) -> None:
    """Write a one-band raster (labels, targets) of ``array``'s type on a scene's grid, with ``tags``."""
    import rasterio

    with rasterio.open(path, "w", count=1, dtype=array.dtype.name, nodata=nodata, **profile) as dst:
        dst.write(array, 1)
        if description:
            dst.descriptions = (description,)
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


@takes_keywords_of(loading_keywords)
def build_generated(
    generate: Callable[..., Path],
    build: Callable[..., Any],
    fixed: Mapping[str, Any],
    common: DatasetOptions,
    /,
    *,
    num_scenes: int = 48,
    size: int = 128,
    regenerate: bool | str = False,
    **options: Any,
) -> Any:
    """The data module of a generated dataset: ``generate`` its files (when missing or stale), then ``build``.

    ``generate(data_root, num_scenes=, size=, force=)`` returns the dataset's folder of ``images/``,
    ``splits/`` and ``stats.json``; ``build`` is the generic factory that reads it, given ``fixed`` (the
    dataset's labels or targets) besides these keywords. ``mean``/``std`` default to the statistics of
    the training scenes saved at generation. Options ``common.spec`` does not list are refused.
    """
    spec = common.spec
    loading, options = loading_keywords(**options)
    unknown_options(spec, options)
    root = generate(common.data_root, num_scenes=num_scenes, size=size, force=as_bool(regenerate, "regenerate"))
    mean, std = default_stats(root, spec, common.bands, common.mean, common.std, loading["scale"])
    return build(
        dataclasses.replace(common, data_root=root, mean=mean, std=std),
        images="images",
        split_files="splits",
        file_bands=spec.bands,
        sensor=spec.sensor,
        **loading,
        **fixed,
    )
