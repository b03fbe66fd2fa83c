"""Generic GeoTIFF regression: pairing, nodata masking, target scaling, band selection, joint crops and flips."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset
from geofm.errors import ConfigError, DataError
from geofm.registry import get_registry
from geofm_datasets.regression.generic import pair_targets
from geofm_datasets.regression.specs import GEOTIFF_REGRESSION_SPEC

build_geotiff_regression = partial(build_dataset, GEOTIFF_REGRESSION_SPEC)

SIZE = 16


@pytest.fixture
def regression_folder(tmp_path: Path, write_tif) -> Path:
    """6 images of 3 bands (B04, B03, B02; nodata 0 at (0, 0)) with 2-band float targets (nodata -1, a NaN).

    Band B02 (file band 3) and target band 1 both hold 100 * (row * SIZE + col) + tile + 1, so a crop or
    flip that moves image and target apart is visible.
    """
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    for i in range(6):
        code = (100 * (rows * SIZE + cols) + i).astype(np.float64)
        image = np.stack([code + 8, code + 4, code + 1]).astype(np.uint16)
        image[:, 0, 0] = 0  # image nodata: invalid target there
        target = np.stack([code + 1, np.full_like(code, 5.0)]).astype(np.float32)
        target[0, 1, 1] = -1  # target nodata in band 1 only
        target[1, 2, 2] = np.nan  # NaN in band 2 only
        write_tif(tmp_path / "images" / f"tile_{i}.tif", image, nodata=0, descriptions=("B04", "B03", "B02"))
        write_tif(tmp_path / "targets" / f"tile_{i}_target.tif", target, nodata=-1)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("tile_0\ntile_1\ntile_2\ntile_3\n")
    (tmp_path / "splits" / "val.txt").write_text("tile_4\n")
    (tmp_path / "splits" / "test.txt").write_text("tile_5\n")
    return tmp_path


def _build(root: Path, **options):
    defaults = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "batch_size": 2}
    module = build_geotiff_regression(data_root=root, **{**defaults, **options})
    module.setup("fit")
    return module


def test_registry_builds_it_with_the_contract_attributes(regression_folder: Path) -> None:
    module = build_dataset(
        get_registry("datasets").get("geotiff_regression"),
        data_root=regression_folder,
        bands=None,
        batch_size=2,
        num_workers=0,
        seed=0,
        mean=None,
        std=None,
        crop_size=None,
    )
    assert module.spec.name == "geotiff_regression" and module.spec.task == "regression"
    assert module.task_type == "regression" and module.num_frames == 1
    assert module.num_outputs == module.num_classes == 2
    assert module.class_names == () and module.ignore_index is None
    assert module.band_names == ("RED", "GREEN", "BLUE") and module.splits == ("train", "val", "test")
    module.setup("fit")
    assert len(module.mean) == len(module.std) == 3  # computed from the training images
    batch = next(iter(module.test_dataloader()))
    assert batch["image"].shape == (1, 3, SIZE, SIZE) and batch["image"].dtype == torch.float32
    assert batch["target"].shape == batch["valid"].shape == (1, 2, SIZE, SIZE)
    assert batch["valid"].dtype == torch.bool
    assert set(batch["meta"]) >= {"timestamps", "center_latlon", "gsd"}


def test_nodata_and_nan_are_masked_per_band_and_image_nodata_masks_all(regression_folder: Path) -> None:
    sample = _build(regression_folder).dataset("val")[0]
    target, valid = sample["target"], sample["valid"]
    assert not valid[:, 0, 0].any(), "image nodata must mask every target band"
    assert not valid[0, 1, 1] and valid[1, 1, 1], "target nodata masks its own band only"
    assert not valid[1, 2, 2] and valid[0, 2, 2], "a NaN masks its own band only"
    assert int((~valid).sum()) == 2 + 1 + 1
    assert torch.isnan(target[~valid]).all() and torch.isfinite(target[valid]).all()
    assert sample["image"][:, 0, 0].eq(0).all(), "image nodata is 0 after normalisation"


def test_target_offset_and_scale_and_target_bands(regression_folder: Path) -> None:
    module = _build(regression_folder, target_bands="2", target_offset=1.0, target_scale=2.0)
    assert module.num_outputs == 1
    sample = module.dataset("val")[0]
    values = sample["target"][sample["valid"]]
    assert sample["target"].shape == (1, SIZE, SIZE)
    assert torch.allclose(values, torch.full_like(values, (5.0 - 1.0) / 2.0))

    auto = _build(regression_folder, target_offset="auto", target_scale="auto")
    raw = np.concatenate(
        [
            (100 * np.arange(SIZE * SIZE) + i + 1).astype(np.float64)[np.r_[0 : SIZE + 1, SIZE + 2 : SIZE * SIZE]]
            for i in range(4)
        ]
    )
    assert auto.target_offset[0] == pytest.approx(raw.mean()) and auto.target_scale[0] == pytest.approx(raw.std())
    assert auto.target_offset[1] == pytest.approx(5.0) and auto.target_scale[1] == 1.0  # constant band: std 1
    with pytest.raises(ConfigError, match="target_bands"):
        _build(regression_folder, target_bands="3")


def test_bands_are_selected_by_name_in_the_asked_order(regression_folder: Path) -> None:
    module = _build(regression_folder, bands=["B02", "RED"], mean=[1.0, 2.0], std=[2.0, 4.0])
    assert module.band_names == ("BLUE", "RED")
    image = module.dataset("val")[0]["image"].numpy()
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    code = 100 * (rows * SIZE + cols) + 4
    expected = np.stack([(code + 1 - 1.0) / 2.0, (code + 8 - 2.0) / 4.0])
    expected[:, 0, 0] = 0
    np.testing.assert_allclose(image, expected, rtol=1e-6)


def test_random_crops_and_flips_move_image_and_target_together(regression_folder: Path) -> None:
    module = _build(regression_folder, bands=["BLUE"], crop_size=8)
    dataset = module.dataset("train")
    windows, flips = set(), {"none": 0, "horizontal": 0, "vertical": 0}
    for draw in range(40):
        sample = dataset[draw % 4]
        image, target, valid = sample["image"][0], sample["target"][0], sample["valid"][0]
        assert image.shape == target.shape == (8, 8)
        assert torch.equal(image[valid], target[valid]), "image and target were cropped or flipped apart"
        windows.add(float(image[image != 0].min()) - draw % 4)
        horizontal, vertical = bool(image[4, 5] < image[4, 4]), bool(image[5, 4] < image[4, 4])
        flips["horizontal"] += horizontal
        flips["vertical"] += vertical
        flips["none"] += not (horizontal or vertical)
    assert len(windows) > 3, "training crops should be random"
    assert all(flips.values()), f"flips should be random: {flips}"
    val = module.dataset("val")
    first, second = val[0], val[0]
    assert torch.equal(first["image"], second["image"]), "validation uses the deterministic centre crop"


def test_cache_gives_the_same_samples(regression_folder: Path) -> None:
    plain = _build(regression_folder, crop_size=8).dataset("val")[0]
    cached_module = _build(regression_folder, crop_size=8, cache=True)
    for _ in range(2):
        cached = cached_module.dataset("val")[0]
        assert torch.equal(plain["image"], cached["image"])
        assert torch.equal(plain["valid"], cached["valid"])
        assert torch.equal(plain["target"][plain["valid"]], cached["target"][cached["valid"]])


def test_tiles_smaller_than_the_crop_are_padded_as_invalid(regression_folder: Path) -> None:
    sample = _build(regression_folder, crop_size=20).dataset("val")[0]
    assert sample["image"].shape == (3, 20, 20) and sample["target"].shape == (2, 20, 20)
    assert not sample["valid"][:, SIZE:, :].any() and not sample["valid"][:, :, SIZE:].any()


def test_mean_baseline_matches_numpy(regression_folder: Path) -> None:
    module = _build(regression_folder, target_bands=[1])
    baseline = module.mean_baseline("val")
    train_mean = module.target_stats("train")[0][0]
    sample = module.dataset("val")[0]
    values = sample["target"][sample["valid"]].double().numpy()
    assert baseline["train_mean"] == [pytest.approx(train_mean, rel=1e-6)]
    assert baseline["rmse"] == pytest.approx(np.sqrt(((values - train_mean) ** 2).mean()), rel=1e-5)
    assert baseline["mae"] == pytest.approx(np.abs(values - train_mean).mean(), rel=1e-5)
    assert baseline["r2"] < 0.0  # the training mean is not the validation mean


def test_a_regression_task_trains_on_a_batch(regression_folder: Path) -> None:
    from geofm.tasks.regression import RegressionTask

    module = _build(regression_folder, target_offset="auto", target_scale="auto")
    batch = next(iter(module.train_dataloader()))
    model = torch.nn.Conv2d(3, 2, 1)
    task = RegressionTask(model, num_classes=module.num_outputs, ignore_index=module.ignore_index)
    loss = task.compute_loss(model(batch["image"]), task.get_target(batch))
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_images_without_targets_are_named(tmp_path: Path) -> None:
    images = [tmp_path / "a.tif", tmp_path / "b.tif"]
    with pytest.raises(DataError, match=r"1 image\(s\) have no target: .*b\.tif"):
        pair_targets(images, [tmp_path / "a_gt.tif"])
    assert [s.id for s in pair_targets(images[:1], [tmp_path / "a_gt.tif"])] == ["a"]


def test_unknown_options_and_bad_values_are_refused(regression_folder: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        build_geotiff_regression(data_root=regression_folder, target_nodta=-1)
    with pytest.raises(ConfigError, match="target_scale"):
        build_geotiff_regression(data_root=regression_folder, target_scale="big")
    with pytest.raises(DataError, match="targets/"):
        build_geotiff_regression(data_root=regression_folder / "nowhere")
