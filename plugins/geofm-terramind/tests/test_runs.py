"""End to end (slow): geofm run fine-tunes terramind_v1_tiny + UPerNet, then geofm.predict maps a scene.

On the generated six-band demo (one modality, S2L2A from HLS bands) and on the real Sen1Floods11 chip with
``dataset.modality=s1s2`` (13 Sentinel-2 L1C bands + VV, VH: two modalities, S2L1C and S1GRD, inferred
from the bands), the latter through the ``geofm`` command as a user runs it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import geofm

pytestmark = pytest.mark.slow

CHIP = "Spain_7370579"
HAND = Path("v1.1/data/flood_events/HandLabeled")
SPLITS = Path("v1.1/splits/flood_handlabeled")
REAL = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real" / "sen1floods11"
QUICK = {"max_epochs": 1, "limit_train_batches": 2, "accelerator": "cpu", "devices": 1, "progress_bar": False}
"""Trainer settings of a quick run (1 epoch, 2 training batches)."""


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Sen1Floods11 chip laid out as the v1.1 bucket (symlinks); every split is the chip."""
    if not REAL.is_dir():
        pytest.skip(f"real Sen1Floods11 sample not found at {REAL.resolve()} (shared data absent)")
    root = tmp_path_factory.mktemp("sen1floods11")
    for folder, source in (("S2Hand", "S2"), ("S1Hand", "S1"), ("LabelHand", "Labels")):
        (root / HAND / folder).mkdir(parents=True)
        name = f"{CHIP}_{folder}.tif"
        (root / HAND / folder / name).symlink_to((REAL / source / name).resolve())
    (root / SPLITS).mkdir(parents=True)
    for split in ("train", "valid", "test", "bolivia"):
        (root / SPLITS / f"flood_{split}_data.csv").write_text(f"{CHIP}_S1Hand.tif,{CHIP}_LabelHand.tif\n")
    return root


def _stacked_scene(path: Path) -> Path:
    """The chip's S2 (13 bands) and S1 (VV, VH) files as one 15-band GeoTIFF with band descriptions."""
    import rasterio

    with (
        rasterio.open(REAL / "S2" / f"{CHIP}_S2Hand.tif") as s2,
        rasterio.open(REAL / "S1" / f"{CHIP}_S1Hand.tif") as s1,
    ):
        data = np.concatenate([s2.read().astype("float32"), s1.read().astype("float32")])
        profile = {**s2.profile, "count": 15, "dtype": "float32", "nodata": None}
        descriptions = (*s2.descriptions, *s1.descriptions)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = descriptions
    return path


def _check_prediction(outputs: list[Path], shape: tuple[int, int], classes: int) -> None:
    import rasterio

    assert len(outputs) == 1 and outputs[0].is_file()
    with rasterio.open(outputs[0]) as src:
        assert (src.height, src.width, src.count) == (*shape, 1)
        values = np.unique(src.read(1))
    assert set(values.tolist()) <= set(range(classes)) | {255}


def test_demo_run_then_predict(tmp_path: Path) -> None:
    from geofm_datasets.demo import generate_demo

    root = generate_demo(tmp_path / "demo", num_scenes=12, size=64)
    summary = geofm.run(
        {
            "backbone": {"name": "terramind_v1_tiny", "weights": "none"},
            "decoder": {"name": "upernet"},
            "dataset": {
                "name": "demo",
                "data_root": str(root),
                "num_scenes": 12,  # as generated: other values regenerate the demo
                "size": 64,
                "num_workers": 0,
                "batch_size": 4,
            },
            "trainer": QUICK,
            "out": str(tmp_path / "runs"),
            "name": "demo",
        }
    )
    assert summary["pretrained"] is False
    assert summary["bands"] == ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
    assert 0.0 <= summary["val"]["miou"] <= 1.0
    run_dir = Path(summary["run_dir"])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert [n["name"] for n in config["necks"]] == ["select_levels", "tokens_to_map", "interpolate_pyramid"]
    scenes = sorted((root / "images").glob("*.tif"))
    assert len(scenes) == 12  # the demo was used as generated, not regenerated
    scene = scenes[0]
    import rasterio

    with rasterio.open(scene) as src:
        shape = (src.height, src.width)
    _check_prediction(geofm.predict(run_dir, [scene], tmp_path / "maps"), shape, 4)


