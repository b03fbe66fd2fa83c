"""Predict on detection and instance segmentation runs: one feature per object across overlapping tiles.

The run directories have the real layout (config.yaml, checkpoints/best.ckpt) and load through
``geofm.predict.load_run`` -> ``build_run_model`` -> ``DetectionModel``; only the detector is a stub
(registered by a test plugin): it finds the bright rectangles of each tile by thresholding its first band,
reads each one's class from the second band and its score from the third, and reports a rectangle cut by
the tile's edge as the tile sees it, cut, as a real detector would.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pyogrio = pytest.importorskip("pyogrio")
shapely = pytest.importorskip("shapely")

from geofm.errors import ConfigError, DataError  # noqa: E402
from geofm.predict import LoadedRun, predict  # noqa: E402
from geofm.testing import write_geotiff  # noqa: E402

BANDS = ["BLUE", "GREEN", "RED"]  # brightness, class index, score
CLASSES = ("building", "car", "field")
ORIGIN, RES = (500000.0, 4500000.0), 30.0
TILE, OVERLAP = 64, 16  # a 100-pixel side is tiled at 0 and 36: the tiles share pixels 36..63

PLUGIN_SOURCE = """
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from geofm import hookimpl
from geofm.specs import BackboneSpec, DecoderSpec


class PixelBackbone(nn.Module):
    output_kind = "maps"
    num_prefix_tokens = 0
    patch_size = 1
    tubelet_size = 1

    def __init__(self, in_chans):
        super().__init__()
        self.conv = nn.Conv2d(in_chans, 4, 1)
        self.out_channels = [4]
        self.out_reductions = [1]

    def forward_features(self, x, **meta):
        return [self.conv(x)]


def build_backbone(*, checkpoint=None, bands=None, num_frames=None, img_size=None, **options):
    return PixelBackbone(len(bands))


def components(bright):
    # (H, W) bool -> (H, W) int64 labels of its 8-connected parts (0: background), by max propagation
    seeds = torch.arange(1, bright.numel() + 1, dtype=torch.float64).reshape(bright.shape) * bright
    labels = seeds
    while True:
        grown = F.max_pool2d(labels[None, None], 3, stride=1, padding=1)[0, 0] * bright
        if torch.equal(grown, labels):
            return labels.long()
        labels = grown


class BrightBoxes(nn.Module):
    def __init__(self, *, in_channels, in_reductions, num_classes, masks=False):
        super().__init__()
        self.num_classes = num_classes
        self.masks = masks
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, features, images, image_sizes, targets=None):
        results = []
        for image, (height, width) in zip(images, image_sizes):
            x = image[:, :height, :width].double().cpu()
            labelled = components(x[0] > 5).numpy()
            x = x.numpy()
            boxes, labels, scores, masks = [], [], [], []
            for index in np.unique(labelled[labelled > 0]):
                part = labelled == index
                rows, cols = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
                boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
                labels.append(int(round(float(np.median(x[1][part])))))
                scores.append(float(x[2][part].mean()))
                masks.append(part[None].astype(np.float32))
            result = {
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.int64),
                "scores": torch.tensor(scores, dtype=torch.float32),
            }
            if self.masks:
                result["masks"] = torch.from_numpy(np.stack(masks) if masks else np.zeros((0, 1, height, width)))
            results.append(result)
        return results


@hookimpl
def geofm_backbones():
    yield BackboneSpec(
        name="pixel_objects_test", summary="per-pixel test backbone",
        factory="geofm_objects_test_plugin:build_backbone",
        output_kind="maps", embed_dim=4, depth=1, feature_channels=(4,), feature_reductions=(1,),
        default_levels=(0,), patch_size=1, img_size=64,
    )


@hookimpl
def geofm_decoders():
    yield DecoderSpec(
        name="bright_boxes_test", summary="finds bright rectangles", factory="geofm_objects_test_plugin:BrightBoxes",
        consumes="maps", num_levels=1, tasks=("detection", "instance_segmentation"),
    )
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory, plugin_from_source):
    with plugin_from_source(tmp_path_factory.mktemp("plugin"), "geofm_objects_test_plugin", PLUGIN_SOURCE) as module:
        yield module


