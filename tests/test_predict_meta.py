"""Predict calls the model with the batch metadata the data pipeline gives a sample of the same file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
torch = pytest.importorskip("torch")

from geofm.data import center_latlon  # noqa: E402
from geofm.predict import LoadedRun, predict  # noqa: E402
from geofm.testing import write_geotiff  # noqa: E402

BANDS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
MEAN = [1000.0, 1100.0, 1200.0, 2500.0, 1800.0, 1300.0]
STD = [300.0, 320.0, 400.0, 800.0, 600.0, 500.0]
CLASSES = ("water", "land", "cloud")
SIZE = 64
CHIPS = (  # file stem (a date as the datasets read it), CRS, origin, pixel size
    ("chip_20210729", "EPSG:32633", (500000.0, 4500000.0), 30.0),
    ("scene_2019-05-03_s2", "EPSG:32618", (300000.0, 4700000.0), 10.0),
    ("HLS.S30.T10SEG.2019123T101031.v2.0", "EPSG:4326", (-122.5, 37.8), 0.0003),
)


def loaded_run(tmp_path: Path, model: torch.nn.Module, frames: int = 1, bands: list[str] = BANDS) -> LoadedRun:
    """A LoadedRun around ``model`` as :func:`geofm.predict.load_run` returns it."""
    return LoadedRun(
        model=model.eval(),
        config={"backbone": {"name": "test_backbone"}, "decoder": {"name": "test_decoder"}},
        band_names=tuple(bands),
        mean=tuple(MEAN[: len(bands)]),
        std=tuple(STD[: len(bands)]),
        task_type="segmentation",
        class_names=CLASSES,
        num_classes=len(CLASSES),
        checkpoint=tmp_path / "best.ckpt",
        run_dir=tmp_path,
        num_frames=frames,
    )


def write_dataset(root: Path, chips: Any = CHIPS, bands: int = len(BANDS), **options: Any) -> None:
    """Image chips and labels of a geotiff_segmentation dataset under ``root``; every chip is in val."""
    rng = np.random.default_rng(0)
    for folder in ("images", "labels"):
        (root / folder).mkdir(parents=True)
    for name, crs, origin, resolution in chips:
        where = {"crs": crs, "origin": origin, "resolution": resolution}
        image = rng.normal(1500, 600, size=(bands, SIZE, SIZE)).astype(np.float32)
        write_geotiff(root / "images" / f"{name}.tif", image, **where, **options)
        write_geotiff(root / "labels" / f"{name}.tif", rng.integers(0, 3, (SIZE, SIZE)).astype(np.uint8), **where)
    (root / "train.txt").write_text(chips[0][0], encoding="utf-8")
    (root / "val.txt").write_text("\n".join(chip[0] for chip in chips), encoding="utf-8")


def validation_batch(root: Path, **dataset: Any) -> tuple[list[Path], dict[str, Any]]:
    """The files and the collated validation batch of a ``geotiff_segmentation`` data module over ``root``."""
    from geofm.config import validate_config
    from geofm.resolve import resolve_run

    splits = {"train": str(root / "train.txt"), "val": str(root / "val.txt")}
    options = {"classes": list(CLASSES), "bands": BANDS, "file_bands": BANDS, "mean": MEAN, "std": STD, **dataset}
    config = validate_config(
        {
            "backbone": {"name": "prithvi_eo_v2_tiny_tl", "weights": "none"},
            "dataset": {
                "name": "geotiff_segmentation",
                "data_root": str(root),
                "num_workers": 0,
                "split_files": splits,
                **options,
            },
        }
    )
    datamodule = resolve_run(config).datamodule
    datamodule.setup("validate")
    batch = next(iter(datamodule.val_dataloader()))
    files = [Path(sample.image) for sample in datamodule.dataset("val").samples]
    assert len(files) == len(batch["image"])
    return files, batch


class Recording(torch.nn.Module):
    """A model that records the metadata of each call and answers zeros of a segmentation output."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, torch.Tensor]] = []

    def forward(self, image: torch.Tensor, **meta: torch.Tensor) -> torch.Tensor:
        self.calls.append({key: value.clone() for key, value in meta.items()})
        return image.new_zeros(image.shape[0], len(CLASSES), *image.shape[-2:])


def test_predict_equals_the_models_validation_prediction_of_a_time_and_place_aware_backbone(tmp_path: Path) -> None:
    from geofm.compose import build_model

    torch.manual_seed(0)
    model = build_model(
        "prithvi_eo_v2_tiny_tl",
        "upernet",
        task="segmentation",
        num_classes=3,
        weights="none",
        bands=BANDS,
        num_frames=1,
    ).eval()
    write_dataset(tmp_path / "data")
    files, batch = validation_batch(tmp_path / "data")
    image, meta = batch["image"], batch["meta"]
    with torch.inference_mode():
        validated = model(image, **meta).softmax(1)
        without = model(image).softmax(1)
        later = {**meta, "timestamps": meta["timestamps"] + 200 * 86400.0}
        moved = {**meta, "center_latlon": meta["center_latlon"] + 20.0}
        assert (model(image, **later).softmax(1) - validated).abs().max() > 1e-3  # the model reads the time ...
        assert (model(image, **moved).softmax(1) - validated).abs().max() > 1e-3  # ... and the place
    assert (validated - without).abs().max() > 1e-3

    loaded = loaded_run(tmp_path, model)
    options = {"tile_size": SIZE, "overlap": 0, "loaded": loaded, "device": "cpu"}
    probabilities = predict(None, files, tmp_path / "p", output="probabilities", **options)
    classes = predict(None, files, tmp_path / "c", **options)
    assert [p.name for p in probabilities] == [p.name for p in classes] == sorted(f"{f.stem}_pred.tif" for f in files)
    changed = 0
    for p_path, c_path in zip(probabilities, classes, strict=True):
        index = [f"{f.stem}_pred.tif" for f in files].index(p_path.name)
        with rasterio.open(p_path) as src:
            predicted = src.read()
        with rasterio.open(c_path) as src:
            predicted_class = src.read(1)
        np.testing.assert_allclose(predicted, validated[index].numpy(), atol=1e-5)
        assert np.abs(predicted - without[index].numpy()).max() > 1e-3
        assert (predicted_class == validated[index].argmax(0).numpy()).all()
        changed += int((predicted_class != without[index].argmax(0).numpy()).sum())
    assert changed > 0  # the metadata changes the class of some pixels


