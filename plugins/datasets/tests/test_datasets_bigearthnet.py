"""BigEarthNet: the nomenclatures, and loading the real patches in the publisher's layout."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset, date_from_tags, raster_meta
from geofm.errors import ConfigError, DataError
from geofm_datasets.named.bigearthnet_classes import BAND_MEAN, BAND_STD, BANDS, CLASSES_19, CLASSES_43, TO_19
from geofm_datasets.named.specs import BIGEARTHNET_SPEC

build_bigearthnet = partial(build_dataset, BIGEARTHNET_SPEC)

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real" / "bigearthnet"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"the real BigEarthNet patches are not at {REAL} (a fresh clone without ../shared)"
)


def _patches() -> list[Path]:
    return sorted(p for p in REAL.iterdir() if p.is_dir())


def _labels(patch: Path) -> dict:
    return json.loads((patch / f"{patch.name}_labels_metadata.json").read_text())


def _link_patches(target: Path, patches: list[Path]) -> Path:
    """The real patches, symlinked (never copied) under ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for patch in patches:
        (target / patch.name).symlink_to(patch, target_is_directory=True)
    return target


def test_nomenclatures() -> None:
    assert len(CLASSES_43) == len(set(CLASSES_43)) == 43 and len(CLASSES_19) == len(set(CLASSES_19)) == 19
    assert set(TO_19) == set(CLASSES_43)
    dropped = {name for name, new in TO_19.items() if new is None}
    assert len(dropped) == 11 and {"Airports", "Bare rock", "Burnt areas", "Intertidal flats"} <= dropped
    assert {new for new in TO_19.values() if new is not None} == set(CLASSES_19)
    assert TO_19["Transitional woodland/shrub"] == "Transitional woodland, shrub"
    assert TO_19["Peatbogs"] == "Inland wetlands" and TO_19["Olive groves"] == "Permanent crops"
    assert BANDS[8] == "B8A" and set(BAND_MEAN) == set(BAND_STD) == set(BANDS)


@needs_real
def test_real_patches_load_multilabel_on_one_grid() -> None:
    module = build_bigearthnet(data_root=REAL, batch_size=4, flips=False)
    assert module.spec.task == "multilabel_classification" and module.class_names == CLASSES_19
    assert module.band_names[:4] == ("COASTAL_AEROSOL", "BLUE", "GREEN", "RED") and len(module.band_names) == 12
    assert sum(len(v) for v in module.samples.values()) == len(_patches()) and module.splits == ("train", "val", "test")
    assert module.stats_source.startswith("published") and module.mean[1] == pytest.approx(BAND_MEAN["B02"])
    module.setup("fit")
    for split in module.splits:
        dataset = module.dataset(split)
        for index, sample in enumerate(dataset.samples):
            item = dataset[index]
            assert item["image"].shape == (12, 120, 120) and item["image"].dtype == torch.float32
            record = _labels(REAL / sample.id)
            expected = {CLASSES_19.index(TO_19[n]) for n in record["labels"] if TO_19[n] is not None}
            assert set(item["target"].nonzero().flatten().tolist()) == expected, sample.id
            when = date_from_tags({"ACQUISITION_DATE": record["acquisition_date"]})
            assert float(item["meta"]["timestamps"][0]) == when.timestamp()
            lat, lon = raster_meta(sample.files[1]).center_latlon  # the B02 file's own georeferencing
            assert item["meta"]["center_latlon"].tolist() == pytest.approx([lat, lon], abs=1e-4)
            assert float(item["meta"]["gsd"]) == pytest.approx(10.0)
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (4, 12, 120, 120) and batch["target"].shape == (4, 19)
    assert batch["target"].dtype == torch.float32 and batch["meta"]["timestamps"].shape == (4, 1)


