from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _write_tif(
    path: Path,
    array: np.ndarray,
    *,
    crs: str | None = "EPSG:32633",
    transform: Any = None,
    nodata: float | None = None,
    descriptions: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
) -> Path:
    import rasterio
    from affine import Affine

    if array.ndim == 2:
        array = array[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": array.shape[1],
        "width": array.shape[2],
        "count": array.shape[0],
        "dtype": array.dtype.name,
        "crs": crs,
        "transform": transform if transform is not None else Affine(30, 0, 500_000, 0, -30, 5_000_000),
        "nodata": nodata,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        if descriptions:
            dst.descriptions = tuple(descriptions)
        if tags:
            dst.update_tags(**tags)
    return path


@pytest.fixture
def write_tif() -> Callable[..., Path]:
    """Write a small GeoTIFF: write_tif(path, array (C,H,W) or (H,W), crs=..., nodata=..., descriptions=...)."""
    return _write_tif


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated demo (12 scenes of 64 px: 8 train / 2 val / 2 test), shared by the session."""
    from geofm_datasets.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("demo") / "demo", num_scenes=12, size=64)


@pytest.fixture
def segmentation_folder(tmp_path: Path) -> Path:
    """A generic dataset: 6 images of 3 bands (16x16, nodata 0) with _mask labels of 3 classes."""
    rng = np.random.default_rng(1)
    for i in range(6):
        image = rng.integers(100, 1000, size=(3, 16, 16)).astype(np.uint16)
        image[:, 0, 0] = 0  # one nodata pixel
        label = rng.integers(0, 3, size=(16, 16)).astype(np.uint8)
        _write_tif(tmp_path / "imgs" / f"tile_{i}.tif", image, nodata=0, descriptions=("B04", "B03", "B02"))
        _write_tif(tmp_path / "masks" / f"tile_{i}_mask.tif", label)
    return tmp_path
