"""End to end: ``geofm.run`` on the named segmentation datasets (generated chips in the publishers' layouts)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _run(tmp_path: Path, dataset: dict[str, Any]) -> dict[str, Any]:
    import geofm

    return geofm.run(
        {
            "backbone": {"name": "tiny_vit", "weights": "none"},
            "decoder": {"name": "upernet"},
            "dataset": {"batch_size": 2, "num_workers": 0, **dataset},
            "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": False},
            "seed": 0,
            "out": str(tmp_path / "runs"),
        }
    )


@pytest.mark.slow
def test_sen1floods11_run_excludes_ignored_pixels(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    hand = tmp_path / "v1.1" / "data" / "flood_events" / "HandLabeled"
    rng = np.random.default_rng(0)
    ids = ["Ghana_1", "Ghana_2", "India_3"]
    for chip in ids:
        write_tif(hand / "S2Hand" / f"{chip}_S2Hand.tif", rng.integers(1, 3000, (13, 32, 32)).astype(np.int16))
        label = rng.integers(0, 2, (32, 32)).astype(np.int16)
        label[:8] = -1  # a quarter of every chip: no data
        write_tif(hand / "LabelHand" / f"{chip}_LabelHand.tif", label)
    splits = tmp_path / "v1.1" / "splits" / "flood_handlabeled"
    splits.mkdir(parents=True)
    for split, names in (("train", ids[:2]), ("valid", ids[2:]), ("test", ids[2:])):
        (splits / f"flood_{split}_data.csv").write_text("".join(f"{i}_S1Hand.tif,{i}_LabelHand.tif\n" for i in names))
    summary = _run(tmp_path, {"name": "sen1floods11", "data_root": str(tmp_path), "bands": ["B2", "B3", "B4"]})
    assert summary["bands"] == ["BLUE", "GREEN", "RED"] and summary["task"] == "segmentation"
    assert {"miou", "iou_water", "iou_not_water", "accuracy", "loss"} <= set(summary["test"])
    label = np.asarray(__import__("rasterio").open(hand / "LabelHand" / "India_3_LabelHand.tif").read(1))
    kept = label[label >= 0]
    majority = max((kept == 0).mean(), (kept == 1).mean())
    assert summary["baseline"]["majority_accuracy"] == pytest.approx(majority, abs=1e-6)  # no -1 pixel counted
    assert json.loads((Path(summary["run_dir"]) / "summary.json").read_text())["dataset"] == "sen1floods11"


@pytest.mark.slow
def test_multi_temporal_crop_run_feeds_frames(tmp_path: Path, write_tif: Callable[..., Path]) -> None:
    rng = np.random.default_rng(1)
    for folder, names in (("training_chips", ["chip_1_1", "chip_1_2"]), ("validation_chips", ["chip_2_1"])):
        for name in names:
            chip = rng.integers(100, 4000, (18, 32, 32)).astype(np.int16)
            write_tif(tmp_path / folder / f"{name}_merged.tif", chip, nodata=-9999)
            write_tif(tmp_path / folder / f"{name}.mask.tif", rng.integers(0, 14, (32, 32)).astype(np.uint8))
    from functools import partial

    from geofm.data import build_dataset
    from geofm_datasets.named.specs import MULTI_TEMPORAL_CROP_SPEC

    build_multi_temporal_crop = partial(build_dataset, MULTI_TEMPORAL_CROP_SPEC)

    batch = next(iter(build_multi_temporal_crop(data_root=tmp_path, batch_size=2).train_dataloader()))
    assert batch["image"].shape == (2, 6, 3, 32, 32) and batch["meta"]["timestamps"].shape == (2, 3)
    summary = _run(tmp_path, {"name": "multi_temporal_crop", "data_root": str(tmp_path)})
    assert len(summary["bands"]) == 6
    assert len([k for k in summary["val"] if k.startswith("iou_")]) == 13
    config = (Path(summary["run_dir"]) / "config.yaml").read_text()
    assert "multi_temporal_crop" in config