def test_meta_has_the_batch_keys_dtypes_and_shapes_and_each_tile_its_own_centre(tmp_path: Path) -> None:
    model = Recording()
    scene = tmp_path / "scene_20200615.tif"
    data = np.random.default_rng(1).normal(1500, 600, size=(len(BANDS), SIZE, 2 * SIZE)).astype(np.float32)
    write_geotiff(scene, data, crs="EPSG:32633", origin=(500000.0, 4500000.0), resolution=30.0)
    predict(None, [scene], tmp_path / "out", tile_size=SIZE, overlap=0, loaded=loaded_run(tmp_path, model))
    (meta,) = model.calls
    assert {key: (tuple(value.shape), value.dtype) for key, value in meta.items()} == {
        "timestamps": ((2, 1), torch.float64),
        "center_latlon": ((2, 2), torch.float32),
        "gsd": ((2,), torch.float32),
    }
    assert meta["timestamps"].tolist() == [[1592179200.0]] * 2  # 2020-06-15 UTC, from the file name
    assert meta["gsd"].tolist() == [30.0, 30.0]
    with rasterio.open(scene) as src:
        crs, transform = src.crs, src.transform
    from rasterio.warp import transform as reproject

    for index, col in enumerate((0, SIZE)):  # each tile's own centre, not the scene's
        x, y = transform * (col + SIZE / 2, SIZE / 2)
        (lon,), (lat,) = reproject(crs, "EPSG:4326", [x], [y])
        expected = torch.tensor([lat, lon], dtype=torch.float32)
        assert torch.equal(meta["center_latlon"][index], expected)
        assert (lat, lon) == center_latlon(crs, transform, SIZE, SIZE, col_off=col)
    assert meta["center_latlon"][0, 1] < meta["center_latlon"][1, 1]  # the east tile lies east
    scene_centre = center_latlon(crs, transform, SIZE, 2 * SIZE)
    assert not torch.equal(meta["center_latlon"][0], torch.tensor(scene_centre, dtype=torch.float32))


def test_what_a_file_does_not_tell_is_nan_as_in_the_pipeline(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, [("nowhere", None, (0.0, 0.0), 1.0), ("undated", "EPSG:32633", (500000.0, 4500000.0), 30.0)])
    files, batch = validation_batch(root)
    model = Recording()
    predict(None, files, tmp_path / "out", tile_size=SIZE, overlap=0, loaded=loaded_run(tmp_path, model))
    assert sorted(path.stem for path in files) == ["nowhere", "undated"]
    for stem, meta in zip(sorted(f.stem for f in files), model.calls, strict=True):  # predicted in name order
        index = [f.stem for f in files].index(stem)
        assert set(meta) == set(batch["meta"])
        for key, value in meta.items():
            np.testing.assert_array_equal(value[0].numpy(), batch["meta"][key][index].numpy(), err_msg=key)
    first, second = model.calls
    assert math.isnan(first["timestamps"].item()) and first["center_latlon"].isnan().all() and first["gsd"].isnan()
    assert math.isnan(second["timestamps"].item()) and not second["center_latlon"].isnan().any()


def test_time_steps_of_one_file_are_dated_by_their_band_tags_as_the_dataset_reads_them(tmp_path: Path) -> None:
    frames, dates = 3, ("2021-03-01", "2021-06-15T10:20:30", "2021-09-30")
    root = tmp_path / "data"
    write_dataset(root, CHIPS[:2], bands=frames * len(BANDS))
    for name, *_ in CHIPS[:2]:
        with rasterio.open(root / "images" / f"{name}.tif", "r+") as dst:
            for step, date in enumerate(dates):
                dst.update_tags(step * len(BANDS) + 1, ACQUISITION_DATE=date)
    files, batch = validation_batch(root, num_frames=frames)
    model = Recording()
    options = {"tile_size": SIZE, "overlap": 0, "batch_size": 2}
    predict(None, files, tmp_path / "out", loaded=loaded_run(tmp_path, model, frames=frames), **options)
    assert len(model.calls) == len(files)
    for stem, meta in zip(sorted(f.stem for f in files), model.calls, strict=True):  # predicted in name order
        index = [f.stem for f in files].index(stem)
        assert set(meta) == set(batch["meta"])
        for key, value in meta.items():
            assert torch.equal(value[0], batch["meta"][key][index]), key
    stamps = batch["meta"]["timestamps"][0].tolist()
    assert stamps[1] - stamps[0] == pytest.approx(106 * 86400 + 37230)  # per step, not the file name's date