@needs_real
def test_real_band_order_and_resampling() -> None:
    import rasterio

    patch = _patches()[0]
    module = build_bigearthnet(
        data_root=REAL, bands=("B8A", "B02", "B01"), mean=(0, 0, 0), std=(1, 1, 1), val_fraction=0.0, test_fraction=0.0
    )
    assert module.band_names == ("NIR_NARROW", "BLUE", "COASTAL_AEROSOL")
    dataset = module.dataset("train")
    dataset.flips = False
    image = dataset[[s.id for s in dataset.samples].index(patch.name)]["image"].numpy()

    def native(band: str) -> np.ndarray:
        with rasterio.open(patch / f"{patch.name}_{band}.tif") as src:
            return src.read(1).astype(np.float32)

    np.testing.assert_array_equal(image[1], native("B02"))  # 10 m band: read as it is
    b8a, b01 = native("B8A"), native("B01")
    assert b8a.shape == (60, 60) and b01.shape == (20, 20)
    # upsampled bands: bilinear onto 120 x 120, so block means stay close to the native pixels
    blocks = image[0].reshape(60, 2, 60, 2).mean(axis=(1, 3))
    assert np.corrcoef(blocks.ravel(), b8a.ravel())[0, 1] > 0.95
    assert abs(image[2].mean() - b01.mean()) < 0.02 * b01.mean()
    assert np.corrcoef(image[0].ravel(), image[1].ravel())[0, 1] < np.corrcoef(blocks.ravel(), b8a.ravel())[0, 1]


@needs_real
def test_real_official_split_lists_43_classes_and_exclusions(tmp_path: Path) -> None:
    patches = _patches()
    root = _link_patches(tmp_path / "ben" / "BigEarthNet-v1.0", patches)
    names = [p.name for p in patches]
    (root.parent / "train.csv").write_text("\n".join(names[:8]) + "\n")
    (root.parent / "val.csv").write_text("\n".join(names[8:11]) + "\n")
    (root.parent / "test.csv").write_text("\n".join(f"{n},S1_counterpart" for n in names[11:]) + "\n")
    (root.parent / "patches_with_seasonal_snow.csv").write_text(names[0] + "\n")
    module = build_bigearthnet(data_root=root.parent, nomenclature=43)
    assert [s.id for s in module.samples["train"]] == names[1:8]
    assert [s.id for s in module.samples["val"]] == names[8:11]
    assert [s.id for s in module.samples["test"]] == names[11:]
    assert module.num_classes == 43 and module.spec.classes == CLASSES_43
    item = module.dataset("test")[0]
    record = _labels(patches[11])
    assert sorted(item["target"].nonzero().flatten().tolist()) == sorted(CLASSES_43.index(n) for n in record["labels"])


def test_missing_dataset_names_layout_and_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"(?s)dataset bigearthnet is not at .*_labels_metadata\.json.*bigearth\.net"):
        build_bigearthnet(data_root=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="bigearthnet is not at"):
        build_bigearthnet(data_root=tmp_path / "empty")


@needs_real
def test_split_list_naming_absent_patch_and_bad_options(tmp_path: Path) -> None:
    root = _link_patches(tmp_path / "ben", _patches()[:3])
    (root / "train.csv").write_text("S2A_MSIL2A_20990101T000000_1_1\n")
    with pytest.raises(DataError, match="not under"):
        build_bigearthnet(data_root=root)
    with pytest.raises(ConfigError, match="nomenclature"):
        build_bigearthnet(data_root=root, nomenclature=10)


@needs_real
def test_unknown_label_in_json(tmp_path: Path) -> None:
    source = _patches()[0]
    folder = tmp_path / "ben" / source.name
    folder.mkdir(parents=True)
    for band in BANDS:
        (folder / f"{source.name}_{band}.tif").symlink_to(source / f"{source.name}_{band}.tif")
    record = _labels(source)
    record["labels"] = ["Pastures", "Mixed forests"]
    (folder / f"{source.name}_labels_metadata.json").write_text(json.dumps(record))
    module = build_bigearthnet(data_root=tmp_path / "ben", val_fraction=0.0, test_fraction=0.0)
    with pytest.raises(DataError, match=r"Mixed forests.*did you mean 'Mixed forest'"):
        module.dataset("train")[0]


@needs_real
@pytest.mark.slow
def test_real_patches_train_a_multilabel_classifier_end_to_end(tmp_path: Path) -> None:
    import geofm

    summary = geofm.run(
        {
            "backbone": {"name": "tiny_vit", "weights": "none"},
            "decoder": {"name": "identity"},
            "dataset": {"name": "bigearthnet", "data_root": str(REAL), "batch_size": 4, "num_workers": 0},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": False},
            "seed": 0,
            "out": str(tmp_path / "runs"),
        }
    )
    assert summary["task"] == "multilabel_classification" and summary["necks"][0]["name"] == "token_pool"
    assert len(summary["bands"]) == 12 and summary["monitor"] == "val/map"
    for split in ("val", "test"):
        assert {"map", "f1", "loss"} <= set(summary[split]) and 0.0 <= summary[split]["map"] <= 1.0
    assert (Path(summary["run_dir"]) / "summary.json").is_file()