def make_run(root: Path, task: str = "detection") -> Path:
    """A run directory as `geofm run` writes it, for the stub detector (no training: it has nothing to learn)."""
    import yaml

    from geofm.compose import build_model

    masks = task == "instance_segmentation"
    model = build_model(
        "pixel_objects_test",
        "bright_boxes_test",
        task=task,
        num_classes=len(CLASSES),
        weights="none",
        bands=BANDS,
        decoder_options={"masks": masks},
    )
    run_dir = root / f"run_{task}"
    (run_dir / "checkpoints").mkdir(parents=True)
    config = {
        "backbone": {"name": "pixel_objects_test", "weights": "none"},
        "necks": model.neck_plan,
        "decoder": {"name": "bright_boxes_test", "masks": masks},
        "head": {},
        "aux_heads": [],
        "dataset": {"name": "test", "bands": BANDS, "mean": [0.0] * 3, "std": [1.0] * 3},
        "task": {"name": task, "num_outputs": len(CLASSES), "class_names": list(CLASSES)},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    hparams = {"num_classes": len(CLASSES), "class_names": CLASSES}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, run_dir / "checkpoints" / "best.ckpt")
    (run_dir / "summary.json").write_text(json.dumps({"task": task}), encoding="utf-8")
    return run_dir


def make_scene(path: Path, objects: list[tuple[slice, slice, int, float]], size: int = 100, bands: int = 3) -> None:
    """A scene of ``size`` x ``size`` pixels with bright rectangles (rows, cols, class index, score)."""
    data = np.zeros((bands, size, size), dtype=np.float32)
    for rows, cols, label, score in objects:
        data[0, rows, cols] = 10.0
        data[1, rows, cols] = label
        data[2, rows, cols] = score
    write_geotiff(path, data, origin=ORIGIN, resolution=RES)


def map_box(rows: slice, cols: slice) -> tuple[float, float, float, float]:
    """The map bounds (minx, miny, maxx, maxy) of a pixel rectangle of the test scenes."""
    x0, y0 = ORIGIN
    return (x0 + cols.start * RES, y0 - rows.stop * RES, x0 + cols.stop * RES, y0 - rows.start * RES)


def read_objects(path: Path) -> tuple[dict, np.ndarray, dict[str, np.ndarray]]:
    meta, _, geometry, values = pyogrio.raw.read(path, layer="objects")
    fields = dict(zip(meta["fields"], values, strict=True))
    return meta, shapely.from_wkb(geometry), fields


# A straddles the column tiles' border and is whole in the right tiles; B lies in the shared columns, whole in
# two tiles; C (90 pixels wide) is larger than the overlap, so no tile sees it whole; D sits where 4 tiles meet.
A = (slice(10, 30), slice(55, 75), 1, 0.9)
B = (slice(80, 95), slice(40, 56), 0, 0.8)
C = (slice(40, 50), slice(5, 95), 2, 0.7)
D = (slice(55, 70), slice(55, 70), 1, 0.6)


