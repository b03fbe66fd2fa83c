"""The run contract end to end: runs that Lightning trained are evaluated and predicted from their directory.

Every case trains a real (tiny) run through :func:`geofm.run`, re-scores it with ``evaluate`` and maps its
validation images with ``predict``; the predicted maps must agree with the model's own validation
predictions, for several backbone families, time series, and the regression and classification tasks.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")
rasterio = pytest.importorskip("rasterio")

from geofm.testing import write_geotiff  # noqa: E402

pytestmark = pytest.mark.slow

HLS = ["B02", "B03", "B04", "B8A", "B11", "B12"]
SIZE = 64


def _config(out: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "progress_bar": False, "accelerator": "cpu"},
        "dataset": {"num_workers": 0, "batch_size": 4},
        "out": str(out),
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def _scene(rng: np.random.Generator, bands: int) -> tuple[np.ndarray, np.ndarray]:
    """A field of two classes: a bright square on a dark background, with noise."""
    mask = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = rng.integers(0, SIZE // 2, size=2)
    mask[top : top + SIZE // 2, left : left + SIZE // 2] = 1
    image = rng.normal(1000, 100, size=(bands, SIZE, SIZE)) + 1500.0 * mask
    return image.astype(np.int16), mask


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small generated datasets: the demo, a 3-step time series, and two-class image classification."""
    from geofm_datasets.demo import generate_demo
    from geofm_datasets.demo_regression import generate_demo_regression

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    series = root / "series"
    for folder in ("images", "labels"):
        (series / folder).mkdir(parents=True)
    for i in range(10):
        steps = [_scene(rng, len(HLS))[0] for _ in range(2)]
        image, mask = _scene(rng, len(HLS))
        stacked = np.concatenate([steps[0], image, steps[1]])  # time-major: 3 steps x 6 bands
        write_geotiff(series / "images" / f"s{i:02d}_20210{i % 9 + 1}15.tif", stacked, band_names=HLS * 3)
        write_geotiff(series / "labels" / f"s{i:02d}_20210{i % 9 + 1}15.tif", mask)
    classes = root / "classes"
    for label, name in enumerate(("dark", "bright")):
        (classes / name).mkdir(parents=True)
        for i in range(8):
            image = rng.normal(1000 + 1500 * label, 100, size=(len(HLS), 32, 32)).astype(np.int16)
            write_geotiff(classes / name / f"{name}_{i}.tif", image, band_names=HLS)
    return {
        "demo": generate_demo(root / "demo", num_scenes=12, size=SIZE),
        "demo_regression": generate_demo_regression(root / "demo_regression", num_scenes=12, size=SIZE),
        "series": series,
        "classes": classes,
    }


CASES: dict[str, dict[str, dict[str, Any]]] = {
    "tiny_vit": {"backbone": {"name": "tiny_vit"}},
    "prithvi_single_frame": {"backbone": {"name": "prithvi_eo_v2_tiny_tl", "weights": "none"}},
    "prithvi_time_series": {
        "backbone": {"name": "prithvi_eo_v2_tiny_tl", "weights": "none"},
        "dataset": {"name": "geotiff_segmentation", "num_frames": 3, "classes": ["background", "field"]},
    },
    "clay": {
        "backbone": {"name": "clay_v1_base", "weights": "none", "dim": 64, "depth": 4, "heads": 2, "dim_head": 32},
        "necks": {},
    },
    "timm_cnn": {"backbone": {"name": "timm_resnet18", "weights": "none"}, "decoder": {"name": "unet"}},
    "regression": {"backbone": {"name": "tiny_vit"}, "task": {"name": "regression"}},
    "classification": {"backbone": {"name": "tiny_vit"}, "dataset": {"name": "geotiff_classification"}},
}
DATA_OF = {"prithvi_time_series": "series", "regression": "demo_regression", "classification": "classes"}


def _case_config(case: str, data: dict[str, Path], out: Path) -> dict[str, Any]:
    sections = {key: dict(value) for key, value in CASES[case].items() if key != "necks"}
    name = DATA_OF.get(case, "demo")
    dataset = sections.setdefault("dataset", {})
    dataset.setdefault("name", name)
    dataset["data_root"] = str(data[name])
    if name in ("demo", "demo_regression"):
        dataset.update(num_scenes=12, size=SIZE)
    config = _config(out, **sections)
    if "necks" in CASES[case]:  # a 4-block Clay: its default feature levels (3, 5, 7, 11) do not exist
        config["backbone"]["levels"] = [0, 1, 2, 3]
    return config


