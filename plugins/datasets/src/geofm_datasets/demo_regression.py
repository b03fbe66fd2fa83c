"""The ``demo_regression`` dataset: generated scenes with a vegetation-cover target, deterministic and cached.

The images are the demo's land-cover scenes (:mod:`geofm_datasets.scenes`: six HLS bands, int16
reflectance x 10000, nodata -9999). The target is the fractional vegetation cover (0-1) of the
surroundings of each pixel: the per-pixel cover from the scene's NDVI (0 at bare soil, 1 at dense
vegetation), averaged over a ~150 m Gaussian neighbourhood, plus measurement noise. Targets are float32
GeoTIFFs with nodata -9999 where the image has no data, in patches without reference data (every third
scene) and NaN at scattered bad pixels (every fifth), so a model needs spatial context and the data
exercises nodata masking. Files go to a temporary folder renamed into place, with a version marker
written last (:mod:`geofm_datasets.generated`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data.download import dataset_dir
from geofm.data.factory import DatasetOptions
from geofm_datasets.generated import SceneGenerator, build_generated, write_band, write_scene_image
from geofm_datasets.options import takes_keywords_of
from geofm_datasets.regression.specs import DEMO_REGRESSION_SPEC
from geofm_datasets.scenes import NODATA, _smooth, add_nodata, make_scene

__all__ = ["DEMO_REGRESSION_VERSION", "build_demo_regression", "demo_regression_root", "generate_demo_regression"]

DEMO_REGRESSION_VERSION = "1"
"""Bump when the generator changes: caches with another version are regenerated."""

SEED = 20240502
MARKER = ".geofm-demo-regression.json"
TARGET_NODATA = -9999.0
NDVI_SOIL, NDVI_VEGETATION = 0.2, 0.75


def demo_regression_root(data_root: str | Path | None = None) -> Path:
    """``data_root``, else ``$GEOFM_CACHE/datasets/demo_regression`` (default ``~/.cache/geofm/...``)."""
    return dataset_dir(DEMO_REGRESSION_SPEC, data_root)


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
    image, labels = make_scene(rng, size)
    target = vegetation_cover(image, rng)
    add_nodata(rng, index, image, labels)
    target[(image == NODATA).any(axis=0)] = TARGET_NODATA
    _target_gaps(rng, index, target)
    when = datetime(2020, 3, 1, 10, tzinfo=timezone.utc) + timedelta(days=int(rng.integers(0, 3 * 365)))
    scene_id, profile = write_scene_image(folder, "demo_regression", index, image, rng, when)
    path = folder / "targets" / f"{scene_id}_target.tif"
    write_band(
        path, target, profile, nodata=TARGET_NODATA, description="vegetation_cover", UNITS="fraction of area (0-1)"
    )
    return scene_id


generate_demo_regression = SceneGenerator(
    "geofm regression demo",
    MARKER,
    SEED,
    ("images", "targets"),
    _write_scene,
    DEMO_REGRESSION_SPEC,
    DEMO_REGRESSION_VERSION,
).generate
"""Generate the regression demo under ``data_root`` (see :func:`demo_regression_root`) unless it is current."""


@takes_keywords_of(build_generated)
def build_demo_regression(
    common: DatasetOptions,
    /,
    *,
    target_offset: float | str = "auto",
    target_scale: float | str = "auto",
    **options: Any,
) -> Any:
    """The regression demo's data module (generating the files first when missing or stale).

    Targets are standardised by default (``target_offset`` / ``target_scale`` = ``"auto"``: the training
    targets' mean and std), so the metrics are in standard deviations of the training cover; give
    ``target_offset=0`` and ``target_scale=1`` for cover fractions. See the ``demo_regression`` spec's
    options and :func:`~geofm_datasets.generated.build_generated` for the other keywords.
    """
    from geofm_datasets.regression.generic import build_geotiff_regression

    targets = {
        "targets": "targets",
        "target_suffix": "_target",
        "target_nodata": TARGET_NODATA,
        "target_offset": target_offset,
        "target_scale": target_scale,
    }
    return build_generated(generate_demo_regression, build_geotiff_regression, targets, common, **options)
