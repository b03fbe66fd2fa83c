"""``<run>/plots/``: the pictures of real (tiny) runs of each task, and what they are drawn from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from geofm.errors import ConfigError

HLS = ["B02", "B03", "B04", "B8A", "B11", "B12"]
EXPECTED = {
    "segmentation": {"curves.png", "samples.png", "confusion_matrix.png"},
    "regression": {"curves.png", "samples.png", "scatter.png"},
    "classification": {"curves.png", "confusion_matrix.png"},
}


def _config(out: Path, dataset: dict[str, Any], task: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backbone": {"name": "tiny_vit"},
        "dataset": {"num_workers": 0, "batch_size": 4, **dataset},
        "trainer": {"max_epochs": 2, "limit_train_batches": 2, "progress_bar": False, "accelerator": "cpu"},
        "out": str(out),
    }
    if task is not None:
        config["task"] = {"name": task}
    return config


def _classes(root: Path) -> Path:
    """Two classes of 32x32 HLS chips, one folder per class."""
    from geofm.testing import write_geotiff

    rng = np.random.default_rng(0)
    for label, name in enumerate(("dark", "bright")):
        (root / name).mkdir(parents=True)
        for i in range(8):
            image = rng.normal(1000 + 1500 * label, 100, size=(len(HLS), 32, 32)).astype(np.int16)
            write_geotiff(root / name / f"{name}_{i}.tif", image, band_names=HLS)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Train each task once (module scope): ``task -> summary``."""
    import geofm

    runs: dict[str, dict[str, Any]] = {}

    def get(task: str) -> dict[str, Any]:
        if task in runs:
            return runs[task]
        tmp = tmp_path_factory.mktemp(task)
        if task == "segmentation":
            from geofm_datasets.demo import generate_demo

            root = generate_demo(tmp / "demo", num_scenes=12, size=64)
            config = _config(tmp / "runs", {"name": "demo", "data_root": str(root), "num_scenes": 12, "size": 64})
        elif task == "regression":
            from geofm_datasets.demo_regression import generate_demo_regression

            root = generate_demo_regression(tmp / "demo_regression", num_scenes=12, size=64)
            dataset = {"name": "demo_regression", "data_root": str(root), "num_scenes": 12, "size": 64}
            config = _config(tmp / "runs", dataset, task="regression")
        else:
            root = _classes(tmp / "classes")
            config = _config(tmp / "runs", {"name": "geotiff_classification", "data_root": str(root)})
        runs[task] = geofm.run(config)
        return runs[task]

    return get


def _rebuild(run_dir: Path) -> Any:
    """The run's task and data module with its best weights, rebuilt from its directory."""
    from geofm.runner import rebuild_run

    return rebuild_run(run_dir)


def _check_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert 400 <= image.width <= 1600 and 300 <= image.height <= 1600, (path.name, image.size)
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    assert pixels.std() > 0, f"{path.name} is blank"


@pytest.mark.slow
@pytest.mark.parametrize("task", list(EXPECTED))
def test_every_task_gets_its_pictures(task: str, trained) -> None:
    from geofm.plots import write_run_plots

    run_dir = Path(trained(task)["run_dir"])
    # geofm run drew them at the end of training
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == sorted(EXPECTED[task])
    built = _rebuild(run_dir)
    built.task.model.train()
    frozen = built.task.model.backbone.eval()  # a submodule in eval mode stays so

    written = write_run_plots(run_dir, task=built.task, datamodule=built.datamodule)

    assert {path.name for path in written} == EXPECTED[task]
    assert all(path.parent == run_dir / "plots" for path in written)
    for path in written:
        _check_png(path)
    assert built.task.model.training and not frozen.training
    assert all(m.training for name, m in built.task.model.named_modules() if not name.startswith("backbone"))

    again = write_run_plots(run_dir, task=built.task, datamodule=built.datamodule, samples=1)  # replaced in place
    assert again == written
    assert sorted(p.name for p in (run_dir / "plots").iterdir()) == sorted(EXPECTED[task])  # no temporary left


@pytest.mark.slow
@pytest.mark.parametrize("task", list(EXPECTED))
def test_the_pictures_show_what_the_run_scored(task: str, trained) -> None:
    """The confusion matrix and the scatter are drawn from the numbers the run's validation reported."""
    from geofm.plots.collect import MAX_SCATTER_POINTS, collect

    summary = trained(task)
    built = _rebuild(Path(summary["run_dir"]))
    kind = "segmentation" if task == "segmentation" else task
    count = getattr(built.task, "num_classes", 1)
    ignore = None if task == "regression" else built.datamodule.ignore_index
    collected = collect(built.task, built.datamodule, kind=kind, samples=3, num_classes=count, ignore_index=ignore)

    val = summary["val"]
    if task == "regression":
        assert collected.r2 == pytest.approx(val["r2"], rel=1e-4, abs=1e-5)
        assert collected.predicted is not None and collected.true is not None
        assert len(collected.predicted) == min(collected.units, MAX_SCATTER_POINTS)
        assert np.isfinite(collected.true).all()
    else:
        counts = collected.confusion
        assert counts is not None and counts.shape == (count, count)
        assert counts.sum() == collected.units > 0
        assert np.trace(counts) / counts.sum() == pytest.approx(val["accuracy"], rel=1e-5)
    if task == "classification":
        assert not collected.grid
    else:
        assert len(collected.grid) == min(3, len(built.datamodule.dataset("val")))
        image, truth, predicted = collected.grid[0]
        assert image.shape == (*truth.shape, 3) and truth.shape == predicted.shape
        assert image.min() >= 0.0 and image.max() <= 1.0
        assert collected.image_title == "image (RGB)"


