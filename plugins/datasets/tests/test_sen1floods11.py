"""Sen1Floods11 in the publisher's layout: the real chip, generated chips, missing data, ignored pixels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset
from geofm.errors import ConfigError, DataError
from geofm_datasets.named.specs import SEN1FLOODS11_SPEC

build_sen1floods11 = partial(build_dataset, SEN1FLOODS11_SPEC)

REAL = (Path(__file__).parents[3] / ".." / "shared" / "data" / "real" / "sen1floods11").resolve()
CHIP = "Spain_7370579"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real Sen1Floods11 sample not found at {REAL} (shared data absent)"
)
HAND = Path("v1.1/data/flood_events/HandLabeled")
SPLITS = Path("v1.1/splits/flood_handlabeled")
S2_FILE_ORDER = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def _split_lists(root: Path, ids: dict[str, list[str]]) -> None:
    (root / SPLITS).mkdir(parents=True, exist_ok=True)
    for split, names in ids.items():
        lines = "".join(f"{i}_S1Hand.tif,{i}_LabelHand.tif\n" for i in names)
        (root / SPLITS / f"flood_{split}_data.csv").write_text(lines)


@pytest.fixture
def real_root(tmp_path: Path) -> Path:
    """The real chip laid out as the v1.1 bucket (symlinks), train = valid = test = bolivia = the chip."""
    for folder, source in (("S2Hand", "S2"), ("S1Hand", "S1"), ("LabelHand", "Labels")):
        (tmp_path / HAND / folder).mkdir(parents=True)
        name = f"{CHIP}_{folder}.tif"
        (tmp_path / HAND / folder / name).symlink_to(REAL / source / name)
    _split_lists(tmp_path, {s: [CHIP] for s in ("train", "valid", "test", "bolivia")})
    return tmp_path


@needs_real
def test_real_chip_band_order_ignore_pixels_and_class_counts(real_root: Path) -> None:
    import rasterio

    s2 = real_root / HAND / "S2Hand" / f"{CHIP}_S2Hand.tif"
    with rasterio.open(s2) as src:
        assert src.descriptions == S2_FILE_ORDER  # the publisher's band order, named in the file
        raw = src.read().astype(np.float32)
    module = build_sen1floods11(
        data_root=real_root, bands="B2,B3,B4,B8A,B11,B12", mean=[0.0] * 6, std=[1.0] * 6, batch_size=1
    )
    assert module.band_names == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    assert module.class_names == ("not_water", "water") and module.ignore_index == 255
    assert {k: [s.id for s in v] for k, v in module.samples.items()} == {s: [CHIP] for s in ("train", "val", "test")}
    sample = module.dataset("test")[0]
    assert sample["image"].shape == (6, 512, 512)
    files_indexes = [S2_FILE_ORDER.index(b) for b in ("B2", "B3", "B4", "B8A", "B11", "B12")]
    assert files_indexes == [1, 2, 3, 8, 11, 12]
    assert torch.equal(sample["image"], torch.from_numpy(raw[files_indexes]))
    counts = torch.bincount(sample["mask"].flatten(), minlength=256)
    assert (counts[255].item(), counts[0].item(), counts[1].item()) == (99, 192_010, 70_035)
    assert counts.sum() == 512 * 512
    with rasterio.open(real_root / HAND / "LabelHand" / f"{CHIP}_LabelHand.tif") as src:
        label = src.read(1)
    assert torch.equal(sample["mask"] == 255, torch.from_numpy(label == -1))
    spain_s2 = datetime(2019, 9, 18, tzinfo=timezone.utc).timestamp()  # the event's S2 date (metadata)
    assert sample["meta"]["timestamps"].tolist() == [spain_s2]
    lat, lon = sample["meta"]["center_latlon"].tolist()
    assert 36 < lat < 44 and -10 < lon < 4  # Spain


@needs_real
def test_real_chip_s1s2_stacks_fifteen_bands(real_root: Path) -> None:
    import rasterio

    module = build_sen1floods11(data_root=real_root, modality="s1s2", mean=[0.0] * 15, std=[1.0] * 15)
    assert module.band_names[-2:] == ("VV", "VH") and len(module.band_names) == 15
    image = module.dataset("val")[0]["image"]
    with rasterio.open(real_root / HAND / "S1Hand" / f"{CHIP}_S1Hand.tif") as src:
        assert src.descriptions == ("VV", "VH")
        sar = src.read()
    assert torch.equal(image[13:], torch.from_numpy(sar))
    by_bands = build_sen1floods11(data_root=real_root, bands="VH,B8A")  # mixed bands: s1s2 on their own
    assert by_bands.band_names == ("VH", "NIR_NARROW")
    assert build_sen1floods11(data_root=real_root, bands="VV,VH").file_bands == ("VV", "VH")


@pytest.fixture
def generated_root(tmp_path: Path, write_tif: Callable[..., Path]) -> Path:
    """Four 16x16 chips in the official layout; S1 has a NaN pixel, labels hold -1, 0 and 1."""
    rng = np.random.default_rng(0)
    ids = ["Bolivia_1", "Ghana_2", "India_3", "Bolivia_4"]
    for number, chip in enumerate(ids):
        s2 = rng.integers(500, 3000, size=(13, 16, 16)).astype(np.int16)
        s1 = rng.normal(-12, 3, size=(2, 16, 16)).astype(np.float32)
        s1[:, 2, 3] = np.nan
        label = rng.integers(0, 2, size=(16, 16)).astype(np.int16)
        label[0, :4] = -1
        crs, transform = "EPSG:4326", None
        from affine import Affine

        transform = Affine(0.0001, 0, -65 + number, 0, -0.0001, -15)
        write_tif(tmp_path / HAND / "S2Hand" / f"{chip}_S2Hand.tif", s2, crs=crs, transform=transform, nodata=0)
        write_tif(tmp_path / HAND / "S1Hand" / f"{chip}_S1Hand.tif", s1, crs=crs, transform=transform)
        write_tif(tmp_path / HAND / "LabelHand" / f"{chip}_LabelHand.tif", label, crs=crs, transform=transform)
    _split_lists(tmp_path, {"train": ids[:2], "valid": ids[2:3], "test": ids[3:], "bolivia": [ids[0], ids[3]]})
    return tmp_path


def test_generated_chips_modalities_nodata_and_bolivia(generated_root: Path) -> None:
    s2 = build_sen1floods11(data_root=generated_root, batch_size=2)
    assert len(s2.band_names) == 13 and s2.file_bands == S2_FILE_ORDER
    assert [s.id for s in s2.samples["val"]] == ["India_3"]
    s2.setup("fit")
    batch = next(iter(s2.train_dataloader()))
    assert batch["image"].shape == (2, 13, 16, 16) and batch["mask"].eq(255).sum() == 2 * 4
    both = build_sen1floods11(data_root=generated_root, modality="s1s2", batch_size=2)
    sample = both.dataset("val")[0]
    assert sample["image"].shape == (15, 16, 16)
    assert sample["mask"][2, 3] == 255 and sample["mask"].eq(255).sum() == 5  # S1 NaN pixel ignored too
    assert sample["image"][:, 2, 3].eq(0).all()
    only_s1 = build_sen1floods11(data_root=generated_root, modality="s1")
    assert only_s1.band_names == ("VV", "VH")
    bolivia = build_sen1floods11(data_root=generated_root, test_split="bolivia")
    assert [s.id for s in bolivia.samples["test"]] == ["Bolivia_1", "Bolivia_4"]
    day = bolivia.dataset("test")[0]["meta"]["timestamps"].item()
    assert day == datetime(2018, 2, 15, tzinfo=timezone.utc).timestamp()
    with pytest.raises(ConfigError, match="modality 's3'"):
        build_sen1floods11(data_root=generated_root, modality="s3")
    with pytest.raises(DataError, match=r"with modality s1 has no band BLUE .* use modality s1s2"):
        build_sen1floods11(data_root=generated_root, modality="s1", bands="B2")
    with pytest.raises(ConfigError, match=r"unknown option.*known: .*modality"):
        build_sen1floods11(data_root=generated_root, modalty="s1")


def test_missing_data_says_what_where_and_how_to_get_it(tmp_path: Path, generated_root: Path) -> None:
    with pytest.raises(DataError) as info:
        build_sen1floods11(data_root=tmp_path / "nowhere")
    message = str(info.value)
    assert "dataset sen1floods11 is not at" in message
    assert "HandLabeled" in message and "flood_train_data.csv" in message  # what is missing and the layout
    assert "gsutil" in message and "gs://sen1floods11" in message  # where to download
    (generated_root / HAND / "S1Hand" / "Ghana_2_S1Hand.tif").unlink()
    with pytest.raises(DataError, match=r"missing train file\(s\) .*Ghana_2_S1Hand.tif"):
        build_sen1floods11(data_root=generated_root, modality="s1s2")
    (generated_root / SPLITS / "flood_test_data.csv").unlink()
    with pytest.raises(DataError, match=r"missing v1\.1/splits/flood_handlabeled/flood_test_data\.csv"):
        build_sen1floods11(data_root=generated_root)


def test_segmentation_task_excludes_ignored_pixels_from_loss_and_metrics() -> None:
    from geofm.tasks.segmentation import SegmentationTask

    torch.manual_seed(0)
    logits = torch.randn(2, 2, 8, 8)
    mask = torch.randint(0, 2, (2, 8, 8))
    mask[0, :3] = 255
    task = SegmentationTask(torch.nn.Identity(), num_classes=2, ignore_index=255)
    kept = mask != 255
    expected = torch.nn.functional.cross_entropy(logits.permute(0, 2, 3, 1)[kept], mask[kept])
    assert torch.allclose(task.compute_loss(logits, mask), expected)
    scrambled = logits.clone()
    scrambled[0, :, :3] = torch.randn(2, 3, 8) * 100  # predictions on ignored pixels must not matter
    for output in (logits, scrambled):
        metrics = task.build_metrics()
        task.update_metrics(metrics, output, mask)
        values = task.expand_metrics(metrics.compute())
        accuracy = (logits.argmax(1)[kept] == mask[kept]).float().mean()
        assert values["accuracy"] == pytest.approx(accuracy.item())