def test_objects_cut_by_tile_edges_come_out_once_in_map_coordinates(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    make_scene(tmp_path / "scene.tif", [A, B, C, D])
    (out,) = predict(run_dir, [tmp_path / "scene.tif"], tmp_path / "out", tile_size=TILE, overlap=OVERLAP)
    assert out == tmp_path / "out" / "scene.gpkg"
    meta, geometries, fields = read_objects(out)
    assert meta["crs"] == "EPSG:32633" and meta["geometry_type"] == "Polygon"
    assert list(meta["fields"]) == ["class", "class_index", "score"]
    assert len(geometries) == 4  # each object once: cut views dropped or stitched, duplicates suppressed
    order = np.argsort(-fields["score"])
    for (rows, cols, label, score), i in zip([A, B, C, D], order, strict=True):
        np.testing.assert_allclose(geometries[i].bounds, map_box(rows, cols), atol=RES)  # within a pixel
        assert fields["class"][i] == CLASSES[label] and fields["class_index"][i] == label
        assert fields["score"][i] == pytest.approx(score, abs=1e-6)
        assert geometries[i].area == pytest.approx(shapely.box(*map_box(rows, cols)).area)  # a box polygon
    info = pyogrio.read_info(out, layer="objects")
    assert info["layer_metadata"]["geofm_task"] == "detection"
    assert json.loads(info["layer_metadata"]["class_names"]) == list(CLASSES)


def test_the_stub_reports_an_object_cut_by_a_tile_edge_as_cut(plugin, tmp_path: Path) -> None:
    """What the merge must undo is real: a tile that sees part of A reports a box ending at its edge."""
    run_dir = make_run(tmp_path)
    make_scene(tmp_path / "scene.tif", [A])
    (whole,) = predict(run_dir, [tmp_path / "scene.tif"], tmp_path / "whole", tile_size=128)
    from geofm.predict import load_run

    loaded = load_run(run_dir)
    with rasterio.open(tmp_path / "scene.tif") as src:
        tile = torch.from_numpy(src.read(window=((0, 64), (0, 64))))[None]
    with torch.inference_mode():
        (left,) = loaded.model(tile)
    assert left["boxes"].tolist() == [[55.0, 10.0, 64.0, 30.0]]  # the left tile sees A cut at its edge
    _, geometries, _ = read_objects(whole)
    np.testing.assert_allclose(geometries[0].bounds, map_box(*A[:2]), atol=1e-6)


def test_score_threshold_filters_and_other_options_are_checked(plugin, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from geofm_cli.predict import predict_command

    app = typer.Typer()
    app.command()(predict_command)
    run_dir = make_run(tmp_path)
    weak = (slice(70, 90), slice(10, 30), 0, 0.2)
    make_scene(tmp_path / "scene.tif", [A, weak])
    common = [str(run_dir), str(tmp_path / "scene.tif"), "--tile-size", str(TILE), "--overlap", str(OVERLAP)]
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "a" / "scene.gpkg") in result.output
    _, _, fields = read_objects(tmp_path / "a" / "scene.gpkg")
    assert list(fields["class"]) == ["car"]  # the default threshold (0.3) drops the weak object
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "b"), "--score-threshold", "0.1"])
    assert result.exit_code == 0, result.output
    _, _, fields = read_objects(tmp_path / "b" / "scene.gpkg")
    assert sorted(fields["class"]) == ["building", "car"]
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "c"), "--score-threshold", "0.95"])
    _, geometries, _ = read_objects(tmp_path / "c" / "scene.gpkg")
    assert result.exit_code == 0 and len(geometries) == 0
    result = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "a")])
    assert result.exit_code != 0 and "already exists" in str(result.exception)
    with pytest.raises(ConfigError, match="--preview apply to maps"):
        predict(run_dir, [tmp_path / "scene.tif"], tmp_path / "d", preview=True)
    with pytest.raises(ConfigError, match="score_threshold must be between 0 and 1"):
        predict(run_dir, [tmp_path / "scene.tif"], tmp_path / "d", score_threshold=1.5)
    assert not (tmp_path / "d").exists()


def test_object_options_are_refused_for_map_runs(tmp_path: Path) -> None:
    loaded = LoadedRun(
        model=torch.nn.Conv2d(3, 2, 1),
        config={"backbone": {"name": "b"}, "decoder": {"name": "d"}},
        band_names=tuple(BANDS),
        mean=None,
        std=None,
        task_type="segmentation",
        class_names=("a", "b"),
        num_classes=2,
        checkpoint=tmp_path / "best.ckpt",
        run_dir=tmp_path,
    )
    make_scene(tmp_path / "scene.tif", [])
    with pytest.raises(ConfigError, match=r"--score-threshold, --vector-format apply to detection"):
        predict(
            None, [tmp_path / "scene.tif"], tmp_path / "out", score_threshold=0.5, vector_format="gpkg", loaded=loaded
        )


def test_instance_masks_become_polygons_and_geojson_is_lon_lat(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, "instance_segmentation")
    rows, cols = np.ogrid[:100, :100]
    disc = (rows - 30) ** 2 + (cols - 62) ** 2 <= 12**2  # straddles the column border at 64
    data = np.zeros((3, 100, 100), dtype=np.float32)
    data[0][disc], data[1][disc], data[2][disc] = 10.0, 2, 0.75
    write_geotiff(tmp_path / "disc.tif", data, origin=ORIGIN, resolution=RES)
    (out,) = predict(run_dir, [tmp_path / "disc.tif"], tmp_path / "out", tile_size=TILE, overlap=OVERLAP)
    _, geometries, fields = read_objects(out)
    assert len(geometries) == 1 and list(fields["class"]) == ["field"]
    polygon = geometries[0]
    assert polygon.geom_type == "Polygon" and polygon.is_valid
    assert polygon.area == pytest.approx(disc.sum() * RES**2)  # the mask's pixels, not its box
    np.testing.assert_allclose(polygon.bounds, map_box(slice(18, 43), slice(50, 75)), atol=1e-6)
    (geojson,) = predict(
        run_dir, [tmp_path / "disc.tif"], tmp_path / "gj", tile_size=TILE, overlap=OVERLAP, vector_format="geojson"
    )
    assert geojson.name == "disc.geojson"
    document = json.loads(geojson.read_text(encoding="utf-8"))
    (feature,) = document["features"]
    assert feature["properties"] == {"class": "field", "class_index": 2, "score": pytest.approx(0.75)}
    from rasterio.warp import transform_geom

    back = shapely.geometry.shape(transform_geom("EPSG:4326", "EPSG:32633", feature["geometry"]))
    assert back.symmetric_difference(polygon).area < 0.01 * polygon.area  # lon/lat of the same polygon