class _CurvesOnly:
    """A task with no prediction plots (as multi-label classification): only the curves are drawn."""

    monitor = "val/map"
    monitor_mode = "max"


def test_curves_from_metrics_csv_and_skipped_without_it(tmp_path: Path) -> None:
    from geofm.plots import write_run_plots

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("{}\n")
    assert write_run_plots(run_dir, task=_CurvesOnly(), datamodule=None) == []  # no metrics.csv
    (run_dir / "metrics.csv").write_text("epoch,step,train/loss,val/loss,val/map\n")
    assert write_run_plots(run_dir, task=_CurvesOnly(), datamodule=None) == []  # header only
    rows = ["epoch,step,train/loss,val/loss,val/map"]
    for epoch in range(4):
        rows += [f"{epoch},{epoch * 2},,{1 / (epoch + 1)},{epoch / 4}", f"{epoch},{epoch * 2},{2 / (epoch + 1)},,"]
    (run_dir / "metrics.csv").write_text("\n".join(rows) + "\n")

    written = write_run_plots(run_dir, task=_CurvesOnly(), datamodule=None)

    assert written == [run_dir / "plots" / "curves.png"]
    _check_png(written[0])


def test_not_a_run_directory_is_refused(tmp_path: Path) -> None:
    from geofm.plots import write_run_plots

    with pytest.raises(ConfigError, match=r"holds no config\.yaml"):
        write_run_plots(tmp_path, task=_CurvesOnly(), datamodule=None)


def test_importing_plots_imports_neither_torch_nor_matplotlib() -> None:
    code = "import sys, geofm.plots; print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[]"


class _SeriesDataModule:
    """Validation batches of a 3-step time series (B, C, T, H, W) without red, green and blue bands."""

    band_names = ("NIR_NARROW", "SWIR_1", "SWIR_2", "VV")
    class_names = ("a", "b", "c")
    ignore_index = 255

    def val_dataloader(self) -> list[dict[str, Any]]:
        import torch

        generator = torch.Generator().manual_seed(0)
        batches = []
        for _ in range(3):
            mask = torch.randint(0, 3, (2, 32, 32), generator=generator)
            mask[:, :4] = 255
            image = torch.randn(2, 4, 3, 32, 32, generator=generator)
            batches.append({"image": image, "mask": mask, "meta": {"gsd": torch.full((2,), 30.0)}})
        return batches


def test_time_series_false_colour_and_ignored_pixels(tmp_path: Path) -> None:
    """Middle time step, the first three bands as false colour, and low-resolution logits resized."""
    import torch
    from PIL import Image

    from geofm.plots import write_run_plots
    from geofm.tasks.segmentation import SegmentationTask

    class SeriesModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Conv2d(4, 3, 1)
            self.seen: list[tuple[int, ...]] = []

        def forward(self, image: torch.Tensor, gsd: torch.Tensor) -> torch.Tensor:
            self.seen.append(tuple(image.shape))
            return self.head(torch.nn.functional.avg_pool2d(image.mean(dim=2), 2))  # (B, 3, 16, 16)

    model = SeriesModel()
    task = SegmentationTask(model, num_classes=3, class_names=("a", "b", "c"), ignore_index=255)
    (tmp_path / "config.yaml").write_text("{}\n")

    written = write_run_plots(tmp_path, task=task, datamodule=_SeriesDataModule(), samples=5)

    assert [p.name for p in written] == ["samples.png", "confusion_matrix.png"]  # no metrics.csv: no curves
    assert model.seen == [(2, 4, 3, 32, 32)] * 3
    assert model.training  # restored
    with Image.open(written[0]) as image:
        assert image.height > 5 * 200  # five rows
        assert image.height <= 1600


@pytest.mark.slow
def test_evaluate_redraws_the_plots_and_no_plots_leaves_them(trained, tmp_path: Path) -> None:
    import geofm

    summary = trained("segmentation")
    run_dir = Path(summary["run_dir"])
    curves = run_dir / "plots" / "curves.png"
    before = curves.stat().st_mtime_ns
    geofm.evaluate(run_dir, plots=False)
    assert curves.stat().st_mtime_ns == before
    geofm.evaluate(run_dir)
    assert curves.stat().st_mtime_ns > before

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config.update(out=str(tmp_path / "runs"), name="quiet")
    config["trainer"].update(plots=False, max_epochs=1)
    quiet = geofm.run(config)
    assert not (Path(quiet["run_dir"]) / "plots").exists()
