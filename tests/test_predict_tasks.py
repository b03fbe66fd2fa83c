"""Predict beyond single-frame maps: scene classification, multi-temporal scenes, and the --out checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
torch = pytest.importorskip("torch")

from geofm.errors import ConfigError, DataError  # noqa: E402
from geofm.predict import LoadedRun, predict  # noqa: E402
from geofm.testing import write_geotiff  # noqa: E402

BANDS = ("BLUE", "GREEN", "RED", "NIR_NARROW")
STEP_FILE_BANDS = ("B4", "B1", "B2", "B8A", "B3")  # one time step of a named file: other order, one extra band
MEAN = (1000.0, 1100.0, 1200.0, 2500.0)
STD = (300.0, 320.0, 400.0, 800.0)
NODATA = -9999.0
CLASSES = ("water", "forest", "urban")
FRAMES = 3
SMALL_VIT = {"embed_dim": 24, "num_heads": 2}


def make_loaded(tmp_path: Path, model: torch.nn.Module, task: str, frames: int = 1, names=CLASSES) -> LoadedRun:
    """A LoadedRun around ``model`` as :func:`geofm.predict.load_run` returns it."""
    return LoadedRun(
        model=model.eval(),
        config={"backbone": {"name": "test_backbone"}, "decoder": {"name": "test_decoder"}},
        band_names=BANDS,
        mean=MEAN,
        std=STD,
        task_type=task,
        class_names=tuple(names),
        num_classes=len(names),
        checkpoint=tmp_path / "best.ckpt",
        run_dir=tmp_path,
        num_frames=frames,
    )


def classifier(task: str = "classification", classes: int = len(CLASSES)) -> torch.nn.Module:
    from geofm.compose import build_model

    torch.manual_seed(0)
    return build_model(
        "tiny_vit",
        "identity",
        task=task,
        num_classes=classes,
        weights="none",
        bands=list(BANDS),
        backbone_options=SMALL_VIT,
    )


def normalised(data: np.ndarray, frames: int = 1) -> np.ndarray:
    """(T x C, H, W) time-major file bands in the run's order -> normalised (C, H, W) or (C, T, H, W)."""
    shape = (-1, 1, 1) if frames == 1 else (-1, 1, 1, 1)
    x = data.astype(np.float32)
    if frames > 1:
        x = x.reshape(frames, len(BANDS), *x.shape[-2:]).transpose(1, 0, 2, 3)
    return (x - np.asarray(MEAN, np.float32).reshape(shape)) / np.asarray(STD, np.float32).reshape(shape)


def forward(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(np.ascontiguousarray(x))[None])[0].numpy()