def test_an_empty_scene_writes_an_empty_layer(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    make_scene(tmp_path / "empty.tif", [])
    (out,) = predict(run_dir, [tmp_path / "empty.tif"], tmp_path / "out", tile_size=TILE, overlap=OVERLAP)
    meta, geometries, fields = read_objects(out)
    assert len(geometries) == 0 and meta["crs"] == "EPSG:32633"
    assert {name: str(values.dtype) for name, values in fields.items()} == {
        "class": "object",
        "class_index": "int32",
        "score": "float32",
    }
    assert sorted(p.name for p in out.parent.iterdir()) == ["empty.gpkg"]  # no partial file left


def test_a_scene_with_the_wrong_band_count_is_a_one_line_error(plugin, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    make_scene(tmp_path / "four.tif", [A], bands=4)
    with pytest.raises(DataError, match="has 4 band") as caught:
        predict(run_dir, [tmp_path / "four.tif"], tmp_path / "out")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


# --- a run that geofm.run trained with a real detector ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("task", "decoder"), [("detection", "faster_rcnn"), ("instance_segmentation", "mask_rcnn")])
def test_a_trained_detection_run_predicts_a_mosaic(tmp_path: Path, task: str, decoder: str) -> None:
    """A tiny run of the demo trains through geofm.run; predict tiles a 2 x 2 mosaic of its chips."""
    pytest.importorskip("geofm_detection")
    import geofm
    from geofm.registry import get_registry

    if decoder not in get_registry("decoders").names():
        pytest.skip(f"decoder {decoder} is not registered (geofm-detection without it)")
    data_root = tmp_path / "demo"
    config = {
        "backbone": {"name": "timm_resnet18", "weights": "none"},
        "decoder": {"name": decoder},
        "dataset": {"name": "demo_detection", "data_root": str(data_root), "num_chips": 12, "size": 64},
        "task": {"name": task},
        "trainer": {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "progress_bar": False},
        "out": str(tmp_path / "runs"),
    }
    config["dataset"].update(num_workers=0, batch_size=4)
    config["trainer"]["accelerator"] = "cpu"
    run_dir = Path(geofm.run(config)["run_dir"])
    chips = sorted(data_root.glob("*/images/*.tif"))[:4]
    with rasterio.open(chips[0]) as src:
        profile, descriptions = src.profile, src.descriptions
    arrays = [rasterio.open(chip).read() for chip in chips]
    mosaic = np.concatenate([np.concatenate(arrays[:2], axis=2), np.concatenate(arrays[2:], axis=2)], axis=1)
    profile.update(height=mosaic.shape[1], width=mosaic.shape[2])
    with rasterio.open(tmp_path / "mosaic.tif", "w", **profile) as dst:
        dst.write(mosaic)
        dst.descriptions = descriptions
        bounds = shapely.box(*dst.bounds)
    (out,) = predict(run_dir, [tmp_path / "mosaic.tif"], tmp_path / "out", tile_size=64, overlap=16, score_threshold=0)
    meta, geometries, fields = read_objects(out)
    assert meta["crs"] == "EPSG:32633" and list(meta["fields"]) == ["class", "class_index", "score"]
    assert len(geometries) > 0  # an untrained detector still reports low-scoring objects
    assert all(g.is_valid and bounds.buffer(1e-6).contains(g) for g in geometries)
    assert set(fields["class"]) <= {"building", "tank"}
    assert [("building", "tank")[k] for k in fields["class_index"]] == list(fields["class"])
    assert (np.diff(fields["score"]) <= 0).all()  # highest score first
    if task == "detection":  # after the merge no two boxes of a class overlap beyond --nms-iou
        boxes = torch.tensor([g.bounds for g in geometries], dtype=torch.float64)
        from torchvision.ops import box_iou

        same = torch.from_numpy(fields["class_index"][:, None] == fields["class_index"][None, :])
        overlap = box_iou(boxes, boxes) * same
        assert (overlap.fill_diagonal_(0) <= 0.5 + 1e-6).all()
