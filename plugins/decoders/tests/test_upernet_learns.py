"""UPerNet on the tiny ViT learns the generated demo dataset (validation mIoU well above the majority class)."""

from __future__ import annotations

import pytest

import geofm


@pytest.mark.slow
def test_upernet_tiny_vit_beats_majority_baseline_on_demo(tmp_path):
    pytest.importorskip("geofm_datasets", reason="the demo dataset comes from the geofm-datasets plugin")
    summary = geofm.run(
        {
            "backbone": {"name": "tiny_vit", "weights": "none"},
            "decoder": {"name": "upernet", "channels": 64},
            "dataset": {
                "name": "demo",
                "data_root": str(tmp_path / "demo"),
                "batch_size": 4,
                "num_workers": 0,
                "num_scenes": 24,
                "size": 64,
            },
            "task": {"lr": 1e-3, "weight_decay": 0.01, "scheduler": "none"},
            "trainer": {
                "max_epochs": 12,
                "accelerator": "cpu",
                "devices": 1,
                "early_stopping_patience": None,
                "progress_bar": False,
                "log_every_n_steps": 1,
            },
            "seed": 0,
            "out": str(tmp_path / "runs"),
        }
    )
    assert summary["decoder"] == "upernet"
    assert [neck["name"] if isinstance(neck, dict) else neck for neck in summary["necks"]] == [
        "tokens_to_map",
        "interpolate_pyramid",
    ]
    baseline = summary["baseline"]["majority_miou"]
    miou = summary["val"]["miou"]
    assert miou > baseline + 0.25, f"val mIoU {miou:.3f} is not clearly above the majority baseline {baseline:.3f}"