def test_sen1floods11_s1s2_run_through_the_cli_then_predict(tmp_path: Path, real_root: Path, cli) -> None:
    out = tmp_path / "runs"
    result = cli(
        "run", "--backbone", "terramind_v1_tiny", "--decoder", "upernet", "--dataset", "sen1floods11",
        "--data-root", str(real_root), "--set", "dataset.modality=s1s2", "--weights", "none",
        "--max-epochs", "1", "--batch-size", "2", "--set", "trainer.limit_train_batches=2",
        "--set", "dataset.num_workers=0", "--set", "dataset.crop_size=64", "--set", "trainer.progress_bar=false",
        "--out", str(out), "--name", "s1s2", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = out / "s1s2"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["bands"][-2:] == ["VV", "VH"] and len(summary["bands"]) == 15
    assert {"miou", "iou_water"} <= set(summary["test"])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["dataset"]["modality"] == "s1s2" and "modalities" not in config["backbone"]
    from geofm.config import RunConfig
    from geofm.run_model import build_run_model

    model = build_run_model(RunConfig.model_validate(config))
    assert model.backbone.modalities == ("S2L1C", "S1GRD")  # inferred from the bands, as in training
    assert model.backbone.plan.channels == (tuple(range(13)), (13, 14))
    scene = _stacked_scene(tmp_path / "scene.tif")
    _check_prediction(geofm.predict(run_dir, [scene], tmp_path / "maps"), (512, 512), 2)


def test_sen1floods11_s1s2_resolves_for_terramind_v1_base_with_named_modalities(real_root: Path) -> None:
    """The full-size base model for the s1s2 stack, modalities given as the user would with --set."""
    from geofm.config import RunConfig, apply_overrides, parse_override
    from geofm.resolve import resolve_run
    from geofm.run_model import build_run_model

    data = apply_overrides(
        {
            "backbone": {"name": "terramind_v1_base", "weights": "none"},
            "dataset": {"name": "sen1floods11", "data_root": str(real_root), "num_workers": 0},
        },
        [parse_override("dataset.modality=s1s2"), parse_override("backbone.modalities=[S2L1C,S1GRD]")],
    )
    resolved = resolve_run(RunConfig.model_validate(data))
    config = resolved.completed_config()
    assert config.backbone.options()["modalities"] == ["S2L1C", "S1GRD"]
    model = build_run_model(config).eval()
    assert model.backbone.out_channels == [768] * 12
    import torch

    with torch.no_grad():
        logits = model(torch.randn(1, 15, 64, 64))
    assert logits.shape == (1, 2, 64, 64)


def test_pretrained_run_normalises_each_band_with_its_modalitys_statistics(real_root: Path, tmp_path: Path) -> None:
    """With pretrained weights the s1s2 stack is standardised with S2L1C's and S1GRD's own statistics."""
    from geofm.config import RunConfig
    from geofm.resolve import resolve_run
    from geofm_terramind.modalities import MODALITIES
    from geofm_terramind.plugin import weights_statistics

    weights = tmp_path / "TerraMind_v1_tiny.pt"
    weights.write_bytes(b"")  # resolving only checks that the file exists; nothing is built here
    config = RunConfig.model_validate(
        {
            "backbone": {"name": "terramind_v1_tiny", "weights": str(weights)},
            "dataset": {"name": "sen1floods11", "data_root": str(real_root), "modality": "s1s2", "num_workers": 0},
        }
    )
    resolved = resolve_run(config)
    assert resolved.weights.pretrained
    bands, _, _ = weights_statistics()
    l1c, s1 = MODALITIES["S2L1C"], MODALITIES["S1GRD"]
    completed = resolved.completed_config()
    assert tuple(completed.dataset.bands or ()) == bands == (*l1c.bands, *s1.bands)
    assert tuple(completed.dataset.mean or ()) == (*l1c.mean, *s1.mean)
    assert tuple(completed.dataset.std or ()) == (*l1c.std, *s1.std)
    assert (
        completed.dataset.mean[bands.index("CIRRUS")] == 506.07 and completed.dataset.mean[bands.index("VV")] == -12.599
    )
