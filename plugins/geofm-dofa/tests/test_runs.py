"""End to end: ``geofm run`` fine-tunes dofa_base_patch16_224 + UPerNet, then ``geofm.predict`` maps a scene.

On the generated 6-band demo and on the real 13-band Sen1Floods11 chip (skipped without ../shared). A ViT-B
at 224 px is slow on CPU, so the runs build it at 64 px (``backbone.img_size=64``, 4 x 4 tokens); predict
then maps whole scenes in 256 px tiles, the position table interpolated to their grid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHIP = "Spain_7370579"
S2_13 = "B1,B2,B3,B4,B5,B6,B7,B8,B8A,B9,B10,B11,B12"
COMMON = [
    "--backbone", "dofa_base_patch16_224", "--decoder", "upernet", "--weights", "none", "--max-epochs", "1",
    "--set", "dataset.num_workers=0", "--set", "trainer.limit_train_batches=2", "--set", "trainer.progress_bar=false",
    "--set", "backbone.img_size=64",
]  # fmt: skip


def _geofm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "geofm_cli.app", *args], capture_output=True, text=True, env=env, timeout=900
    )


def _check_run(run_dir: Path, bands: list[str]) -> dict[str, object]:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["pretrained"] is False and summary["backbone"] == "dofa_base_patch16_224"
    assert summary["bands"] == bands
    assert 0.0 <= summary["val"]["miou"] <= 1.0
    config = (run_dir / "config.yaml").read_text()
    assert "img_size: 64" in config and "tokens_to_map" in config
    return summary


def _check_prediction(scene: Path, output: Path, classes: int) -> None:
    import rasterio

    with rasterio.open(scene) as source, rasterio.open(output) as predicted:
        assert (predicted.width, predicted.height) == (source.width, source.height)
        assert predicted.crs == source.crs and predicted.transform == source.transform
        values = predicted.read(1)
    valid = values[values != predicted.nodata] if predicted.nodata is not None else values
    assert valid.size and set(np.unique(valid).tolist()) <= set(range(classes))


def test_demo_run_and_predict(tmp_path: Path) -> None:
    import geofm
    from geofm_datasets.demo import generate_demo

    root = generate_demo(tmp_path / "demo", num_scenes=12, size=64)
    result = _geofm(
        "run", *COMMON, "--batch-size", "4", "--data-root", str(root),
        "--set", "dataset.num_scenes=12", "--set", "dataset.size=64", "--out", str(tmp_path / "runs"), "--name", "demo",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "demo"
    _check_run(run_dir, ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"])
    scene = sorted((root / "images").glob("*.tif"))[0]
    outputs = geofm.predict(run_dir, [scene], tmp_path / "maps")
    assert [p.name for p in outputs] == [f"{scene.stem}_pred.tif"]
    _check_prediction(scene, outputs[0], classes=4)


def _sen1floods11_root(real: Path, root: Path) -> Path:
    """The real chip laid out as the v1.1 bucket (symlinks); every split is the chip."""
    hand = root / "v1.1" / "data" / "flood_events" / "HandLabeled"
    for folder, source in (("S2Hand", "S2"), ("S1Hand", "S1"), ("LabelHand", "Labels")):
        (hand / folder).mkdir(parents=True)
        (hand / folder / f"{CHIP}_{folder}.tif").symlink_to(real / source / f"{CHIP}_{folder}.tif")
    splits = root / "v1.1" / "splits" / "flood_handlabeled"
    splits.mkdir(parents=True)
    for split in ("train", "valid", "test", "bolivia"):
        (splits / f"flood_{split}_data.csv").write_text(f"{CHIP}_S1Hand.tif,{CHIP}_LabelHand.tif\n")
    return root


def test_sen1floods11_thirteen_band_run_and_predict(tmp_path: Path, real_sen1floods11: Path) -> None:
    import geofm

    root = _sen1floods11_root(real_sen1floods11, tmp_path / "sen1floods11")
    result = _geofm(
        "run", *COMMON, "--batch-size", "2", "--dataset", "sen1floods11", "--data-root", str(root),
        "--bands", S2_13, "--set", "dataset.crop_size=64", "--out", str(tmp_path / "runs"), "--name", "s1f",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / "s1f"
    summary = _check_run(
        run_dir,
        [
            "COASTAL_AEROSOL", "BLUE", "GREEN", "RED", "RED_EDGE_1", "RED_EDGE_2", "RED_EDGE_3",
            "NIR_BROAD", "NIR_NARROW", "WATER_VAPOR", "CIRRUS", "SWIR_1", "SWIR_2",
        ],
    )  # fmt: skip
    assert summary["dataset"] == "sen1floods11"
    scene = real_sen1floods11 / "S2" / f"{CHIP}_S2Hand.tif"
    outputs = geofm.predict(run_dir, [scene], tmp_path / "maps")  # 512 x 512 in 256 px tiles
    _check_prediction(scene, outputs[0], classes=2)
