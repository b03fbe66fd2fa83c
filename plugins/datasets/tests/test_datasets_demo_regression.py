"""The generated regression demo: deterministic, cached, nodata in the targets, learnable target, registry build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from geofm.data import build_dataset
from geofm.errors import DataError
from geofm.registry import get_registry
from geofm_datasets.demo_regression import (
    MARKER,
    TARGET_NODATA,
    demo_regression_root,
    generate_demo_regression,
    vegetation_cover,
)
from geofm_datasets.regression.specs import DEMO_REGRESSION_SPEC


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_regression_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo_regression(tmp_path_factory.mktemp("demo") / "demo_regression", num_scenes=12, size=64)


def test_generation_is_deterministic_and_cached(tmp_path: Path) -> None:
    first = generate_demo_regression(tmp_path / "a", num_scenes=4, size=32)
    second = generate_demo_regression(tmp_path / "b", num_scenes=4, size=32)
    files = _files(first)
    assert len([f for f in files if f.startswith("targets/")]) == 4
    assert files == _files(second)
    target = next((first / "targets").glob("*.tif"))
    mtime = target.stat().st_mtime_ns
    assert generate_demo_regression(tmp_path / "a", num_scenes=4, size=32) == first
    assert target.stat().st_mtime_ns == mtime
    assert (first / MARKER).is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_refuses_a_foreign_folder_and_defaults_under_geofm_cache(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("keep")
    with pytest.raises(DataError, match="not a geofm regression demo folder"):
        generate_demo_regression(tmp_path / "mine", num_scenes=4, size=32)
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path))
    assert demo_regression_root() == tmp_path / "datasets" / "demo_regression"


def test_targets_are_cover_fractions_with_nodata_and_nan(small_regression_demo: Path) -> None:
    nodata_files, nan_files = 0, 0
    for path in sorted((small_regression_demo / "targets").glob("*_target.tif")):
        with rasterio.open(path) as src:
            assert src.count == 1 and src.dtypes[0] == "float32" and src.nodata == TARGET_NODATA
            values = src.read(1)
        image_path = small_regression_demo / "images" / path.name.replace("_target", "")
        with rasterio.open(image_path) as src:
            image_nodata = (src.read() == src.nodata).any(axis=0)
        assert (values[image_nodata] == TARGET_NODATA).all(), "image nodata must be target nodata"
        known = values[np.isfinite(values) & (values != TARGET_NODATA)]
        assert known.min() >= 0.0 and known.max() <= 1.0 and known.std() > 0.05
        nodata_files += bool((values == TARGET_NODATA).any())
        nan_files += bool(np.isnan(values).any())
    assert nodata_files >= 4 and nan_files >= 2


def test_vegetation_cover_follows_ndvi_with_spatial_smoothing() -> None:
    image = np.zeros((6, 32, 32), np.int16)
    image[2], image[3] = 400, 3300  # vegetation everywhere ...
    image[2, :, :16], image[3, :, :16] = 1600, 2300  # ... but bare soil on the left
    cover = vegetation_cover(image, np.random.default_rng(0))
    assert cover[:, 4:12].mean() < 0.1 and cover[:, 20:28].mean() > 0.9
    assert 0.2 < cover[:, 16].mean() < 0.8, "the edge is smoothed over the neighbourhood"


def test_registry_builds_a_standardised_module(small_regression_demo: Path) -> None:
    module = build_dataset(
        get_registry("datasets").get("demo_regression"),
        data_root=small_regression_demo,
        num_scenes=12,
        size=64,
        batch_size=4,
    )
    assert module.spec.name == "demo_regression" and module.spec.distribution == "geofm-datasets"
    assert module.task_type == "regression" and module.num_outputs == module.num_classes == 1
    assert module.band_names == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    assert module.splits == ("train", "val", "test") and module.gsd == 30.0
    assert len(module.mean) == 6, "the saved statistics are used"
    assert 0.1 < module.target_offset[0] < 0.9 and 0.05 < module.target_scale[0] < 0.6
    module.setup("fit")
    targets = torch.cat([b["target"][b["valid"]] for b in module.train_dataloader()])
    assert abs(float(targets.mean())) < 0.15 and abs(float(targets.std()) - 1.0) < 0.15
    assert module.mean_baseline("val")["rmse"] > 0.5


def test_unknown_option_is_refused(small_regression_demo: Path) -> None:
    from geofm.errors import ConfigError

    with pytest.raises(ConfigError, match="num_scenes"):
        build_dataset(DEMO_REGRESSION_SPEC, data_root=small_regression_demo, num_scene=3)
