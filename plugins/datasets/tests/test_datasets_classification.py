"""The generic classification datasets (geotiff_classification, geotiff_multilabel) on generated GeoTIFFs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset
from geofm.errors import ConfigError, DataError
from geofm.registry import get_registry
from geofm_datasets.classification.specs import GEOTIFF_CLASSIFICATION_SPEC, GEOTIFF_MULTILABEL_SPEC

build_geotiff_classification = partial(build_dataset, GEOTIFF_CLASSIFICATION_SPEC)
build_geotiff_multilabel = partial(build_dataset, GEOTIFF_MULTILABEL_SPEC)

BANDS = ("B04", "B03", "B02")  # described in the files: red, green, blue
UNIT = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def _image(write_tif: Callable[..., Path], path: Path, value: float, *, size: int = 8, bands: int = 3) -> Path:
    """An image whose band b holds value + b (so band order and class can be read back from the pixels)."""
    array = np.stack([np.full((size, size), value + b, np.float32) for b in range(bands)])
    return write_tif(path, array, descriptions=BANDS[:bands], nodata=-1.0)


@pytest.fixture
def class_folders(tmp_path: Path, write_tif: Callable[..., Path]) -> Path:
    """<root>/<class>/img_i.tif: 3 classes x 4 images; class k images hold 100 * (k + 1) + band."""
    for k, name in enumerate(("forest", "urban", "water")):
        for i in range(4):
            _image(write_tif, tmp_path / name / f"img_{i}.tif", 100.0 * (k + 1))
    return tmp_path


def test_folder_per_class(class_folders: Path) -> None:
    module = build_geotiff_classification(data_root=class_folders, batch_size=4, val_fraction=0.25, **UNIT)
    assert module.class_names == ("forest", "urban", "water") and module.num_classes == 3
    assert module.band_names == ("RED", "GREEN", "BLUE") and module.ignore_index is None and module.num_frames == 1
    assert {k: len(v) for k, v in module.samples.items()} == {"val": 3, "train": 9}
    assert module.spec.task == "classification" and module.spec.splits == ("train", "val")
    module.setup("fit")
    batch = next(iter(module.val_dataloader()))
    assert batch["image"].shape == (3, 3, 8, 8) and batch["image"].dtype == torch.float32
    assert batch["target"].dtype == torch.int64 and batch["target"].shape == (3,)
    # the class folder of each image is its target: class k images hold 100 * (k + 1)
    assert torch.equal(batch["image"][:, 0, 0, 0], 100.0 * (batch["target"].float() + 1))
    assert batch["meta"]["timestamps"].shape == (3, 1) and batch["meta"]["center_latlon"].shape == (3, 2)
    assert batch["meta"]["gsd"][0] == pytest.approx(30.0)
    with pytest.raises(DataError, match="no test split"):
        module.test_dataloader()


def test_split_subfolders_and_band_selection(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    for split, count in (("train", 3), ("val", 1), ("test", 2)):
        for k, name in enumerate(("a", "b")):
            for i in range(count):
                _image(write_tif, tmp_path / split / name / f"{split}_{i}.tif", 10.0 * (k + 1))
    module = build_geotiff_classification(data_root=tmp_path, bands=("BLUE", "RED"), **UNIT)
    assert {k: len(v) for k, v in module.samples.items()} == {"train": 6, "val": 2, "test": 4}
    assert module.band_names == ("BLUE", "RED")
    sample = module.dataset("test")[0]
    # BLUE is the third file band (value + 2), RED the first (value + 0)
    assert sample["image"][:, 0, 0].tolist() == [12.0, 10.0] and int(sample["target"]) == 0


def test_statistics_from_training_split_and_nodata(class_folders: Path, write_tif: Callable[..., Path]) -> None:
    array = np.full((3, 8, 8), 200.0, np.float32)
    array[:, 0, 0] = -1.0  # nodata pixel
    write_tif(class_folders / "urban" / "img_0.tif", array, descriptions=BANDS, nodata=-1.0)
    module = build_geotiff_classification(data_root=class_folders, val_fraction=0.0, flips=False)
    module.setup("fit")
    assert module.mean is not None and 100.0 < module.mean[0] < 300.0 and module.stats_source.startswith("computed")
    index = [s.id for s in module.samples["train"]].index("urban/img_0")
    image = module.dataset("train")[index]["image"]
    assert image[:, 0, 0].eq(0).all() and not image[:, 1, 1].eq(0).all()  # nodata -> 0 after normalising


def test_csv_multiclass_with_split_column(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    rows = ["path,label,split"]
    for i in range(6):
        _image(write_tif, tmp_path / "img" / f"{i}.tif", float(i))
        rows.append(f"img/{i}.tif,{'cloud' if i % 2 else 'clear'},{'train' if i < 4 else 'val'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    module = build_geotiff_classification(data_root=tmp_path, **UNIT)
    assert module.class_names == ("clear", "cloud")
    assert [s.id for s in module.samples["train"]] == ["img/0", "img/1", "img/2", "img/3"]
    assert [s.id for s in module.samples["val"]] == ["img/4", "img/5"]
    targets = {int(item["image"][0, 0, 0]): int(item["target"]) for item in module.dataset("val")}
    assert targets == {4: 0, 5: 1}


def test_csv_integer_labels_without_header_and_split_files(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    for i in range(4):
        _image(write_tif, tmp_path / f"s{i}.tif", float(i))
    (tmp_path / "list.csv").write_text("".join(f"s{i}.tif,{i % 3}\n" for i in range(4)))
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "train.txt").write_text("s0\ns1\ns2.tif\n")
    (tmp_path / "splits" / "val.txt").write_text("s3\n")
    module = build_geotiff_classification(data_root=tmp_path, csv="list.csv", num_classes=4, **UNIT)
    assert module.class_names == ("class_0", "class_1", "class_2", "class_3")
    assert [s.id for s in module.samples["val"]] == ["s3"]
    assert int(module.dataset("val")[0]["target"]) == 0


def test_csv_multilabel_lists_and_multi_hot_columns(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    labels = ["a;b", "b", "", "a;c", "c;b", "a"]
    for i in range(6):
        _image(write_tif, tmp_path / f"{i}.tif", float(i))
    (tmp_path / "labels.csv").write_text("path,labels\n" + "".join(f"{i}.tif,{t}\n" for i, t in enumerate(labels)))
    module = build_geotiff_multilabel(data_root=tmp_path, val_fraction=0.0, flips=False, **UNIT)
    assert module.spec.task == "multilabel_classification" and module.class_names == ("a", "b", "c")
    got = {int(item["image"][0, 0, 0]): item["target"].tolist() for item in module.dataset("train")}
    assert got[0] == [1.0, 1.0, 0.0] and got[2] == [0.0, 0.0, 0.0] and got[4] == [0.0, 1.0, 1.0]
    assert module.dataset("train")[0]["target"].dtype == torch.float32

    hot = "path,water,crop,split\n" + "".join(
        f"{i}.tif,{i % 2},{1 - i % 2},{'val' if i == 5 else 'train'}\n" for i in range(6)
    )
    (tmp_path / "hot.csv").write_text(hot)
    module = build_geotiff_multilabel(data_root=tmp_path, csv="hot.csv", **UNIT)
    assert module.class_names == ("water", "crop") and [s.id for s in module.samples["val"]] == ["5"]
    assert module.dataset("val")[0]["target"].tolist() == [1.0, 0.0]
    batch = next(iter(module.train_dataloader()))
    assert batch["target"].shape == (min(8, 5), 2)


def test_multiclass_refuses_several_labels(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    _image(write_tif, tmp_path / "0.tif", 0.0)
    (tmp_path / "labels.csv").write_text("path,label\n0.tif,a;b\n")
    with pytest.raises(DataError, match="geotiff_multilabel"):
        build_geotiff_classification(data_root=tmp_path)


def test_missing_data_names_the_dataset_and_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"(?s)geotiff_classification is not at .*class folders.*expected layout"):
        build_geotiff_classification(data_root=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="class folders"):
        build_geotiff_classification(data_root=tmp_path / "empty")


def test_wrong_band_count(class_folders: Path, write_tif: Callable[..., Path]) -> None:
    with pytest.raises(DataError, match="file_bands names 4 bands"):
        build_geotiff_classification(data_root=class_folders, file_bands="B02,B03,B04,B08")
    _image(write_tif, class_folders / "water" / "img_0.tif", 300.0, bands=2)
    module = build_geotiff_classification(data_root=class_folders, val_fraction=0.0, **UNIT)
    dataset = module.dataset("train")
    index = [s.id for s in dataset.samples].index("water/img_0")
    with pytest.raises(DataError, match=r"img_0\.tif has 2 bands"):
        dataset[index]


def test_image_size_resamples_and_mixed_sizes_fail_without_it(class_folders: Path, write_tif) -> None:
    _image(write_tif, class_folders / "forest" / "big.tif", 100.0, size=16)
    module = build_geotiff_classification(data_root=class_folders, val_fraction=0.0, flips=False, **UNIT)
    with pytest.raises(DataError, match="image_size"):
        for i in range(len(module.dataset("train"))):
            module.dataset("train")[i]
    module = build_geotiff_classification(
        data_root=class_folders, val_fraction=0.0, image_size=12, crop_size=10, **UNIT
    )
    dataset = module.dataset("train")
    ids = [s.id for s in dataset.samples]
    big, small = dataset[ids.index("forest/big")], dataset[ids.index("forest/img_0")]
    assert big["image"].shape == small["image"].shape == (3, 10, 10)
    assert float(big["meta"]["gsd"]) == pytest.approx(30.0 * 16 / 12)  # pixel size after resampling
    assert float(small["meta"]["gsd"]) == pytest.approx(30.0 * 8 / 12)


def test_registry_builds_with_contract_and_refuses_unknown_options(class_folders: Path) -> None:
    registry = get_registry("datasets")
    assert registry.get("geotiff_classification").task == "classification"
    assert registry.get("geotiff_multilabel").task == "multilabel_classification"
    spec = registry.get("geotiff_classification")
    module = build_dataset(spec, data_root=class_folders, batch_size=2, num_workers=0, seed=1)
    for attribute in ("spec", "band_names", "num_frames", "num_classes", "class_names", "ignore_index", "mean", "std"):
        assert hasattr(module, attribute)
    assert module.spec.distribution == "geofm-datasets"
    with pytest.raises(ConfigError, match="unknown option"):
        build_geotiff_classification(data_root=class_folders, colour="red")
