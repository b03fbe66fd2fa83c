"""The generic geotiff_segmentation dataset from folders, globs and split files."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset
from geofm.errors import ConfigError, DataError
from geofm_datasets.segmentation.generic import pair_samples, split_samples
from geofm_datasets.segmentation.specs import GEOTIFF_SEGMENTATION_SPEC

build_geotiff_segmentation = partial(build_dataset, GEOTIFF_SEGMENTATION_SPEC)


def test_folders_with_descriptions_and_fractions(segmentation_folder: Path) -> None:
    options = {
        "data_root": segmentation_folder,
        "images": "imgs",
        "labels": "masks",
        "classes": "a,b,c",
        "val_fraction": 0.34,
        "test_fraction": 0.17,
    }
    module = build_geotiff_segmentation(**options, batch_size=2)
    assert module.band_names == ("RED", "GREEN", "BLUE")  # from the band descriptions, Sentinel-2 codes
    assert {k: len(v) for k, v in module.samples.items()} == {"test": 1, "val": 2, "train": 3}
    assert module.splits == ("train", "val", "test")
    assert module.gsd == pytest.approx(30.0)
    ids = [s.id for items in module.samples.values() for s in items]
    assert sorted(ids) == [f"tile_{i}" for i in range(6)]
    module.setup("fit")  # mean/std computed from the 3 training tiles
    assert module.mean is not None and 100 < module.mean[0] < 1000
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (2, 3, 16, 16)
    assert batch["mask"].eq(255).sum() == 2  # one nodata pixel per tile (flips may move it)
    assert batch["image"].permute(1, 0, 2, 3)[:, batch["mask"] == 255].eq(0).all()
    same = build_geotiff_segmentation(**options)
    assert same.samples == module.samples  # deterministic by seed


def test_globs_split_files_and_band_names(segmentation_folder: Path) -> None:
    splits = segmentation_folder / "lists"
    splits.mkdir()
    (splits / "train.txt").write_text("tile_0\ntile_1.tif\n# comment\n\ntile_2\n")
    (splits / "val.txt").write_text("tile_3\n")
    (splits / "test.txt").write_text("tile_4\ntile_5\n")
    module = build_geotiff_segmentation(
        images=str(segmentation_folder / "imgs" / "tile_*.tif"),
        labels=str(segmentation_folder / "masks" / "*_mask.tif"),
        split_files={k: str(splits / f"{k}.txt") for k in ("train", "val", "test")},
        file_bands=["RED", "GREEN", "BLUE"],
        bands=("BLUE", "RED"),
        num_classes=3,
        mean=(500.0, 500.0),
        std=(100.0, 100.0),
        eval_full_tiles=True,
        crop_size=8,
    )
    assert [s.id for s in module.samples["train"]] == ["tile_0", "tile_1", "tile_2"]
    assert [s.id for s in module.samples["test"]] == ["tile_4", "tile_5"]
    assert module.band_names == ("BLUE", "RED") and module.class_names == ("class_0", "class_1", "class_2")
    module.setup("test")
    assert module.dataset("val")[0]["image"].shape == (2, 16, 16)  # whole tiles for evaluation
    assert module.dataset("train")[0]["image"].shape == (2, 8, 8)
    import rasterio

    raw = rasterio.open(module.samples["test"][0].image).read(3).astype(np.float32)
    got = next(iter(module.test_dataloader()))["image"][0, 0].numpy()
    np.testing.assert_allclose(got[1:, 1:], (raw[1:, 1:] - 500) / 100, rtol=1e-6)


def test_default_layout_under_data_root(tmp_path: Path, write_tif) -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        write_tif(tmp_path / "images" / f"s{i}.tif", rng.random((2, 8, 8)).astype(np.float32))
        write_tif(tmp_path / "labels" / f"s{i}.label.tif", rng.integers(0, 2, (8, 8)).astype(np.uint8))
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("s0\ns1\n")
    (tmp_path / "splits" / "val.txt").write_text("s2\n")
    module = build_geotiff_segmentation(
        data_root=tmp_path, file_bands="VV,VH", classes=["no", "yes"], label_suffix=".label", scale=10.0
    )
    assert module.splits == ("train", "val") and module.band_names == ("VV", "VH")
    with pytest.raises(DataError, match="no test split"):
        module.test_dataloader()
    module.setup("fit")
    assert 1.0 < module.mean[0] < 9.0  # statistics of the scaled values


def test_unpaired_image_names_the_file(segmentation_folder: Path) -> None:
    (segmentation_folder / "masks" / "tile_2_mask.tif").unlink()
    with pytest.raises(DataError, match=r"tile_2\.tif"):
        build_geotiff_segmentation(data_root=segmentation_folder, images="imgs", labels="masks", classes="a,b,c")


def test_pairing_skips_labels_in_the_same_folder(tmp_path: Path) -> None:
    files = [tmp_path / "x.tif", tmp_path / "x_mask.tif"]
    samples = pair_samples(files, [files[1]])
    assert [(s.image.name, s.label.name) for s in samples] == [("x.tif", "x_mask.tif")]


def test_wrong_band_count_names_the_file(segmentation_folder: Path, write_tif) -> None:
    write_tif(segmentation_folder / "imgs" / "tile_0.tif", np.ones((2, 16, 16), np.uint16))
    module = build_geotiff_segmentation(
        data_root=segmentation_folder,
        images="imgs",
        labels="masks",
        classes="a,b,c",
        file_bands="B04,B03,B02",
        mean=(0, 0, 0),
        std=(1, 1, 1),
        val_fraction=0.0,
    )
    with pytest.raises(DataError, match=r"tile_0\.tif has 2 bands"):
        module.setup("fit")  # its valid-pixel check reads the first training tiles: tile_0 may be one
        dataset = module.dataset("train")
        dataset[[s.id for s in dataset.samples].index("tile_0")]


def test_corrupt_image_is_a_data_error(segmentation_folder: Path) -> None:
    (segmentation_folder / "imgs" / "tile_3.tif").write_bytes(b"garbage")
    module = build_geotiff_segmentation(
        data_root=segmentation_folder, images="imgs", labels="masks", classes="a,b,c", val_fraction=0.0
    )
    with pytest.raises(DataError, match=r"tile_3\.tif.*corrupt"):
        module.setup("fit")  # computing the statistics reads every training tile


def test_label_values_outside_classes(segmentation_folder: Path) -> None:
    module = build_geotiff_segmentation(
        data_root=segmentation_folder, images="imgs", labels="masks", classes="a,b", mean=(0, 0, 0), std=(1, 1, 1)
    )
    with pytest.raises(DataError, match="outside the 2 classes"):
        module.setup("fit")  # its valid-pixel check reads the first training tile
        module.dataset("train")[0]


def test_missing_options_and_unknown_option(segmentation_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="classes"):
        build_geotiff_segmentation(data_root=segmentation_folder, images="imgs", labels="masks")
    with pytest.raises(ConfigError, match="colour"):
        build_geotiff_segmentation(data_root=segmentation_folder, classes="a", colour="red")
    with pytest.raises(DataError, match="data-root"):
        build_geotiff_segmentation(data_root=tmp_path / "empty", classes="a")


def test_split_file_with_unknown_id(segmentation_folder: Path) -> None:
    (segmentation_folder / "train.txt").write_text("tile_0\nghost\n")
    with pytest.raises(DataError, match="ghost"):
        build_geotiff_segmentation(
            data_root=segmentation_folder,
            images="imgs",
            labels="masks",
            classes="a,b,c",
            split_files={"train": "train.txt"},
        )


def test_split_samples_train_only_split_file_takes_val_from_train(segmentation_folder: Path) -> None:
    from geofm_datasets.segmentation.dataset import SegmentationSample

    samples = [SegmentationSample(f"s{i}", Path(f"s{i}.tif"), Path(f"s{i}_mask.tif")) for i in range(10)]
    (segmentation_folder / "train.txt").write_text("\n".join(f"s{i}" for i in range(8)))
    result = split_samples(samples, split_files={"train": segmentation_folder / "train.txt"}, val_fraction=0.25)
    assert len(result["train"]) == 6 and len(result["val"]) == 2
    assert not {s.id for s in result["train"]} & {s.id for s in result["val"]}


def test_meta_nan_without_crs(tmp_path: Path, write_tif) -> None:
    for i in range(2):
        write_tif(tmp_path / "images" / f"t{i}.tif", np.ones((1, 8, 8), np.float32) * i, crs=None)
        write_tif(tmp_path / "labels" / f"t{i}.tif", np.zeros((8, 8), np.uint8), crs=None)
    module = build_geotiff_segmentation(
        data_root=tmp_path, file_bands=["RED"], classes="x", mean=(0.0,), std=(1.0,), batch_size=2, val_fraction=0
    )
    assert module.gsd is None
    module.setup("fit")
    meta = next(iter(module.train_dataloader()))["meta"]
    assert torch.isnan(meta["timestamps"]).all() and torch.isnan(meta["center_latlon"]).all()
    assert math.isnan(meta["gsd"][0].item())
