"""``geofm run`` on regression data end to end: the generated demo and the generic GeoTIFF dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SMALL = ["--set", "dataset.num_scenes=12", "--set", "dataset.size=64"]


@pytest.fixture(scope="module")
def regression_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from geofm_datasets.demo_regression import generate_demo_regression

    return generate_demo_regression(tmp_path_factory.mktemp("data") / "demo_regression", num_scenes=12, size=64)


def _summary(result, out: Path) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    (summary_path,) = out.glob("*/summary.json")
    return json.loads(summary_path.read_text())


def test_demo_regression_trains_below_the_mean_baseline(cli, regression_demo: Path, tmp_path: Path) -> None:
    from geofm.data import build_dataset
    from geofm.registry import get_registry

    out = tmp_path / "runs"
    result = cli(
        "run", "--dataset", "demo_regression", "--data-root", str(regression_demo), "--backbone", "tiny_vit",
        "--decoder", "upernet", "--max-epochs", "3", "--batch-size", "2", "--out", str(out), *SMALL,
        "--set", "dataset.num_workers=0",
    )  # fmt: skip
    summary = _summary(result, out)
    assert summary["task"] == "regression" and summary["monitor"] == "val/rmse"
    assert set(summary["val"]) >= {"rmse", "mae", "r2", "loss"} and set(summary["test"]) >= {"rmse", "mae", "r2"}
    module = build_dataset(
        get_registry("datasets").get("demo_regression"), data_root=regression_demo, num_scenes=12, size=64, batch_size=2
    )
    baseline = module.mean_baseline("val")
    assert summary["val"]["rmse"] < baseline["rmse"], (summary["val"], baseline)
    assert summary["val"]["r2"] > 0.0


def test_task_regression_on_the_generic_geotiff_dataset(cli, regression_demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = cli(
        "run", "--task", "regression", "--dataset", "geotiff_regression", "--data-root", str(regression_demo),
        "--backbone", "tiny_vit", "--decoder", "upernet", "--max-epochs", "1", "--batch-size", "4",
        "--bands", "B04,B8A", "--out", str(out), "--set", "dataset.num_workers=0",
        "--set", "trainer.limit_train_batches=2",
    )  # fmt: skip
    summary = _summary(result, out)
    assert summary["task"] == "regression" and summary["dataset"] == "geotiff_regression"
    assert summary["bands"] == ["RED", "NIR_NARROW"]
    assert all(summary["val"][k] is not None for k in ("rmse", "mae", "r2"))
