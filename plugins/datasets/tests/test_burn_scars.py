"""HLS burn scars in the publisher's layout (generated chips), the tarball, and missing data."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from geofm.data import build_dataset
from geofm.errors import DataError
from geofm_datasets.named.specs import HLS_BURN_SCARS_SPEC

build_hls_burn_scars = partial(build_dataset, HLS_BURN_SCARS_SPEC)


def _chips(base: Path, write_tif: Callable[..., Path]) -> None:
    """2 training + 1 validation chip of 16 px: float reflectance, masks of 1/0 with -1 no data."""
    rng = np.random.default_rng(3)
    names = {"training": ["T10SGD.2018257", "T11TPF.2018289"], "validation": ["T10SGE.2020217"]}
    for folder, tiles in names.items():
        for tile in tiles:
            stem = f"subsetted_512x512_HLS.S30.{tile}.v1.4"
            image = rng.uniform(0.01, 0.4, size=(6, 16, 16)).astype(np.float32)
            mask = rng.integers(0, 2, size=(16, 16)).astype(np.int16)
            mask[5, :] = -1
            write_tif(base / folder / f"{stem}_merged.tif", image)
            write_tif(base / folder / f"{stem}.mask.tif", mask)


def test_burn_scars_splits_scale_and_ignored_labels(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    import rasterio

    _chips(tmp_path, write_tif)
    module = build_hls_burn_scars(data_root=tmp_path, mean=[0.0] * 6, std=[1.0] * 6, batch_size=2)
    assert module.band_names == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    assert module.class_names == ("not_burned", "burn_scar") and module.num_frames == 1
    assert {k: len(v) for k, v in module.samples.items()} == {"train": 2, "val": 1, "test": 1}
    sample = module.dataset("test")[0]
    path = module.samples["test"][0].image
    raw = rasterio.open(path).read()
    assert torch.allclose(sample["image"], torch.from_numpy(raw * 10000.0))  # reflectance x 10000, like HLS
    assert sample["mask"][5].eq(255).all() and sample["mask"].eq(255).sum() == 16
    assert set(sample["mask"].unique().tolist()) <= {0, 1, 255}
    day = datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() + 216 * 86400  # 2020217 in the name
    assert sample["meta"]["timestamps"].tolist() == [day]
    subset = build_hls_burn_scars(data_root=tmp_path, bands="B8A,B12", mean=[0, 0], std=[1, 1])
    assert torch.allclose(subset.dataset("val")[0]["image"], torch.from_numpy(raw[[3, 5]] * 10000.0))


def test_burn_scars_tarball_is_extracted_on_first_use(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    staging = tmp_path / "staging"
    _chips(staging / "hls_burn_scars", write_tif)
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "hls_burn_scars.tar.gz", "w:gz") as tar:
        tar.add(staging / "hls_burn_scars", arcname="hls_burn_scars")
    module = build_hls_burn_scars(data_root=root)
    assert (root / "hls_burn_scars" / "training").is_dir()
    assert module.samples["train"][0].image.parent == root / "hls_burn_scars" / "training"


def test_burn_scars_missing_data_and_masks(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    with pytest.raises(DataError) as info:
        build_hls_burn_scars(data_root=tmp_path)
    message = str(info.value)
    assert "dataset hls_burn_scars is not at" in message and "training/" in message
    assert "geofm data download hls_burn_scars" in message  # the hub repo: fetchable
    assert "ibm-nasa-geospatial/hls_burn_scars" in message
    _chips(tmp_path, write_tif)
    (tmp_path / "training" / "subsetted_512x512_HLS.S30.T10SGD.2018257.v1.4.mask.tif").unlink()
    with pytest.raises(DataError, match=r"missing training/subsetted_512x512_HLS.S30.T10SGD.2018257.v1.4.mask.tif"):
        build_hls_burn_scars(data_root=tmp_path)
