"""Streaming tiled inference: georeference, nodata, tiled == whole-scene forward, band checks, outputs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
torch = pytest.importorskip("torch")

from geofm.errors import ConfigError, DataError  # noqa: E402
from geofm.predict import CallSchedule, load_run, predict  # noqa: E402
from geofm.predict.schedule import WRITE_QUEUE, call_schedule, torch_threads  # noqa: E402
from geofm.predict.tiling import StripeAccumulator, StripeBlender, blend_window, tile_starts  # noqa: E402
from geofm.testing import write_geotiff  # noqa: E402

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
RUN_BANDS = ["BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2"]
FILE_BANDS = ["B1", "B12", "B2", "B3", "B4", "B8A", "B11"]  # extra band, different order
MEAN = [1000.0, 1100.0, 1200.0, 2500.0, 1800.0, 1300.0]
STD = [300.0, 320.0, 400.0, 800.0, 600.0, 500.0]
NODATA = -9999.0
CLASSES = ("water", "land", "cloud")

# A per-pixel backbone and decoder (1x1 convolutions): blending cannot change their output.
PLUGIN_SOURCE = """
import torch
from torch import nn

from geofm import hookimpl
from geofm.specs import BackboneSpec, DecoderSpec

WIDTH = 8


class PixelBackbone(nn.Module):
    output_kind = "maps"
    num_prefix_tokens = 0
    patch_size = 1
    tubelet_size = 1

    def __init__(self, in_chans):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, WIDTH, 1)
        self.out_channels = [WIDTH]
        self.out_reductions = [1]

    def forward_features(self, x, **meta):
        return [torch.tanh(self.conv(x))]


def build_pixel_backbone(*, checkpoint=None, bands=None, num_frames=None, img_size=None, **options):
    return PixelBackbone(len(bands) if bands else 6)


class PixelDecoder(nn.Module):
    def __init__(self, *, in_channels, in_reductions):
        super().__init__()
        self.conv = nn.Conv2d(in_channels[-1], WIDTH, 1)
        self.out_channels = WIDTH
        self.out_reduction = in_reductions[-1]

    def forward(self, features):
        return torch.relu(self.conv(features[-1]))


@hookimpl
def geofm_backbones():
    yield BackboneSpec(
        name="pixel_test", summary="per-pixel test backbone", factory="geofm_predict_test_plugin:build_pixel_backbone",
        output_kind="maps", embed_dim=WIDTH, depth=1, feature_channels=(WIDTH,), feature_reductions=(1,),
        default_levels=(0,), patch_size=1, img_size=64,
    )


@hookimpl
def geofm_decoders():
    yield DecoderSpec(
        name="pixel_test_decoder", summary="per-pixel test decoder", factory="geofm_predict_test_plugin:PixelDecoder",
        consumes="maps", num_levels=1,
    )
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory, plugin_from_source):
    with plugin_from_source(tmp_path_factory.mktemp("plugin"), "geofm_predict_test_plugin", PLUGIN_SOURCE) as module:
        yield module