def chip(height: int, width: int, seed: int = 0, bands: int = len(BANDS)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(1500, 600, size=(bands, height, width)).astype(np.float32)


# --- classification ---------------------------------------------------------------------------------


def test_a_chip_of_one_tile_gets_the_models_class_everywhere(tmp_path: Path) -> None:
    model = classifier()
    loaded = make_loaded(tmp_path, model, "classification")
    data = chip(64, 64)
    write_geotiff(tmp_path / "chip.tif", data, nodata=NODATA)
    (out,) = predict(None, [tmp_path / "chip.tif"], tmp_path / "out", tile_size=64, overlap=16, loaded=loaded)
    scores = forward(model, normalised(data))
    with rasterio.open(out) as dst:
        assert (dst.count, dst.dtypes[0], dst.nodata) == (1, "uint8", 255)
        tags = dst.tags()
        assert tags["geofm_output"] == "class" and tags["geofm_task"] == "classification"
        assert json.loads(tags["class_names"]) == list(CLASSES)
        classes = dst.read(1)
    assert (classes == scores.argmax()).all()  # constant over the tile: the model's class of the chip
    (out,) = predict(
        None, [tmp_path / "chip.tif"], tmp_path / "p", tile_size=64, output="probabilities", preview=True, loaded=loaded
    )
    with rasterio.open(out) as dst:
        assert dst.descriptions == tuple(f"probability_{c}" for c in CLASSES)
        probabilities = dst.read()
    expected = torch.from_numpy(scores).softmax(0).numpy()
    np.testing.assert_allclose(probabilities, np.broadcast_to(expected[:, None, None], probabilities.shape), atol=1e-5)
    from PIL import Image

    with Image.open(out.with_suffix(".png")) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[0] == 64 and len(np.unique(pixels[:, -32:].reshape(-1, 3), axis=0)) == 1  # one colour


def test_tiles_slide_over_a_scene_and_nodata_stays_nodata(tmp_path: Path) -> None:
    model = classifier()
    loaded = make_loaded(tmp_path, model, "classification")
    data = chip(64, 128, seed=1)
    data[:, 10:14, :] = NODATA
    data[2, 30, 100] = np.nan
    write_geotiff(tmp_path / "scene.tif", data, nodata=NODATA)
    (out,) = predict(
        None, [tmp_path / "scene.tif"], tmp_path / "out", tile_size=64, overlap=0, output="probabilities", loaded=loaded
    )
    with rasterio.open(out) as dst:
        assert dst.shape == (64, 128)
        probabilities = dst.read()
    x = normalised(data)
    valid = np.isfinite(data).all(0) & (data != NODATA).all(0)
    x[:, ~valid] = 0.0  # as predict feeds invalid pixels
    assert np.isnan(probabilities[:, ~valid]).all() and (~valid).sum() == 4 * 128 + 1
    for cols in (slice(0, 64), slice(64, 128)):  # two tiles side by side, no overlap: each gets its own scores
        expected = torch.from_numpy(forward(model, x[:, :, cols])).softmax(0).numpy()
        half, inside = probabilities[:, :, cols], valid[:, cols]
        np.testing.assert_allclose(half[:, inside], np.repeat(expected[:, None], inside.sum(), axis=1), atol=1e-5)
    (out,) = predict(None, [tmp_path / "scene.tif"], tmp_path / "blend", tile_size=64, overlap=16, loaded=loaded)
    with rasterio.open(out) as dst:  # overlapping tiles blend their scores: still a valid class everywhere valid
        classes = dst.read(1)
    assert (classes[valid] < len(CLASSES)).all() and (classes[~valid] == 255).all()


def test_a_chip_smaller_than_the_tile_is_classified_unpadded(tmp_path: Path) -> None:
    model = classifier()
    loaded = make_loaded(tmp_path, model, "classification")
    data = chip(40, 56, seed=2)
    write_geotiff(tmp_path / "small.tif", data)
    (out,) = predict(None, [tmp_path / "small.tif"], tmp_path, output="probabilities", loaded=loaded)  # tile 256
    expected = torch.from_numpy(forward(model, normalised(data))).softmax(0).numpy()
    with rasterio.open(out) as dst:
        np.testing.assert_allclose(dst.read()[:, 17, 33], expected, atol=1e-5)


def test_multilabel_runs_give_one_sigmoid_band_per_class_and_refuse_class_maps(tmp_path: Path) -> None:
    names = ("cloud", "water", "crop", "road")
    model = classifier("multilabel_classification", classes=len(names))
    loaded = make_loaded(tmp_path, model, "multilabel_classification", names=names)
    data = chip(48, 48, seed=3)
    write_geotiff(tmp_path / "chip.tif", data)
    (out,) = predict(
        None, [tmp_path / "chip.tif"], tmp_path / "out", tile_size=48, overlap=8, preview=True, loaded=loaded
    )
    with rasterio.open(out) as dst:
        assert dst.count == len(names) and dst.tags()["geofm_output"] == "probabilities"
        assert json.loads(dst.tags()["class_names"]) == list(names)
        probabilities = dst.read()
    expected = torch.from_numpy(forward(model, normalised(data))).sigmoid().numpy()
    np.testing.assert_allclose(probabilities[:, 20, 20], expected, atol=1e-5)
    assert out.with_suffix(".png").is_file()
    with pytest.raises(ConfigError, match=r"^--output class does not fit a multilabel.*use --output probabilities"):
        predict(None, [tmp_path / "chip.tif"], tmp_path / "x", output="class", loaded=loaded)
    with pytest.raises(ConfigError, match="does not fit a multilabel_classification run; use probabilities"):
        predict(None, [tmp_path / "chip.tif"], tmp_path / "x", output="regression", loaded=loaded)
    single = make_loaded(tmp_path, classifier(), "classification")
    with pytest.raises(ConfigError, match="does not fit a classification run; use class or probabilities"):
        predict(None, [tmp_path / "chip.tif"], tmp_path / "x", output="regression", loaded=single)
    assert not (tmp_path / "x").exists()


def test_a_classification_run_directory_predicts(tmp_path: Path) -> None:
    import yaml

    from geofm.predict import load_run

    model = classifier()
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    config = {
        "backbone": {"name": "tiny_vit", "weights": "none", "levels": None, "img_size": None, "num_frames": None}
        | SMALL_VIT,
        "necks": model.neck_plan,
        "decoder": {"name": "identity"},
        "head": {},
        "aux_heads": [],
        "dataset": {"name": "test", "bands": list(BANDS), "mean": list(MEAN), "std": list(STD)},
        "task": {"name": "classification", "num_outputs": len(CLASSES), "class_names": list(CLASSES)},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state}, run_dir / "checkpoints" / "best.ckpt")
    data = chip(64, 64, seed=4)
    write_geotiff(tmp_path / "chip.tif", data)
    (out,) = predict(run_dir, [tmp_path / "chip.tif"], tmp_path / "out", tile_size=64)
    assert load_run(run_dir).task_type == "classification"
    with rasterio.open(out) as dst:
        assert (dst.read(1) == forward(model, normalised(data)).argmax()).all()


