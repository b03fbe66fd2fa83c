"""The generated demo dataset: deterministic, cached, valid GeoTIFFs, learnable layout."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geofm.data import build_dataset
from geofm.data.generated import split_counts
from geofm.errors import DataError
from geofm_datasets import demo
from geofm_datasets.demo import MARKER, demo_root, generate_demo
from geofm_datasets.segmentation.specs import DEMO_SPEC

build_demo = partial(build_dataset, DEMO_SPEC)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = generate_demo(tmp_path / "a", num_scenes=4, size=32)
    second = generate_demo(tmp_path / "b", num_scenes=4, size=32)
    files_a, files_b = _files(first), _files(second)
    assert len([f for f in files_a if f.startswith("images/")]) == 4
    assert files_a == files_b


def test_generation_is_cached_and_regenerated_on_version_change(tmp_path: Path) -> None:
    root = generate_demo(tmp_path / "demo", num_scenes=4, size=32)
    image = next((root / "images").glob("*.tif"))
    mtime = image.stat().st_mtime_ns
    assert generate_demo(tmp_path / "demo", num_scenes=4, size=32) == root
    assert image.stat().st_mtime_ns == mtime
    assert generate_demo.__self__.version == demo.DEMO_VERSION
    changed = dataclasses.replace(generate_demo.__self__, version="changed")  # the generator of another version
    changed.generate(tmp_path / "demo", num_scenes=4, size=32)
    assert json.loads((root / MARKER).read_text())["version"] == "changed"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_refuses_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep")
    with pytest.raises(DataError, match="not a geofm demo folder"):
        generate_demo(tmp_path / "mine", num_scenes=4, size=32)
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep"


def test_default_root_under_geofm_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path))
    assert demo_root() == tmp_path / "datasets" / "demo"


def test_default_splits_are_32_8_8() -> None:
    assert split_counts(48) == (32, 8, 8)


def test_files_are_valid_geotiffs(small_demo: Path) -> None:
    images = sorted((small_demo / "images").glob("*.tif"))
    assert len(images) == 12
    splits = {s: (small_demo / "splits" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    assert [len(v) for v in splits.values()] == [8, 2, 2]
    origins, saw_nodata = set(), False
    for path in images:
        with rasterio.open(path) as src:
            assert src.crs.to_epsg() == 32633
            assert src.res == (30.0, 30.0)
            assert src.count == 6 and src.dtypes[0] == "int16" and src.nodata == -9999
            assert src.descriptions == ("B02", "B03", "B04", "B8A", "B11", "B12")
            assert "TIFFTAG_DATETIME" in src.tags()
            origins.add((src.transform.c, src.transform.f))
            image = src.read()
        with rasterio.open(small_demo / "labels" / f"{path.stem}_mask.tif") as lab:
            assert lab.transform == src.transform and lab.dtypes[0] == "uint8"
            label = lab.read(1)
        nodata = (image == -9999).any(axis=0)
        np.testing.assert_array_equal(nodata, label == 255)
        saw_nodata |= bool(nodata.any())
        assert set(np.unique(label)) <= {0, 1, 2, 3, 255}
        valid = image[:, ~nodata]
        assert valid.min() >= 1 and valid.max() <= 10000
    assert saw_nodata
    assert len(origins) == 12


def test_class_spectra_are_plausible(small_demo: Path) -> None:
    means = {c: [] for c in range(4)}
    for path in sorted((small_demo / "images").glob("*.tif")):
        image = rasterio.open(path).read().astype(float)
        label = rasterio.open(small_demo / "labels" / f"{path.stem}_mask.tif").read(1)
        for c in range(4):
            if (label == c).sum() > 20:
                means[c].append(image[:, label == c].mean(axis=1))
    water, veg, soil, _built = (np.mean(means[c], axis=0) for c in range(4))
    assert water[3] < 1000 and water[4] < 600  # dark NIR / SWIR
    assert veg[3] > 2.5 * veg[2]  # red edge
    assert soil[4] > soil[2] > soil[0]  # rising to SWIR


def test_build_demo_uses_saved_stats(small_demo: Path) -> None:
    module = build_demo(data_root=small_demo, num_scenes=12, size=64, bands=["SWIR_2", "BLUE"])
    saved = json.loads((small_demo / "stats.json").read_text())
    assert module.mean == (saved["mean"][5], saved["mean"][0])
    assert module.std == (saved["std"][5], saved["std"][0])
    assert module.band_names == ("SWIR_2", "BLUE")
    assert module.class_names == ("water", "vegetation", "bare_soil", "built_up")
    assert module.num_classes == 4 and module.ignore_index == 255 and module.gsd == 30.0
    assert module.spec.name == "demo"


def test_demo_is_learnable_beyond_majority_class(small_demo: Path) -> None:
    import torch

    torch.manual_seed(0)
    module = build_demo(data_root=small_demo, num_scenes=12, size=64, batch_size=8)
    module.setup("fit")
    train = next(iter(module.train_dataloader()))
    val = next(iter(module.val_dataloader()))
    pixels = train["image"].permute(0, 2, 3, 1).reshape(-1, 6)
    labels = train["mask"].reshape(-1)
    keep = labels != 255
    chosen = torch.randperm(int(keep.sum()))[:4000]
    pixels, labels = pixels[keep][chosen], labels[keep][chosen]
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(pixels), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    def miou(pred: torch.Tensor, target: torch.Tensor) -> float:
        keep = target != 255
        ious = []
        for c in range(4):
            union = ((pred == c) | (target == c))[keep].sum().item()
            if union:
                ious.append(((pred == c) & (target == c))[keep].sum().item() / union)
        return float(np.mean(ious))

    target = val["mask"]
    majority = torch.bincount(target[target != 255], minlength=4).argmax()
    baseline = miou(torch.full_like(target, int(majority)), target)
    with torch.no_grad():
        learned = miou(model(val["image"].permute(0, 2, 3, 1)).argmax(-1), target)
    print(f"majority mIoU {baseline:.3f}, per-pixel MLP mIoU {learned:.3f}")
    assert learned > baseline + 0.25
    assert learned < 0.98  # not trivial pixel by pixel: noise, mixed pixels and built-up texture
