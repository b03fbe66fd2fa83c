"""A train or val split with no pixel to score is a DataError at setup, whether or not mean/std are given."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from geofm.data import build_dataset
from geofm.errors import DataError
from geofm_datasets.regression.specs import GEOTIFF_REGRESSION_SPEC
from geofm_datasets.segmentation.specs import GEOTIFF_SEGMENTATION_SPEC

build_geotiff_regression = partial(build_dataset, GEOTIFF_REGRESSION_SPEC)
build_geotiff_segmentation = partial(build_dataset, GEOTIFF_SEGMENTATION_SPEC)


SIZE = 8
GIVEN = {"mean": (500.0, 500.0), "std": (100.0, 100.0)}


def _segmentation(
    root: Path,
    write_tif: Callable[..., Path],
    masks: dict[str, np.ndarray],
    images: dict[str, np.ndarray] | None = None,
) -> None:
    """Tiles ``<id>`` with 2-band uint16 images (nodata 0) and uint8 masks; splits: t* train, v* val, x* test."""
    rng = np.random.default_rng(0)
    for name, mask in masks.items():
        image = (images or {}).get(name)
        if image is None:
            image = rng.integers(100, 1000, size=(2, SIZE, SIZE)).astype(np.uint16)
        write_tif(root / "images" / f"{name}.tif", image, nodata=0, descriptions=("B04", "B03"))
        write_tif(root / "labels" / f"{name}.label.tif", mask)
    (root / "splits").mkdir(exist_ok=True)
    for split, prefix in (("train", "t"), ("val", "v"), ("test", "x")):
        ids = [name for name in masks if name.startswith(prefix)]
        if ids:
            (root / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")


def _build_segmentation(root: Path, **options):
    return build_geotiff_segmentation(data_root=root, classes="a,b", label_suffix=".label", **options)


def _classes(seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=(SIZE, SIZE)).astype(np.uint8)


IGNORED = np.full((SIZE, SIZE), 255, np.uint8)


@pytest.mark.parametrize("stats", [GIVEN, {}], ids=["mean-std-given", "mean-std-computed"])
def test_train_masks_all_ignore_index_are_refused(tmp_path: Path, write_tif, stats) -> None:
    _segmentation(tmp_path, write_tif, {"t0": IGNORED, "t1": IGNORED, "v0": _classes()})
    module = _build_segmentation(tmp_path, **stats)
    with pytest.raises(DataError) as info:
        module.setup("fit")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"the train split of dataset geotiff_segmentation under {tmp_path} has no valid pixel:")
    assert "ignore index 255" in message and "check the masks" in message
    with pytest.raises(DataError, match="train split"):  # still refused on the next call (nothing half set up)
        module.setup("fit")


def test_val_masks_all_label_nodata_are_refused(tmp_path: Path, write_tif) -> None:
    zeros = np.zeros((SIZE, SIZE), np.uint8)
    _segmentation(tmp_path, write_tif, {"t0": _classes() + 1, "v0": zeros, "v1": zeros})
    module = _build_segmentation(tmp_path, label_nodata=0, label_offset=-1, **GIVEN)
    with pytest.raises(DataError, match=r"^the val split of dataset geotiff_segmentation under .*label_nodata 0\b"):
        module.setup("fit")


def test_images_all_nodata_are_refused_even_with_valid_masks(tmp_path: Path, write_tif) -> None:
    empty = np.zeros((2, SIZE, SIZE), np.uint16)  # nodata 0 everywhere
    _segmentation(tmp_path, write_tif, {"t0": _classes(), "v0": _classes(2)}, images={"t0": empty})
    module = _build_segmentation(tmp_path, **GIVEN)
    with pytest.raises(DataError, match=r"the train split .* has no valid pixel: .*in the images"):
        module.setup("fit")


def test_one_valid_pixel_in_a_later_tile_is_enough(tmp_path: Path, write_tif) -> None:
    one = IGNORED.copy()
    one[3, 5] = 1
    _segmentation(tmp_path, write_tif, {"t0": IGNORED, "t1": IGNORED, "t2": one, "v0": _classes()})
    module = _build_segmentation(tmp_path, **GIVEN)
    module.setup("fit")
    assert len(module.dataset("train")) == 3


def test_a_test_split_without_labels_is_not_checked(tmp_path: Path, write_tif) -> None:
    _segmentation(tmp_path, write_tif, {"t0": _classes(), "v0": _classes(2), "x0": IGNORED})
    module = _build_segmentation(tmp_path, **GIVEN)
    module.setup("test")
    assert module.dataset("test")[0]["mask"].eq(255).all()


def test_cached_tiles_read_by_the_check_are_the_ones_delivered(tmp_path: Path, write_tif) -> None:
    _segmentation(tmp_path, write_tif, {"t0": _classes(), "v0": _classes(2)})
    cached = _build_segmentation(tmp_path, cache=True, flips=False, **GIVEN)
    plain = _build_segmentation(tmp_path, flips=False, **GIVEN)
    cached.setup("fit")
    plain.setup("fit")
    assert 0 in cached.dataset("train")._tiles  # kept from the check
    for split in ("train", "val"):
        np.testing.assert_array_equal(cached.dataset(split)[0]["mask"], plain.dataset(split)[0]["mask"])
        np.testing.assert_array_equal(cached.dataset(split)[0]["image"], plain.dataset(split)[0]["image"])


def _regression(root: Path, write_tif: Callable[..., Path], targets: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    for name, target in targets.items():
        image = rng.integers(100, 1000, size=(2, SIZE, SIZE)).astype(np.uint16)
        write_tif(root / "images" / f"{name}.tif", image, nodata=0, descriptions=("B04", "B03"))
        write_tif(root / "targets" / f"{name}_target.tif", target, nodata=-1)
    (root / "splits").mkdir(exist_ok=True)
    for split, prefix in (("train", "t"), ("val", "v")):
        ids = [name for name in targets if name.startswith(prefix)]
        (root / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")


@pytest.mark.parametrize("stats", [GIVEN, {}], ids=["mean-std-given", "mean-std-computed"])
def test_regression_targets_all_nodata_or_nan_are_refused(tmp_path: Path, write_tif, stats) -> None:
    nodata = np.full((1, SIZE, SIZE), -1, np.float32)
    nan = np.full((1, SIZE, SIZE), np.nan, np.float32)
    fine = np.random.default_rng(3).random((1, SIZE, SIZE)).astype(np.float32)
    _regression(tmp_path, write_tif, {"t0": fine, "v0": nodata, "v1": nan})
    module = build_geotiff_regression(data_root=tmp_path, **stats)
    with pytest.raises(DataError) as info:
        module.setup("fit")
    message = str(info.value)
    assert "\n" not in message
    assert re.match(
        rf"the val split of dataset geotiff_regression under {re.escape(str(tmp_path))} has no valid", message
    )
    assert "every target value is NaN or nodata" in message and "check the targets" in message


def test_regression_with_valid_targets_sets_up(tmp_path: Path, write_tif) -> None:
    fine = np.random.default_rng(3).random((1, SIZE, SIZE)).astype(np.float32)
    _regression(tmp_path, write_tif, {"t0": fine, "v0": fine})
    module = build_geotiff_regression(data_root=tmp_path, **GIVEN)
    module.setup("fit")
    assert module.dataset("val")[0]["valid"].all()
