"""The segmentation data module on the generated demo: batches, normalisation, bands, nodata, loaders."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from geofm.data import build_dataset
from geofm.errors import DataError
from geofm_datasets.segmentation.specs import DEMO_SPEC

build_demo = partial(build_dataset, DEMO_SPEC)


def _module(root: Path, **kw):
    return build_demo(data_root=root, num_scenes=12, size=64, **kw)


def test_train_batch_shapes_dtypes_and_meta(small_demo: Path) -> None:
    module = _module(small_demo, batch_size=4, crop_size=32)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (4, 6, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["mask"].shape == (4, 32, 32) and batch["mask"].dtype == torch.uint8
    meta = batch["meta"]
    assert meta["timestamps"].shape == (4, 1) and meta["timestamps"].dtype == torch.float64
    assert meta["center_latlon"].shape == (4, 2) and meta["center_latlon"].dtype == torch.float32
    assert meta["gsd"].shape == (4,) and torch.allclose(meta["gsd"], torch.full((4,), 30.0))
    assert ((meta["center_latlon"][:, 0] > 40) & (meta["center_latlon"][:, 0] < 56)).all()
    assert ((meta["center_latlon"][:, 1] > 9) & (meta["center_latlon"][:, 1] < 21)).all()  # UTM zone 33
    assert (meta["timestamps"] > 1.5e9).all()
    assert set(batch["mask"].unique().tolist()) <= {0, 1, 2, 3, 255}


def test_normalisation_matches_formula(small_demo: Path) -> None:
    mean, std = (100.0, 200.0, 300.0, 400.0, 500.0, 600.0), (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
    module = _module(small_demo, mean=mean, std=std, scale=2.0)
    module.setup("validate")
    sample = module.dataset("val")[0]
    path = module.samples["val"][0].image
    raw = rasterio.open(path).read().astype(np.float64)
    valid = (raw != -9999).all(0)
    expected = (raw * 2.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    image = sample["image"].numpy()
    np.testing.assert_allclose(image[:, valid], expected[:, valid], rtol=1e-5, atol=1e-4)
    assert (image[:, ~valid] == 0).all()
    assert (sample["mask"].numpy()[~valid] == 255).all()


def test_computed_stats_normalise_training_data(small_demo: Path) -> None:
    module = _module(small_demo, scale=0.0001)  # scale != 1: stats computed from the training split
    assert module.mean is None
    module.setup("fit")
    assert module.mean is not None and len(module.mean) == 6 and module.stats_source.startswith("computed")
    assert 0.01 < module.mean[3] < 0.5  # NIR reflectance after scaling
    images = torch.cat([b["image"] for b in module.train_dataloader()])
    masks = torch.cat([b["mask"] for b in module.train_dataloader()])
    values = images.permute(1, 0, 2, 3)[:, masks != 255]
    assert torch.allclose(values.mean(1), torch.zeros(6), atol=0.05)
    assert torch.allclose(values.std(1), torch.ones(6), atol=0.05)


def test_band_selection_by_name(small_demo: Path) -> None:
    module = _module(small_demo, bands=["B8A", "RED", "GREEN"])
    assert module.band_names == ("NIR_NARROW", "RED", "GREEN")
    module.setup("validate")
    sample = module.dataset("val")[1]
    assert sample["image"].shape[0] == 3
    path = module.samples["val"][1].image
    raw = rasterio.open(path).read([4, 3, 2]).astype(np.float64)
    valid = (raw != -9999).all(0)
    expected = (raw[0] - module.mean[0]) / module.std[0]
    np.testing.assert_allclose(sample["image"][0].numpy()[valid], expected[valid], rtol=1e-5, atol=1e-4)


def test_missing_band_is_a_data_error(small_demo: Path) -> None:
    with pytest.raises(DataError) as error:
        _module(small_demo, bands=["RED", "RED_EDGE_2"])
    assert "RED_EDGE_2" in str(error.value) and "NIR_NARROW" in str(error.value)


def test_nodata_pixels_get_ignore_index(small_demo: Path) -> None:
    module = _module(small_demo)
    module.setup("fit")
    found = 0
    for split in module.splits:
        dataset = module.dataset(split)
        for i, sample in enumerate(dataset.samples):
            raw = rasterio.open(sample.image).read()
            nodata = (raw == -9999).any(0)
            if nodata.any() and split != "train":  # train: no crop, but flips; check val/test exactly
                item = dataset[i]
                assert (item["mask"].numpy()[nodata] == 255).all()
                assert (item["image"].numpy()[:, nodata] == 0).all()
                found += 1
    assert found >= 1


def test_eval_is_deterministic_and_train_random(small_demo: Path) -> None:
    module = _module(small_demo, crop_size=32, batch_size=2)
    module.setup("fit")
    first = [b["image"] for b in module.val_dataloader()]
    second = [b["image"] for b in module.val_dataloader()]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    dataset = module.dataset("train")
    crops = {dataset[0]["image"].sum().item() for _ in range(6)}
    assert len(crops) > 1
    again = _module(small_demo, crop_size=32, batch_size=2)
    again.setup("fit")
    assert torch.equal(next(iter(module.test_dataloader()))["image"], next(iter(again.test_dataloader()))["image"])


def test_same_seed_same_training_batches(small_demo: Path) -> None:
    batches = []
    for _ in range(2):
        module = _module(small_demo, crop_size=32, batch_size=4, seed=7)
        module.setup("fit")
        batches.append(next(iter(module.train_dataloader()))["image"])
    assert torch.equal(batches[0], batches[1])


def test_worker_processes(small_demo: Path) -> None:
    module = _module(small_demo, crop_size=32, batch_size=4, num_workers=1, cache=True)
    module.setup("fit")
    loader = module.train_dataloader()
    assert loader.persistent_workers
    shapes = [b["image"].shape for b in loader]
    assert sum(s[0] for s in shapes) == 8


def test_crop_larger_than_tile_is_padded_with_ignore(small_demo: Path) -> None:
    module = _module(small_demo, crop_size=80, batch_size=2)
    module.setup("validate")
    item = module.dataset("val")[0]
    assert item["image"].shape == (6, 80, 80)
    assert (item["mask"][64:, :] == 255).all() and (item["image"][:, :, 64:] == 0).all()


def test_mean_std_length_checked(small_demo: Path) -> None:
    with pytest.raises(DataError, match="mean"):
        _module(small_demo, mean=(1.0, 2.0), std=(1.0, 2.0))