def _validation_predictions(run_dir: Path) -> tuple[list[Path], Any, Any]:
    """The first validation batch, its files, and the model's own predictions for it."""
    from geofm.predict import load_run
    from geofm.resolve import resolve_run
    from geofm.rundir import RunDir

    loaded = load_run(run_dir)
    datamodule = resolve_run(RunDir.open(run_dir).read_config()).datamodule
    datamodule.setup("validate")
    batch = next(iter(datamodule.val_dataloader()))
    samples = datamodule.dataset("val").samples[: len(batch["image"])]
    files = [Path(getattr(s, "image", None) or s.files[0]) for s in samples]
    with torch.no_grad():
        output = loaded.model(batch["image"], **batch.get("meta", {}))
    return files, output, loaded


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Path]):
    """Train each case once (module scope): ``case -> summary``."""
    import geofm

    runs: dict[str, dict[str, Any]] = {}

    def get(case: str) -> dict[str, Any]:
        if case not in runs:
            out = tmp_path_factory.mktemp(f"runs_{case}")
            runs[case] = geofm.run(_case_config(case, data, out))
        return runs[case]

    return get


@pytest.mark.parametrize("case", list(CASES))
def test_run_evaluate_predict(case: str, trained, tmp_path: Path) -> None:
    import geofm
    from geofm.runner import evaluate

    summary = trained(case)
    run_dir = Path(summary["run_dir"])
    assert summary["status"] == "finished"
    assert summary["best_checkpoint"] == "checkpoints/best.ckpt"
    assert (run_dir / summary["best_checkpoint"]).is_file()

    rescored = evaluate(run_dir)
    assert rescored["val"] == pytest.approx(summary["val"], rel=1e-5, abs=1e-6)

    files, output, loaded = _validation_predictions(run_dir)
    tile = SIZE if case != "classification" else 32  # one tile per validation chip
    written = geofm.predict(run_dir, files, tmp_path / "maps", tile_size=tile, overlap=0)
    assert [p.name for p in written] == [f.stem + "_pred.tif" for f in files]
    for index, path in enumerate(written):
        with rasterio.open(path) as src:
            predicted = src.read()
            nodata = src.nodata
        if loaded.task_type == "regression":
            expected = output[index].numpy()
            valid = np.isfinite(predicted)
            assert valid.mean() > 0.5
            np.testing.assert_allclose(predicted[valid], expected[valid], rtol=1e-3, atol=1e-3)
            continue
        expected_class = output[index].argmax(dim=0).numpy()
        if loaded.task_type == "classification":  # one class for the whole chip
            assert np.all(predicted[0] == int(expected_class))
            continue
        valid = predicted[0] != nodata  # the demo has nodata stripes
        assert valid.mean() > 0.5
        agreement = float((predicted[0][valid] == expected_class[valid]).mean())
        assert agreement > 0.99, f"{case}: predict agrees with validation on {agreement:.3f} of the pixels"


def test_a_copied_run_uses_its_own_checkpoint(trained, tmp_path: Path) -> None:
    from geofm.runner import evaluate

    original = Path(trained("tiny_vit")["run_dir"])
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    (original / "checkpoints" / "best.ckpt").rename(original / "checkpoints" / "best.ckpt.away")
    try:
        result = evaluate(copy)
    finally:
        (original / "checkpoints" / "best.ckpt.away").rename(original / "checkpoints" / "best.ckpt")
    assert result["checkpoint"] == "checkpoints/best.ckpt"
    assert result["run_dir"] == str(copy)


def test_config_records_what_rebuilds_the_model(trained) -> None:
    from geofm.rundir import RunDir

    config = RunDir.open(trained("prithvi_single_frame")["run_dir"]).read_config()
    assert config.backbone.num_frames == 1
    assert config.task.num_outputs == 4 and config.task.class_names == ["water", "vegetation", "bare_soil", "built_up"]
    assert config.dataset.bands == ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
    assert config.necks and all("name" in neck for neck in config.necks)


def test_a_checkpoint_that_does_not_fit_says_so_in_one_paragraph(trained, tmp_path: Path) -> None:
    from geofm.errors import WeightsError
    from geofm.predict import load_run

    copy = tmp_path / "run"
    shutil.copytree(trained("tiny_vit")["run_dir"], copy)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["task"].update(num_outputs=5, class_names=None)
    config["decoder"]["channels"] = 32
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(WeightsError) as caught:
        load_run(copy)
    message = str(caught.value)
    assert "does not fit" in message and "shape mismatch" in message and "more)" in message
    assert len(message) < 1500 and "\n" not in message
