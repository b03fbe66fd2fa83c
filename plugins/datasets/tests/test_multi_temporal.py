"""Multi-temporal input: files of T x C bands, one file per time step, stacked files; the crop dataset."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset
from geofm.errors import ConfigError, DataError
from geofm_datasets.segmentation.specs import GEOTIFF_SEGMENTATION_SPEC

build_geotiff_segmentation = partial(build_dataset, GEOTIFF_SEGMENTATION_SPEC)

REAL = (Path(__file__).parents[3] / ".." / "shared" / "data" / "real").resolve()
CROP = REAL / "multi_temporal_crop"
needs_crop = pytest.mark.skipif(
    not CROP.is_dir(), reason=f"real multi-temporal crop chips not found at {CROP} (shared data absent)"
)
HLS = ("B02", "B03", "B04", "B8A", "B11", "B12")


def _day(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def _crop_layout(tmp_path: Path, write_tif: Callable[..., Path]) -> Path:
    """The real chips as the publisher lays them out, with generated masks (values 0..13) and id lists."""
    import rasterio

    chips = sorted(CROP.glob("chip_*_merged.tif"))
    rng = np.random.default_rng(0)
    for folder, items in (("training_chips", chips[:2]), ("validation_chips", chips[2:])):
        for chip in items:
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / chip.name).symlink_to(chip)
            with rasterio.open(chip) as src:
                crs, transform = src.crs, src.transform
            mask = rng.integers(0, 14, size=(224, 224)).astype(np.uint8)
            write_tif(
                tmp_path / folder / chip.name.replace("_merged.tif", ".mask.tif"), mask, crs=crs, transform=transform
            )
    (tmp_path / "training_data.txt").write_text("".join(c.name[: -len("_merged.tif")] + "\n" for c in chips[:2]))
    (tmp_path / "validation_data.txt").write_text(chips[2].name[: -len("_merged.tif")] + "\n")
    return tmp_path


@needs_crop
def test_real_crop_chips_load_as_c_t_h_w_through_the_generic_path(
    tmp_path: Path, write_tif: Callable[..., Path]
) -> None:
    import rasterio

    for chip in sorted(CROP.glob("chip_*_merged.tif")):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "images" / chip.name).symlink_to(chip)
        write_tif(tmp_path / "labels" / chip.name.replace("_merged.tif", ".mask.tif"), np.ones((224, 224), np.uint8))
    module = build_geotiff_segmentation(
        data_root=tmp_path,
        num_frames=3,
        file_bands=HLS,
        sensor="hls_s30",
        image_suffix="_merged",
        classes="a,b",
        val_fraction=0.34,
        mean=[0.0] * 6,
        std=[1.0] * 6,
        batch_size=2,
    )
    assert module.num_frames == 3
    assert module.band_names == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    sample = module.dataset("val")[0]
    assert sample["image"].shape == (6, 3, 224, 224)
    raw = rasterio.open(module.samples["val"][0].image).read().astype(np.float32)
    assert torch.equal(sample["image"], torch.from_numpy(raw.reshape(3, 6, 224, 224).transpose(1, 0, 2, 3).copy()))
    assert sample["meta"]["timestamps"].shape == (3,)  # no dates in these files: NaN per step
    assert torch.isnan(sample["meta"]["timestamps"]).all()
    lat, lon = sample["meta"]["center_latlon"].tolist()
    assert 24 < lat < 50 and -125 < lon < -66  # CONUS (EPSG:5070 reprojected)
    batch = next(iter(module.train_dataloader()))
    assert batch["image"].shape == (2, 6, 3, 224, 224)
    assert batch["meta"]["timestamps"].shape == (2, 3)
    nir = build_geotiff_segmentation(
        data_root=tmp_path, num_frames=3, file_bands=HLS, sensor="hls_s30", image_suffix="_merged",
        classes="a,b", val_fraction=0.34, bands="NIR_NARROW,RED", mean=[0, 0], std=[1, 1],
    )  # fmt: skip
    picked = nir.dataset("val")[0]["image"]
    assert picked.shape == (2, 3, 224, 224)
    assert torch.equal(picked[0, 1], torch.from_numpy(raw[6 + 3]))  # NIR of the second time step


@needs_crop
def test_multi_temporal_crop_dataset_in_the_publishers_layout(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    from functools import partial

    import rasterio

    from geofm.data import build_dataset
    from geofm_datasets.named.specs import MULTI_TEMPORAL_CROP_SPEC

    build_multi_temporal_crop = partial(build_dataset, MULTI_TEMPORAL_CROP_SPEC)

    root = _crop_layout(tmp_path, write_tif)
    module = build_multi_temporal_crop(data_root=root, batch_size=1)
    assert module.num_frames == 3 and module.num_classes == 13 and module.ignore_index == 255
    assert module.spec.num_frames == 3
    assert {k: len(v) for k, v in module.samples.items()} == {"train": 2, "val": 1, "test": 1}
    module.setup("fit")
    assert module.mean is not None and len(module.mean) == 6
    sample = module.dataset("val")[0]
    assert sample["image"].shape == (6, 3, 224, 224)
    raw = rasterio.open(module.samples["val"][0].label).read(1).astype(np.int64)
    expected = np.where(raw == 0, 255, raw - 1)  # 0 = no data; classes 1..13 -> 0..12
    assert torch.equal(sample["mask"], torch.from_numpy(expected))


@needs_crop
def test_pooled_statistics_of_a_time_series_file(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    import rasterio

    chip = sorted(CROP.glob("chip_*_merged.tif"))[0]
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / chip.name).symlink_to(chip)
    write_tif(tmp_path / "labels" / chip.name, np.zeros((224, 224), np.uint8))
    module = build_geotiff_segmentation(
        data_root=tmp_path, num_frames=3, file_bands=HLS, num_classes=2, val_fraction=0.0, bands="RED"
    )
    mean, std = module.compute_stats()
    red = rasterio.open(chip).read([3, 9, 15]).astype(np.float64)  # RED of the three time steps
    assert mean[0] == pytest.approx(red.mean(), rel=1e-6)
    assert std[0] == pytest.approx(red.std(), rel=1e-6)


@pytest.fixture
def frames_folder(tmp_path: Path, write_tif: Callable[..., Path]) -> Path:
    """3 places x 2 dates of 2-band 8x8 files (value = 10*step + band), dated names, labels per place."""
    for place in ("a", "b", "c"):
        for step, day in enumerate(("20220301", "20220615")):
            image = np.stack([np.full((8, 8), 10 * step + band, np.int16) for band in (1, 2)])
            write_tif(tmp_path / "images" / f"{place}_{day}.tif", image, descriptions=("B04", "B08"))
            write_tif(tmp_path / f"t{step}" / f"{place}.tif", image, descriptions=("B04", "B08"))
        write_tif(tmp_path / "labels" / f"{place}_mask.tif", np.full((8, 8), 1, np.uint8))
    return tmp_path


def test_frames_grouped_by_a_time_pattern(frames_folder: Path) -> None:
    module = build_geotiff_segmentation(
        data_root=frames_folder, frames="images/{id}_{time}.tif", classes="x,y", val_fraction=0.34,
        mean=[0, 0], std=[1, 1], sensor="sentinel2", bands="B08,B04",
    )  # fmt: skip
    assert module.num_frames == 3 - 1 and module.band_names == ("NIR_BROAD", "RED")
    assert sorted(s.id for items in module.samples.values() for s in items) == ["a", "b", "c"]
    sample = module.dataset("val")[0]
    assert sample["image"].shape == (2, 2, 8, 8)
    assert sample["image"][:, :, 0, 0].tolist() == [[2, 12], [1, 11]]  # band-major, time in order
    assert sample["meta"]["timestamps"].tolist() == [_day("2022-03-01"), _day("2022-06-15")]
    assert sample["mask"].eq(1).all()


def test_frames_as_one_pattern_per_time_step_and_checks(frames_folder: Path, write_tif: Callable[..., Path]) -> None:
    module = build_geotiff_segmentation(
        data_root=frames_folder, frames=["t0/{id}.tif", "t1/{id}.tif"], labels="labels/{id}_mask.tif",
        classes="x,y", val_fraction=0.0, mean=[0, 0], std=[1, 1],
    )  # fmt: skip
    assert module.num_frames == 2
    sample = module.dataset("train")[0]
    assert sample["image"][:, :, 0, 0].tolist() == [[1, 11], [2, 12]]
    assert math.isnan(sample["meta"]["timestamps"][0])  # t0/a.tif has no date
    with pytest.raises(ConfigError, match="num_frames=3 but the frames give 2"):
        build_geotiff_segmentation(
            data_root=frames_folder, frames="t0/{id}.tif,t1/{id}.tif", num_frames=3, classes="x,y"
        )
    (frames_folder / "t1" / "b.tif").unlink()
    with pytest.raises(DataError, match=r"lack their time-step files: b step 1"):
        build_geotiff_segmentation(data_root=frames_folder, frames=["t0/{id}.tif", "t1/{id}.tif"], classes="x,y")
    write_tif(frames_folder / "images" / "a_20220901.tif", np.zeros((2, 8, 8), np.int16), descriptions=("B04", "B08"))
    with pytest.raises(DataError, match="different numbers of time steps"):
        build_geotiff_segmentation(data_root=frames_folder, frames="images/{id}_{time}.tif", classes="x,y")


def test_stacked_files_add_their_bands(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    for i in range(3):
        write_tif(tmp_path / "opt" / f"s{i}_opt.tif", np.full((3, 8, 8), 100 + i, np.int16), descriptions=HLS[:3])
        sar = np.full((2, 8, 8), -10.0 - i, np.float32)
        sar[:, 0, 0] = np.nan  # no data in the stacked file: the pixel is ignored
        write_tif(tmp_path / "sar" / f"s{i}_sar.tif", sar, descriptions=("VV", "VH"))
        write_tif(tmp_path / "lab" / f"s{i}_lab.tif", np.zeros((8, 8), np.uint8))
    module = build_geotiff_segmentation(
        data_root=tmp_path, images="opt/{id}_opt.tif", stack="sar/{id}_sar.tif", labels="lab/{id}_lab.tif",
        classes="x,y", val_fraction=0.34, bands="VH,BLUE,VV", sensor="hls_s30", mean=[0, 0, 0], std=[1, 1, 1],
    )  # fmt: skip
    assert module.file_bands == (*HLS[:3], "VV", "VH") and module.num_frames == 1
    sample = module.dataset("val")[0]
    i = int(module.samples["val"][0].id[1])
    assert sample["image"].shape == (3, 8, 8)
    assert sample["image"][:, 1, 1].tolist() == [-10.0 - i, 100 + i, -10.0 - i]
    assert sample["mask"][0, 0] == 255 and sample["mask"].eq(0).sum() == 63
    train_ids = sorted(int(s.id[1]) for s in module.samples["train"])
    mean, _ = module.compute_stats()  # each file's own bands and nodata
    assert mean == pytest.approx([-10.0 - np.mean(train_ids), 100 + np.mean(train_ids), -10.0 - np.mean(train_ids)])
    with pytest.raises(ConfigError, match="stack takes patterns"):
        build_geotiff_segmentation(data_root=tmp_path, images="opt", stack="sar", classes="x,y")


def test_file_of_t_x_c_bands_is_checked_when_read(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    write_tif(tmp_path / "images" / "x.tif", np.zeros((5, 8, 8), np.int16))
    write_tif(tmp_path / "labels" / "x_mask.tif", np.zeros((8, 8), np.uint8))
    module = build_geotiff_segmentation(
        data_root=tmp_path, num_frames=2, file_bands="B02,B03", classes="a,b", val_fraction=0.0, mean=[0, 0], std=[1, 1]
    )
    with pytest.raises(DataError, match=r"x\.tif has 5 bands but the dataset declares 4 \(file_bands x num_frames\)"):
        module.dataset("train")[0]


def test_crop_layouts_without_lists_the_source_coop_variant_and_missing_data(
    tmp_path: Path, write_tif: Callable[..., Path]
) -> None:
    from functools import partial

    from geofm.data import build_dataset
    from geofm_datasets.named.specs import MULTI_TEMPORAL_CROP_SPEC

    build_multi_temporal_crop = partial(build_dataset, MULTI_TEMPORAL_CROP_SPEC)

    chip = np.arange(18, dtype=np.int16)[:, None, None] * np.ones((1, 8, 8), np.int16)
    mask = np.array([[0, 1, 13, 7]] * 2, np.uint8).repeat(4, axis=0).repeat(2, axis=1)
    for folder, name in (("training_chips", "chip_1_1"), ("validation_chips", "chip_2_2")):
        write_tif(tmp_path / "a" / folder / f"{name}_merged.tif", chip, nodata=-9999)
        write_tif(tmp_path / "a" / folder / f"{name}.mask.tif", mask)
        write_tif(tmp_path / "b" / "hls" / f"{name}_merged.tif", chip, nodata=-9999)
        write_tif(tmp_path / "b" / "masks" / f"{name}.mask.tif", mask)
    module = build_multi_temporal_crop(data_root=tmp_path / "a", mean=[0] * 6, std=[1] * 6)  # no id lists
    sample = module.dataset("val")[0]
    assert sample["image"][:, :, 0, 0].tolist() == [[c + 6 * t for t in range(3)] for c in range(6)]
    assert sample["mask"][0, :8].tolist() == [255, 255, 0, 0, 12, 12, 6, 6]
    (tmp_path / "b" / "training_data.txt").write_text("chip_1_1\n")
    (tmp_path / "b" / "validation_data.txt").write_text("chip_2_2_merged.tif\n")
    variant = build_multi_temporal_crop(data_root=tmp_path / "b")
    assert [s.id for s in variant.samples["train"]] == ["chip_1_1"]
    assert [s.id for s in variant.samples["val"]] == ["chip_2_2"]
    with pytest.raises(DataError) as info:
        build_multi_temporal_crop(data_root=tmp_path / "empty")
    message = str(info.value)
    assert "dataset multi_temporal_crop is not at" in message and "training_chips/" in message
    assert "ibm-nasa-geospatial/multi-temporal-crop-classification" in message