def make_run(
    root: Path,
    backbone: str = "pixel_test",
    decoder: str = "pixel_test_decoder",
    task: str = "segmentation",
    bands: list[str] = RUN_BANDS,
    mean: list[float] | None = MEAN,
    std: list[float] | None = STD,
    backbone_options: dict | None = None,
) -> Path:
    """A run directory as `geofm run` writes it, with a randomly initialised model (no training)."""
    import yaml

    from geofm.compose import build_model

    torch.manual_seed(0)
    num_classes = len(CLASSES) if task == "segmentation" else 1
    model = build_model(
        backbone,
        decoder,
        task=task,
        num_classes=num_classes,
        weights="none",
        bands=bands,
        backbone_options=backbone_options,
    )
    run_dir = root / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    config = {
        "backbone": {
            "name": backbone,
            "weights": "none",
            "levels": None,
            "img_size": None,
            "num_frames": None,
            **(backbone_options or {}),
        },
        "necks": model.neck_plan,
        "decoder": {"name": decoder},
        "head": {},
        "aux_heads": [],
        "dataset": {"name": "test", "bands": list(bands), "mean": mean, "std": std},
        "task": {
            "name": task,
            "num_outputs": num_classes,
            "class_names": list(CLASSES) if task == "segmentation" else None,
        },
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    hparams = {"num_classes": num_classes, "class_names": CLASSES if task == "segmentation" else ()}
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, run_dir / "checkpoints" / "best.ckpt")
    summary = {"best_checkpoint": str(run_dir / "checkpoints" / "best.ckpt"), "task": task}
    (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir


def make_scene(path: Path, height: int, width: int, seed: int = 0) -> np.ndarray:
    """A 7-band float32 scene (bands named as FILE_BANDS) with a NaN patch and a nodata stripe."""
    rng = np.random.default_rng(seed)
    data = rng.normal(1500, 600, size=(len(FILE_BANDS), height, width)).astype(np.float32)
    data[3, height // 10 : height // 10 + 30, width // 6 : width // 6 + 90] = np.nan
    data[:, height // 2 : height // 2 + 12, :] = NODATA
    write_geotiff(path, data, nodata=NODATA, band_names=FILE_BANDS)
    return data


def reference_validity(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The run's bands of a FILE_BANDS scene, normalised with nodata set to 0, and the (H, W) validity."""
    order = [FILE_BANDS.index(b) for b in ("B2", "B3", "B4", "B8A", "B11", "B12")]
    x = data[order].astype(np.float32)
    valid = np.isfinite(x).all(0) & (x != NODATA).all(0)
    x = (x - np.asarray(MEAN, np.float32)[:, None, None]) / np.asarray(STD, np.float32)[:, None, None]
    x[:, ~valid] = 0
    return x, valid


def reference(run_dir: Path, data: np.ndarray, kind: str = "probabilities") -> tuple[np.ndarray, np.ndarray]:
    """One whole-scene forward: (K, H, W) output and (H, W) validity."""
    x, valid = reference_validity(data)
    loaded = load_run(run_dir)
    with torch.inference_mode():
        out = loaded.model(torch.from_numpy(x)[None])[0]
    if kind == "probabilities":
        out = out.softmax(0)
    return out.numpy(), valid


# --- tiling helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(1000, 256, 32), (1313, 256, 32), (256, 256, 32), (50, 256, 0)]
)
def test_tile_starts_cover_the_scene(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, overlap)
    covered = np.zeros(length, dtype=bool)
    for start in starts:
        covered[start : start + tile] = True
    assert covered.all()
    assert starts[0] == 0 and all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))
    assert max(starts) + min(tile, length) == length  # no tile reaches past the scene


def test_blend_window_is_a_partition_of_unity_across_the_overlap() -> None:
    window = blend_window(64, 64, 16)
    row = window[32]
    stride = 64 - 16
    assert np.allclose(row[stride:] + row[:16], 1.0, atol=1e-6)
    assert window.min() >= 1e-3 and window[32, 32] == 1.0


def test_stripe_releases_finished_rows_and_keeps_one_tile_of_rows() -> None:
    acc = StripeAccumulator(channels=2, width=10, tile=4)
    ones = np.ones((2, 4, 10), np.float32)
    window = np.full((4, 10), 0.5, np.float32)
    acc.add(0, 0, ones * window, window, np.ones((4, 10), bool))
    values, valid = acc.release(3)
    assert values.shape == (2, 3, 10) and np.allclose(values, 1.0) and valid.all()
    acc.add(3, 0, 3 * ones * window, window, np.ones((4, 10), bool))
    values, _ = acc.release(7)
    assert np.allclose(values[:, 0], 2.0)  # row 3: mean of the two tiles
    assert np.allclose(values[:, 1:], 3.0)
    assert acc.values.shape == (2, 4, 10)


def test_stripe_reader_decodes_each_scene_row_once(tmp_path: Path) -> None:
    from geofm.predict.scene import SceneBands, StripeReader

    class CountingReads:
        """An open dataset that records the rows each of its reads decodes."""

        def __init__(self, src) -> None:
            self.src = src
            self.decoded: list[tuple[int, int]] = []

        def __getattr__(self, name: str):
            return getattr(self.src, name)

        def read(self, *args, window, **kwargs):
            self.decoded.append((int(window.row_off), int(window.height)))
            return self.src.read(*args, window=window, **kwargs)

    path = tmp_path / "rows.tif"
    data = np.arange(3 * 40 * 7, dtype=np.int16).reshape(3, 40, 7)
    write_geotiff(path, data)
    with rasterio.open(path) as opened:
        src = CountingReads(opened)
        reader = StripeReader(src, SceneBands(indexes=(3, 1), nodata=None, by_name=False), max_height=16)
        decoded = src.decoded
        starts = tile_starts(40, 16, 4)
        for top in starts:
            height = min(16, 40 - top)
            np.testing.assert_array_equal(reader.rows(top, height), data[[2, 0], top : top + height])
    assert decoded == [(0, 16), (16, 12), (28, 12)]  # the overlapping rows were kept, not read again
    assert sum(height for _, height in decoded) == 40


# --- predict ----------------------------------------------------------------------------------------


def test_tiled_class_map_matches_whole_scene_forward(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    scene = tmp_path / "scene.tif"
    data = make_scene(scene, 1000, 1313)
    (out,) = predict(run_dir, [scene], tmp_path / "out", tile_size=256, overlap=32, batch_size=3, device="cpu")
    assert out == tmp_path / "out" / "scene_pred.tif"
    probabilities, valid = reference(run_dir, data)
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert (dst.height, dst.width, dst.count) == (1000, 1313, 1)
        assert dst.dtypes[0] == "uint8" and dst.nodata == 255
        assert dst.block_shapes[0] == (256, 256)
        assert dst.compression is not None and dst.compression.value.lower() == "deflate"
        assert "PREDICTOR" not in dst.tags(ns="IMAGE_STRUCTURE")  # labels have no gradients to difference
        tags = dst.tags()
        assert json.loads(tags["class_names"]) == list(CLASSES)
        assert Path(tags["geofm_run"]) == run_dir.resolve()
        assert tags["geofm_checkpoint"].endswith("best.ckpt") and "geofm_version" in tags
        assert dst.descriptions == ("class",)
        classes = dst.read(1)
    assert (classes[~valid] == 255).all()
    assert not valid[100:130, 218:308].any() and not valid[500:512].any()  # the NaN patch, the nodata stripe
    expected = probabilities.argmax(0)
    assert (classes[valid] == expected[valid]).mean() > 0.9999


def test_probabilities_match_whole_scene_forward(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    scene = tmp_path / "scene.tif"
    data = make_scene(scene, 300, 333, seed=1)
    (out,) = predict(run_dir, [scene], tmp_path, tile_size=128, overlap=24, batch_size=5, output="probabilities")
    expected, valid = reference(run_dir, data)
    with rasterio.open(out) as dst:
        assert dst.count == len(CLASSES) and dst.dtypes[0] == "float32"
        assert dst.descriptions == tuple(f"probability_{c}" for c in CLASSES)
        assert dst.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"  # floating-point differencing
        result = dst.read()
    assert np.isnan(result[:, ~valid]).all()
    np.testing.assert_allclose(result[:, valid], expected[:, valid], atol=1e-5)
    (scaled,) = predict(
        run_dir, [scene], tmp_path / "u8", tile_size=128, overlap=24, output="probabilities", dtype="uint8"
    )
    with rasterio.open(scaled) as dst:
        assert dst.dtypes[0] == "uint8" and dst.nodata == 255 and dst.scales[0] == pytest.approx(1 / 254)
        assert dst.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"  # horizontal differencing
        np.testing.assert_allclose(dst.read()[:, valid] / 254.0, expected[:, valid], atol=0.5 / 254 + 1e-6)


def test_regression_values_match_whole_scene_forward(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, task="regression")
    scene = tmp_path / "scene.tif"
    data = make_scene(scene, 200, 270, seed=2)
    (out,) = predict(run_dir, [scene], tmp_path, tile_size=64, overlap=16, batch_size=4)
    expected, valid = reference(run_dir, data, kind="values")
    with rasterio.open(out) as dst:
        assert dst.tags()["geofm_output"] == "regression" and dst.count == 1
        assert dst.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"
        result = dst.read(1)
    np.testing.assert_allclose(result[valid], expected[0][valid], atol=1e-5)
    assert np.isnan(result[~valid]).all()
    with pytest.raises(ConfigError, match="does not fit a regression run"):
        predict(run_dir, [scene], tmp_path / "x", output="class")
    with pytest.raises(ConfigError, match="overlap"):
        predict(run_dir, [scene], tmp_path / "x", tile_size=64, overlap=40)


def test_memory_is_one_stripe_of_tile_rows_and_bf16_runs(plugin, tmp_path: Path, monkeypatch) -> None:
    shapes = {}
    add = StripeAccumulator.add

    def recording_add(self, *args) -> None:
        shapes[id(self)] = self.values.shape
        add(self, *args)

    monkeypatch.setattr(StripeAccumulator, "add", recording_add)
    run_dir = make_run(tmp_path)
    scene = tmp_path / "tall.tif"
    data = make_scene(scene, 700, 90)
    (out,) = predict(run_dir, [scene], tmp_path, tile_size=64, overlap=8, precision="bf16")
    assert list(shapes.values()) == [(len(CLASSES), 64, 90)]  # one tile of rows across the width, whatever the height
    expected, valid = reference(run_dir, data)
    with rasterio.open(out) as dst:
        classes = dst.read(1)
    assert (classes[valid] == expected.argmax(0)[valid]).mean() > 0.95  # bf16 rounding may flip close calls


def test_schedule_splits_the_cores_between_model_calls_only_where_torch_fills_them(monkeypatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    assert call_schedule(cpu, cores=8).fitted(10) == CallSchedule(streams=2, model_threads=4, io_threads=8)
    assert call_schedule(cpu, cores=8).fitted(1) == CallSchedule(streams=1, model_threads=None, io_threads=8)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 6)
    assert call_schedule(cpu, cores=8).fitted(10) == CallSchedule(1, None, io_threads=2)  # 2 cores free
    assert call_schedule(cuda, cores=8).fitted(10) == CallSchedule(streams=1, model_threads=None, io_threads=7)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert call_schedule(cpu, cores=1).fitted(10) == CallSchedule(streams=1, model_threads=None, io_threads=1)


SCHEDULES = [(1, None, 1), (1, None, 3), (2, 1, 2), (3, 1, 1)]


@pytest.fixture
def one_torch_thread():
    """Model calls with one thread whatever the schedule: sums then add up in the same order, bit for bit."""
    with torch_threads(1):
        yield


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_schedule_writes_the_same_file(plugin, tmp_path: Path, one_torch_thread, schedule) -> None:
    run_dir = make_run(tmp_path)
    scene = tmp_path / "scene.tif"
    data = make_scene(scene, 300, 333, seed=3)
    options = {"tile_size": 64, "overlap": 16, "batch_size": 5, "output": "probabilities"}
    (default,) = predict(run_dir, [scene], tmp_path / "default", **options)
    (other,) = predict(run_dir, [scene], tmp_path / "other", schedule=CallSchedule(*schedule), **options)
    with rasterio.open(default) as a, rasterio.open(other) as b:
        first, second = a.read(), b.read()
    np.testing.assert_array_equal(first, second)  # bit for bit, NaN where invalid
    expected, valid = reference(run_dir, data)
    np.testing.assert_allclose(second[:, valid], expected[:, valid], atol=1e-5)


def test_model_calls_run_side_by_side_with_their_share_of_the_threads(plugin, tmp_path: Path, monkeypatch) -> None:
    import threading

    run_dir = make_run(tmp_path)
    scene = tmp_path / "scene.tif"
    data = make_scene(scene, 150, 150)  # every batch of tiles holds valid pixels: each is a model call
    calls = -(-(len(tile_starts(150, 32, 8)) ** 2) // 3)  # batches of 3 tiles
    loaded = load_run(run_dir)
    progress = threading.Condition()
    seen = {"started": 0, "waited": 0, "threads": set(), "callers": set(), "blenders": set()}
    forward, blend = loaded.model.forward, StripeBlender.add
    threads_before = torch.get_num_threads()

    def forward_beside_the_next(image, **meta):
        with progress:
            index = seen["started"]
            seen["started"] += 1
            seen["threads"].add(torch.get_num_threads())
            seen["callers"].add(threading.get_ident())
            progress.notify_all()
            # only a pipeline that starts call index + 1 while this one runs gets past at once
            if not progress.wait_for(lambda: seen["started"] > index + 1 or index + 1 == calls, timeout=2):
                seen["waited"] += 1
        return forward(image, **meta)

    def watched_blend(self, tiles, results, valids) -> None:
        seen["blenders"].add(threading.get_ident())
        blend(self, tiles, results, valids)

    monkeypatch.setattr(loaded.model, "forward", forward_beside_the_next)
    monkeypatch.setattr(StripeBlender, "add", watched_blend)
    options = {"tile_size": 32, "overlap": 8, "batch_size": 3, "output": "probabilities"}
    (out,) = predict(run_dir, [scene], tmp_path / "out", loaded=loaded, schedule=CallSchedule(2, 1, 1), **options)
    assert seen["started"] == calls
    assert seen["waited"] == 0  # each call ran while the next one started
    assert seen["threads"] == {1}  # each call had its share of the threads ...
    assert torch.get_num_threads() == threads_before  # ... and torch's setting is back afterwards
    assert len(seen["callers"]) == 2 and threading.get_ident() not in seen["callers"]
    assert threading.get_ident() not in seen["blenders"]
    expected, valid = reference(run_dir, data)  # blended in the order of the batches
    with rasterio.open(out) as dst:
        np.testing.assert_allclose(dst.read()[:, valid], expected[:, valid], atol=1e-5)


@pytest.mark.parametrize("schedule", [(1, None, 1), (2, 1, 1)])
@pytest.mark.parametrize("stage", ["writer", "model"])
def test_a_failure_while_predicting_stops_the_scene_and_leaves_no_file(
    plugin, tmp_path: Path, monkeypatch, schedule, stage: str
) -> None:
    run_dir = make_run(tmp_path)
    loaded = load_run(run_dir)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full" if stage == "writer" else "model failed")
        return real(*args, **kwargs)

    target = (StripeBlender, "add") if stage == "writer" else (loaded.model, "forward")
    real = getattr(*target)
    monkeypatch.setattr(*target, failing)
    scene = tmp_path / "scene.tif"
    make_scene(scene, 200, 200)
    with pytest.raises(OSError, match=r"disk full|model failed"):
        options = {"tile_size": 32, "overlap": 8, "batch_size": 2}
        predict(run_dir, [scene], tmp_path / "out", loaded=loaded, schedule=CallSchedule(*schedule), **options)
    assert 2 <= len(calls) <= 2 + WRITE_QUEUE + schedule[0]  # stopped soon, not after every batch
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("damage", "failure"),
    [("header", "cannot open"), ("truncated", "cannot read pixels of"), ("garbled", "cannot read pixels of")],
)
def test_a_damaged_scene_is_a_clear_error_and_leaves_no_output(
    plugin, tmp_path: Path, damage: str, failure: str
) -> None:
    from rasterio.shutil import copy as copy_raster

    run_dir = make_run(tmp_path)
    plain, scene = tmp_path / "plain.tif", tmp_path / "broken.tif"
    make_scene(plain, 300, 300)
    copy_raster(plain, scene, driver="GTiff", compress="deflate", tiled=True, blockxsize=64, blockysize=64)
    size = scene.stat().st_size
    with scene.open("r+b") as file:
        if damage == "header":
            file.write(b"not a tiff at all")
        elif damage == "truncated":  # the directory (written first by the copy) survives, the blocks do not
            file.truncate(size // 2)
        else:  # some compressed pixel blocks are overwritten
            file.seek(size // 3)
            file.write(bytes(range(256)) * (size // 3 // 256))
    with pytest.raises(DataError, match=failure + r" .*broken\.tif.*corrupt.*leave it out of the inputs"):
        predict(run_dir, [scene], tmp_path / "out", tile_size=64, overlap=8)
    written = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert not written  # neither an output nor a .partial file


def test_band_mismatch_is_reported_before_any_compute(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    good = tmp_path / "a_good.tif"
    make_scene(good, 40, 40)
    missing = tmp_path / "b_missing.tif"
    write_geotiff(missing, np.ones((3, 40, 40), np.float32), band_names=["B2", "B3", "B4"])
    unnamed = tmp_path / "c_unnamed.tif"
    write_geotiff(unnamed, np.ones((5, 40, 40), np.float32))

    with pytest.raises(DataError) as error:  # a computed scene would have made the --out folder
        predict(run_dir, [good, missing], tmp_path / "out")
    message = str(error.value)
    assert "NIR_NARROW" in message and "SWIR_1" in message and "B4 = RED" in message
    with pytest.raises(DataError, match=r"has 5 band\(s\) but the run expects 6: BLUE, GREEN"):
        predict(run_dir, [good, unnamed], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_output_is_not_overwritten_silently(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    scene = tmp_path / "scene.tif"
    make_scene(scene, 60, 50)
    (out,) = predict(run_dir, [scene], tmp_path / "out")
    out.write_bytes(b"keep me")
    with pytest.raises(DataError, match=r"already exists.*overwrite"):
        predict(run_dir, [scene], tmp_path / "out")
    assert out.read_bytes() == b"keep me"
    predict(run_dir, [scene], tmp_path / "out", overwrite=True)
    with rasterio.open(out) as dst:
        assert dst.shape == (60, 50)
    assert not list((tmp_path / "out").glob("*.partial"))


def test_scene_smaller_than_a_tile_with_a_token_backbone(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, backbone="tiny_vit", backbone_options={"embed_dim": 24, "num_heads": 2})
    scene = tmp_path / "small.tif"
    make_scene(scene, 45, 61)  # not a multiple of the patch size (8), smaller than the tile
    (out,) = predict(run_dir, [scene], tmp_path, tile_size=256, overlap=32, preview=True)
    with rasterio.open(out) as dst:
        assert dst.shape == (45, 61)
        classes = dst.read(1)
    assert set(np.unique(classes)) <= {0, 1, 2, 255}
    assert (classes[22:34] == 255).all() and (classes[:4] != 255).all()
    from PIL import Image

    with Image.open(out.with_suffix(".png")) as image:
        assert image.size[1] == 45 and image.size[0] > 2 * 61


def test_embeddings_are_per_patch_and_georeferenced(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, backbone="tiny_vit", backbone_options={"embed_dim": 24, "num_heads": 2})
    scene = tmp_path / "scene.tif"
    data = make_scene(scene, 150, 203)
    (out,) = predict(run_dir, [scene], tmp_path, tile_size=64, overlap=16, output="embeddings")
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert (dst.count, dst.height, dst.width) == (24, 19, 26)
        assert dst.transform.a == src.transform.a * 8 and dst.transform.c == src.transform.c
        assert dst.transform.f == src.transform.f
        values = dst.read()
    _, valid = reference_validity(data)
    padded = np.zeros((19 * 8, 26 * 8), bool)
    padded[:150, :203] = valid
    patch_valid = padded.reshape(19, 8, 26, 8).any(axis=(1, 3))  # a patch with any valid pixel is valid
    assert (~patch_valid).any() and patch_valid.any()
    assert np.isnan(values[:, ~patch_valid]).all() and np.isfinite(values[:, patch_valid]).all()


def test_inputs_may_be_folders_and_globs_and_a_checkpoint_path(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    folder = tmp_path / "scenes"
    folder.mkdir()
    make_scene(folder / "one.tif", 30, 40)
    make_scene(folder / "two.tiff", 35, 20)
    outputs = predict(run_dir / "checkpoints" / "best.ckpt", [folder], tmp_path / "a")
    assert sorted(p.name for p in outputs) == ["one_pred.tif", "two_pred.tif"]
    outputs = predict(run_dir, [str(folder / "*.tif")], tmp_path / "b")
    assert [p.name for p in outputs] == ["one_pred.tif"]
    with pytest.raises(DataError, match="no raster files"):
        predict(run_dir, [str(folder / "*.jp2")], tmp_path / "c")


def test_cli_command_predicts(plugin, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from geofm_cli.predict import predict_command

    app = typer.Typer()
    app.command()(predict_command)
    run_dir = make_run(tmp_path)
    make_scene(tmp_path / "scene.tif", 70, 90)
    args = [str(run_dir), str(tmp_path / "scene.tif"), "--out", str(tmp_path / "out"), "--tile-size", "64"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "scene_pred.tif").is_file() and "scene_pred.tif" in result.output
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "already exists" in str(result.exception or result.output)


# --- real data ---------------------------------------------------------------------------------------


def _real(relative: str) -> list[Path]:
    root = SHARED / "data" / "real"
    if not root.is_dir():
        pytest.skip(f"{root} is absent (real samples live in ../shared)")
    found = sorted(root.glob(relative))
    if not found:
        pytest.skip(f"no {relative} under {root}")
    return found


def test_real_sen1floods11_chip(plugin, tmp_path: Path) -> None:
    scene = _real("sen1floods11/S2/*_S2Hand.tif")[0]
    mean = [1300.0, 1200.0, 1100.0, 2500.0, 2000.0, 1400.0]
    std = [500.0, 500.0, 600.0, 900.0, 800.0, 700.0]
    run_dir = make_run(tmp_path, mean=mean, std=std)
    (out,) = predict(run_dir, [scene], tmp_path / "out", tile_size=256, overlap=32, preview=True)
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform and dst.shape == src.shape
        selected = src.read([2, 3, 4, 9, 12, 13])
        classes = dst.read(1)
    invalid = (selected == src.nodata).any(0)
    assert (classes[invalid] == 255).all() and (classes[~invalid] < 3).all()
    assert out.with_suffix(".png").is_file()


def test_real_landsat_rgb_scene(plugin, tmp_path: Path) -> None:
    (scene,) = _real("landsat_rgb/RGB.byte.tif")
    run_dir = make_run(tmp_path, bands=["RED", "GREEN", "BLUE"], mean=[60.0, 60.0, 60.0], std=[40.0, 40.0, 40.0])
    (out,) = predict(run_dir, [scene], tmp_path / "out", tile_size=256, overlap=32, batch_size=4)
    with rasterio.open(scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform and dst.shape == src.shape
        invalid = (src.read() == 0).any(0)
        classes = dst.read(1)
    assert invalid.any() and (classes[invalid] == 255).all() and (classes[~invalid] < 3).all()