# --- multi-temporal ---------------------------------------------------------------------------------


class PixelTemporal(torch.nn.Module):
    """A per-pixel model of (B, C, T, H, W): tiling cannot change its output, time order and bands matter."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = torch.nn.Conv3d(len(BANDS), len(CLASSES), kernel_size=(FRAMES, 1, 1))

    def forward(self, image: torch.Tensor, **meta: object) -> torch.Tensor:
        assert image.ndim == 5 and image.shape[1:3] == (len(BANDS), FRAMES)
        return self.conv(image)[:, :, 0]


def temporal_scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """(T x C, H, W) time-major bands in the run's order, with a NaN at one time step and a nodata block."""
    data = chip(height, width, seed=seed, bands=FRAMES * len(BANDS))
    data[len(BANDS) + 2, 20:30, 40:70] = np.nan  # step 1's RED only
    data[2 * len(BANDS) :, height - 25 :, :15] = NODATA  # the last step only
    return data


def reference(model: torch.nn.Module, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Softmax of one whole-scene forward of the (C, T, H, W) input, and the (H, W) validity."""
    valid = np.isfinite(data).all(0) & (data != NODATA).all(0)
    x = normalised(data, FRAMES)
    x[..., ~valid] = 0.0
    return torch.from_numpy(forward(model, x)).softmax(0).numpy(), valid


def test_multi_temporal_tiles_match_a_whole_scene_forward(tmp_path: Path) -> None:
    model = PixelTemporal()
    loaded = make_loaded(tmp_path, model, "segmentation", frames=FRAMES)
    data = temporal_scene(150, 170)
    write_geotiff(tmp_path / "plain.tif", data, nodata=NODATA)
    order = [STEP_FILE_BANDS.index(b) for b in ("B2", "B3", "B4", "B8A")]
    named = np.zeros((FRAMES * len(STEP_FILE_BANDS), 150, 170), np.float32)
    for step in range(FRAMES):
        for run_index, file_index in enumerate(order):
            named[step * len(STEP_FILE_BANDS) + file_index] = data[step * len(BANDS) + run_index]
    write_geotiff(tmp_path / "named.tif", named, nodata=NODATA, band_names=STEP_FILE_BANDS * FRAMES)
    expected, valid = reference(model, data)
    assert not valid[20:30, 40:70].any() and not valid[-25:, :15].any()  # one step's nodata is the pixel's
    options = {"tile_size": 64, "overlap": 16, "batch_size": 3, "output": "probabilities", "loaded": loaded}
    outputs = predict(None, [tmp_path / "plain.tif", tmp_path / "named.tif"], tmp_path / "out", **options)
    for out in outputs:
        with rasterio.open(out) as dst:
            assert dst.tags()["geofm_num_frames"] == str(FRAMES)
            result = dst.read()
        assert np.isnan(result[:, ~valid]).all()
        np.testing.assert_allclose(result[:, valid], expected[:, valid], atol=1e-5)


def test_multi_temporal_composed_model_on_one_tile(tmp_path: Path) -> None:
    from geofm.compose import build_model

    torch.manual_seed(0)
    model = build_model(
        "tiny_vit",
        "upernet",
        task="segmentation",
        num_classes=len(CLASSES),
        num_frames=FRAMES,
        weights="none",
        bands=list(BANDS),
        backbone_options=SMALL_VIT,
    ).eval()
    loaded = make_loaded(tmp_path, model, "segmentation", frames=FRAMES)
    data = chip(64, 64, seed=5, bands=FRAMES * len(BANDS))
    write_geotiff(tmp_path / "scene.tif", data)
    options = {"tile_size": 64, "output": "probabilities", "preview": True, "loaded": loaded}
    (out,) = predict(None, [tmp_path / "scene.tif"], tmp_path, **options)
    expected, _ = reference(model, data)
    with rasterio.open(out) as dst:
        np.testing.assert_allclose(dst.read(), expected, atol=1e-5)
    assert out.with_suffix(".png").is_file()  # the first time step's RGB beside the map


def test_multi_temporal_band_mismatches_are_one_line_errors_before_any_compute(tmp_path: Path, monkeypatch) -> None:
    loaded = make_loaded(tmp_path, PixelTemporal(), "segmentation", frames=FRAMES)
    write_geotiff(tmp_path / "good.tif", temporal_scene(32, 32))
    write_geotiff(tmp_path / "short.tif", chip(32, 32, bands=2 * len(BANDS)))
    twice = STEP_FILE_BANDS * 2 + ("B2", "B3", "B4")  # B8A is there for two time steps only
    write_geotiff(tmp_path / "named.tif", chip(32, 32, bands=len(twice)), band_names=twice)

    def no_compute(*args, **kwargs):
        raise AssertionError("a scene was computed before the bands of every input were checked")

    monkeypatch.setattr(loaded.model, "forward", no_compute)
    with pytest.raises(DataError) as error:
        predict(None, [tmp_path / "good.tif", tmp_path / "short.tif"], tmp_path / "out", loaded=loaded)
    message = str(error.value)
    assert "\n" not in message
    assert "has 8 band(s) but the run expects 12 (4 bands x 3 time steps, time-major" in message
    assert "BLUE, GREEN, RED, NIR_NARROW" in message
    with pytest.raises(DataError, match=r"names band\(s\) NIR_NARROW 2x instead of once per time step \(3x\)"):
        predict(None, [tmp_path / "good.tif", tmp_path / "named.tif"], tmp_path / "out", loaded=loaded)
    assert not (tmp_path / "out").exists()


# --- the --out folder -------------------------------------------------------------------------------


@pytest.fixture
def untouchable(tmp_path: Path) -> tuple[Path, list[Path]]:
    """A scene beside no run, and the listing of ``tmp_path`` before.

    Reading the missing run ``<tmp_path>/run`` is a ConfigError, so only a refusal of ``--out`` before the
    run is read gives the DataError :func:`refused` expects.
    """
    write_geotiff(tmp_path / "scene.tif", chip(16, 16))
    return tmp_path / "scene.tif", sorted(tmp_path.rglob("*"))


def refused(scene: Path, out: Path, match: str) -> str:
    with pytest.raises(DataError, match=match) as error:
        predict(scene.parent / "run", [scene], out)
    message = str(error.value)
    assert "\n" not in message and "pass a writable --out folder" in message
    return message


def test_out_that_is_a_file_is_refused(tmp_path: Path, untouchable) -> None:
    scene, before = untouchable
    refused(scene, scene, r"--out .*scene\.tif is an existing file, not a folder")
    assert sorted(tmp_path.rglob("*")) == before


def test_out_below_a_file_is_refused(tmp_path: Path, untouchable) -> None:
    scene, before = untouchable
    refused(scene, scene / "a" / "b", r"cannot be created: .*scene\.tif is a file, not a folder")
    assert sorted(tmp_path.rglob("*")) == before


def test_out_below_a_folder_that_cannot_be_written_is_refused(tmp_path: Path, untouchable, monkeypatch) -> None:
    scene, _ = untouchable
    locked = tmp_path / "locked"
    locked.mkdir()
    before = sorted(tmp_path.rglob("*"))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    refused(scene, locked / "new" / "out", r"cannot be created: .*locked is not writable")
    assert sorted(tmp_path.rglob("*")) == before


def test_existing_out_folder_that_takes_no_file_is_refused(tmp_path: Path, untouchable, monkeypatch) -> None:
    import tempfile

    scene, _ = untouchable
    (tmp_path / "full").mkdir()
    before = sorted(tmp_path.rglob("*"))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    refused(scene, tmp_path / "full", r"--out .*full is not writable \(Permission denied\)")
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_folder_is_refused(tmp_path: Path, untouchable) -> None:
    scene, _ = untouchable
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        before = sorted(tmp_path.rglob("*"))
        refused(scene, locked, "is not writable")
        refused(scene, locked / "out", "cannot be created")
        assert sorted(tmp_path.rglob("*")) == before
    finally:
        locked.chmod(0o755)


def test_a_writable_out_check_leaves_nothing(tmp_path: Path) -> None:
    write_geotiff(tmp_path / "scene.tif", chip(16, 16))
    (tmp_path / "out").mkdir()
    for out in (tmp_path / "out", tmp_path / "new" / "deeper"):
        with pytest.raises(ConfigError):  # --out passes its check; then the missing run is refused
            predict(tmp_path / "run", [tmp_path / "scene.tif"], out)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "scene.tif"]
