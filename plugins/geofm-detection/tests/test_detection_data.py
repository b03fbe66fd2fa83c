"""Detection datasets: vector labels in any CRS, GeoPackage, COCO, empty chips, flips, collate, demo, NWPU VHR-10."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import shapely
import torch
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape

from geofm.data import build_dataset
from geofm.errors import DataError
from geofm.testing import write_geotiff
from geofm_detection.annotations import read_vector_instances
from geofm_detection.data_specs import DATASETS, DEMO_DETECTION_SPEC, GEOTIFF_DETECTION_SPEC, NWPU_VHR10_SPEC
from geofm_detection.demo_detection import generate_demo_detection
from geofm_detection.detection_dataset import collate_detection
from geofm_detection.example_layouts import write_geotiff_detection_example, write_nwpu_example
from geofm_detection.transforms import flip_horizontal, flip_vertical, random_flips

ORIGIN = (500_000.0, 5_000_000.0)  # upper-left corner of the test chips, EPSG:32633
PIXEL = 10.0
build_demo_detection = partial(build_dataset, DEMO_DETECTION_SPEC)
build_geotiff_detection = partial(build_dataset, GEOTIFF_DETECTION_SPEC)
build_nwpu_vhr10 = partial(build_dataset, NWPU_VHR10_SPEC)
LOADER = {"bands": None, "batch_size": 2, "num_workers": 0, "seed": 0, "mean": None, "std": None}


def _chip(path: Path, size: int = 32, seed: int = 0) -> None:
    image = np.random.default_rng(seed).integers(100, 1000, (3, size, size)).astype(np.uint16)
    write_geotiff(path, image, origin=ORIGIN, resolution=PIXEL, band_names=("RED", "GREEN", "BLUE"))


def _map_box(col: float, row: float, col2: float, row2: float) -> shapely.Polygon:
    """The pixel box [col, col2] x [row, row2] of a test chip in EPSG:32633, by hand from its transform."""
    x0, y0 = ORIGIN
    return box(x0 + col * PIXEL, y0 - row2 * PIXEL, x0 + col2 * PIXEL, y0 - row * PIXEL)


def _geojson(path: Path, shapes: list, classes: list, crs: str | None = None, key: str = "class") -> None:
    features = [
        {"type": "Feature", "properties": {key: c}, "geometry": mapping(s)}
        for s, c in zip(shapes, classes, strict=True)
    ]
    document: dict = {"type": "FeatureCollection", "features": features}
    if crs:
        document["crs"] = {"type": "name", "properties": {"name": crs}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def _to_lonlat(shapes: list) -> list:
    return [shape(g) for g in transform_geom("EPSG:32633", "EPSG:4326", [mapping(s) for s in shapes])]


def _mask_bounds(mask: torch.Tensor) -> tuple[int, int, int, int]:
    rows, cols = mask.nonzero(as_tuple=True)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def test_geojson_in_lonlat_gives_pixel_boxes_of_a_utm_chip(tmp_path: Path) -> None:
    _chip(tmp_path / "train" / "images" / "a.tif")
    shapes = _to_lonlat([_map_box(4, 6, 12, 10), _map_box(20, 2, 31, 30)])
    assert 14 < shapes[0].centroid.x < 16 and 45 < shapes[0].centroid.y < 46  # really in degrees
    _geojson(tmp_path / "train" / "labels" / "a.geojson", shapes, ["car", "house"])  # RFC 7946: no crs = EPSG:4326
    _chip(tmp_path / "train" / "images" / "b.tif", seed=1)
    _geojson(
        tmp_path / "train" / "labels" / "b.geojson", [_map_box(1, 1, 5, 5)], ["car"], "urn:ogc:def:crs:EPSG::32633"
    )
    dm = build_geotiff_detection(data_root=tmp_path, val_fraction=0.0, **LOADER)
    assert dm.class_names == ("car", "house") and dm.band_names == ("RED", "GREEN", "BLUE")
    samples = {s.id: s.annotations for s in dm.samples["train"]}
    np.testing.assert_allclose(samples["a"].boxes, [[4, 6, 12, 10], [20, 2, 31, 30]], atol=1e-3)
    assert samples["a"].labels.tolist() == [0, 1]
    np.testing.assert_allclose(samples["b"].boxes, [[1, 1, 5, 5]], atol=1e-6)


def test_geopackage_in_web_mercator_and_class_property(tmp_path: Path) -> None:
    import pyogrio.raw

    _chip(tmp_path / "chip.tif")
    shapes = [_map_box(2, 3, 9, 8), _map_box(-5, 25, 4, 40)]  # the second sticks out: clipped to the chip
    mercator = [shape(g) for g in transform_geom("EPSG:32633", "EPSG:3857", [mapping(s) for s in shapes])]
    pyogrio.raw.write(
        tmp_path / "chip.gpkg",
        geometry=np.array(shapely.to_wkb(np.array(mercator, dtype=object)), dtype=object),
        field_data=[np.array([3, 7])],
        fields=["kind"],
        crs="EPSG:3857",
        geometry_type="Polygon",
        driver="GPKG",
    )
    from affine import Affine

    transform = Affine(PIXEL, 0, ORIGIN[0], 0, -PIXEL, ORIGIN[1])
    instances = read_vector_instances(
        tmp_path / "chip.gpkg", crs="EPSG:32633", transform=transform, class_property="kind"
    )
    assert [i.category for i in instances] == ["3", "7"]
    np.testing.assert_allclose([i.box for i in instances], [[2, 3, 9, 8], [-5, 25, 4, 40]], atol=1e-3)
    with pytest.raises(DataError, match=r"no property 'class'.*class_property"):
        read_vector_instances(tmp_path / "chip.gpkg", crs="EPSG:32633", transform=transform)


def _coco_folder(root: Path) -> None:
    from pycocotools import mask as coco_mask

    _chip(root / "train" / "images" / "x.tif", size=20)
    _chip(root / "train" / "images" / "empty.tif", size=20, seed=2)
    rle_mask = np.zeros((20, 20), np.uint8, order="F")
    rle_mask[10:14, 5:8] = 1
    rle = coco_mask.encode(rle_mask)
    rle["counts"] = rle["counts"].decode()
    doc = {
        "images": [
            {"id": 1, "file_name": "x.tif", "height": 20, "width": 20},
            {"id": 2, "file_name": "empty.tif", "height": 20, "width": 20},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 5,
                "bbox": [2, 3, 5, 4],
                "segmentation": [[2, 3, 7, 3, 7, 7, 2, 7]],
            },
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [5, 10, 3, 4], "segmentation": rle},
            {"id": 3, "image_id": 1, "category_id": 9, "bbox": [0, 0, 20, 20], "iscrowd": 1},
        ],
        "categories": [{"id": 9, "name": "tree"}, {"id": 5, "name": "pool"}],
    }
    (root / "train" / "annotations.json").write_text(json.dumps(doc))


def test_coco_boxes_masks_and_an_empty_chip(tmp_path: Path) -> None:
    _coco_folder(tmp_path)
    dm = build_geotiff_detection(data_root=tmp_path, val_fraction=0.0, augment=False, **LOADER)
    assert dm.class_names == ("pool", "tree")  # COCO: categories in id order
    assert dm.with_masks  # auto: the objects have segmentations
    dm.setup("fit")
    items = {s.id: dm.dataset("train")[i] for i, s in enumerate(dm.samples["train"])}
    item = items["x"]
    assert item["boxes"].tolist() == [[2, 3, 7, 7], [5, 10, 8, 14]] and item["labels"].tolist() == [0, 1]
    masks = item["masks"]
    assert masks.dtype == torch.uint8 and masks.shape == (2, 20, 20)
    assert _mask_bounds(masks[0]) == (2, 3, 7, 7) and int(masks[0].sum()) == 20  # the polygon's pixels
    assert _mask_bounds(masks[1]) == (5, 10, 8, 14) and int(masks[1].sum()) == 12  # the RLE's pixels
    empty = items["empty"]
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,) and empty["masks"].shape == (0, 20, 20)
    batch = collate_detection([item, empty])
    assert batch["image"].shape == (2, 3, 20, 20) and [b.shape[0] for b in batch["boxes"]] == [2, 0]


def test_empty_vector_label_file_and_missing_labels(tmp_path: Path) -> None:
    _chip(tmp_path / "train" / "images" / "a.tif")
    _geojson(tmp_path / "train" / "labels" / "a.geojson", [_map_box(1, 1, 6, 6)], ["car"])
    with pytest.raises(DataError, match=r"cannot reproject the labels .*a.geojson from EPSG:4326.*RFC 7946"):
        build_geotiff_detection(data_root=tmp_path, **LOADER)  # UTM metres without a crs member
    _geojson(tmp_path / "train" / "labels" / "a.geojson", [_map_box(1, 1, 6, 6)], ["car"], "EPSG:32633")
    _chip(tmp_path / "train" / "images" / "empty.tif")
    _geojson(tmp_path / "train" / "labels" / "empty.geojson", [], [])
    _chip(tmp_path / "train" / "images" / "unlabelled.tif")
    with pytest.raises(DataError, match=r"unlabelled.tif has no label file.*missing_labels=empty"):
        build_geotiff_detection(data_root=tmp_path, **LOADER)
    dm = build_geotiff_detection(data_root=tmp_path, missing_labels="empty", val_fraction=0.0, **LOADER)
    counts = {s.id: len(s.annotations) for s in dm.samples["train"]}
    assert counts == {"a": 1, "empty": 0, "unlabelled": 0}
    assert dm.with_masks  # polygons: auto gives masks
    with pytest.raises(DataError, match="'car' are not among the classes tank"):
        build_geotiff_detection(data_root=tmp_path, missing_labels="empty", classes="tank", **LOADER)


def test_flips_move_boxes_and_masks_together() -> None:
    image = np.zeros((2, 16, 24), np.float32)
    masks = np.zeros((1, 16, 24), np.uint8)
    masks[0, 2:6, 3:10] = 1
    image[:, 2:6, 3:10] = 1
    boxes = np.array([[3, 2, 10, 6]], np.float32)
    flipped_image, flipped_boxes, flipped_masks = flip_horizontal(image, boxes, masks)
    assert flipped_boxes.tolist() == [[14, 2, 21, 6]]
    assert _mask_bounds(torch.from_numpy(flipped_masks[0].copy())) == (14, 2, 21, 6)
    assert (flipped_image[0] == flipped_masks[0]).all()
    _, flipped_boxes, flipped_masks = flip_vertical(image, boxes, masks)
    assert flipped_boxes.tolist() == [[3, 10, 10, 14]]
    assert _mask_bounds(torch.from_numpy(flipped_masks[0].copy())) == (3, 10, 10, 14)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        out_image, out_boxes, out_masks = random_flips(image, boxes, masks, rng)
        assert out_masks is not None
        assert _mask_bounds(torch.from_numpy(out_masks[0])) == tuple(int(v) for v in out_boxes[0])
        assert (out_image[0] == out_masks[0]).all()
        seen.add(tuple(out_boxes[0].tolist()))
    assert len(seen) == 4  # none, left-right, up-down, both


def test_collate_pads_images_and_masks_of_different_sizes() -> None:
    def sample(height: int, width: int, count: int) -> dict:
        return {
            "image": torch.ones(3, height, width),
            "boxes": torch.zeros(count, 4),
            "labels": torch.zeros(count, dtype=torch.int64),
            "masks": torch.ones(count, height, width, dtype=torch.uint8),
            "meta": {"timestamps": torch.zeros(1), "center_latlon": torch.zeros(2), "gsd": torch.tensor(1.0)},
        }

    batch = collate_detection([sample(10, 12, 3), sample(14, 8, 0), sample(14, 12, 1)])
    assert batch["image"].shape == (3, 3, 14, 12) and batch["image"].dtype == torch.float32
    assert batch["image"][0, :, 10:].abs().sum() == 0 and batch["image"][1, :, :, 8:].abs().sum() == 0
    assert [b.shape for b in batch["boxes"]] == [(3, 4), (0, 4), (1, 4)]
    assert [m.shape for m in batch["masks"]] == [(3, 14, 12), (0, 14, 12), (1, 14, 12)]
    assert batch["meta"]["timestamps"].shape == (3, 1) and batch["meta"]["gsd"].shape == (3,)
    assert batch["image_sizes"].tolist() == [[10, 12], [14, 8], [14, 12]]
    without = sample(4, 4, 1)
    del without["masks"]
    with pytest.raises(DataError, match="all or none"):
        collate_detection([sample(4, 4, 1), without])


def test_demo_builds_in_the_cache_with_batches_of_the_detection_format(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GEOFM_CACHE", str(tmp_path))
    dm = build_demo_detection(num_chips=12, size=32, **{**LOADER, "batch_size": 4})
    assert (tmp_path / "datasets" / "demo_detection" / "train" / "images").is_dir()
    assert dm.class_names == ("building", "tank") and dm.num_classes == 2 and dm.ignore_index is None
    assert dm.band_names == ("BLUE", "GREEN", "RED", "NIR_BROAD") and dm.num_frames == 1
    assert {k: len(v) for k, v in dm.samples.items()} == {"train": 8, "val": 2, "test": 2}
    dm.setup("fit")
    assert len(dm.mean) == len(dm.std) == 4
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 4, 32, 32) and batch["image"].dtype == torch.float32
    assert set(batch) == {"image", "boxes", "labels", "masks", "image_sizes", "meta"}
    assert batch["image_sizes"].tolist() == [[32, 32]] * 4
    for boxes, labels, masks in zip(batch["boxes"], batch["labels"], batch["masks"], strict=True):
        assert boxes.dtype == torch.float32 and labels.dtype == torch.int64 and masks.dtype == torch.uint8
        assert 1 <= len(boxes) <= 4 and masks.shape == (len(boxes), 32, 32) and set(labels.tolist()) <= {0, 1}
        for box_, mask in zip(boxes, masks, strict=True):  # the box covers its mask (flips included)
            x1, y1, x2, y2 = _mask_bounds(mask)
            assert box_[0] - 1 <= x1 and box_[1] - 1 <= y1 and x2 <= box_[2] + 1 and y2 <= box_[3] + 1
    assert batch["meta"]["center_latlon"].shape == (4, 2) and torch.isfinite(batch["meta"]["timestamps"]).all()
    assert torch.allclose(batch["meta"]["gsd"], torch.full((4,), 2.0))
    val = next(iter(dm.val_dataloader()))
    assert len(val["boxes"]) == 2
    assert build_demo_detection(num_chips=12, size=32, with_masks="false", **LOADER).with_masks is False


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_demo_generation_is_deterministic_and_small(tmp_path: Path) -> None:
    first = _digest(generate_demo_detection(tmp_path / "a", num_chips=6, size=32))
    assert first == _digest(generate_demo_detection(tmp_path / "b", num_chips=6, size=32))
    assert len([f for f in first if f.endswith(".geojson")]) == 6
    import inspect

    default = inspect.signature(generate_demo_detection).parameters["num_chips"].default
    root = generate_demo_detection(tmp_path / "c", num_chips=30)  # the default chip size, a tenth of the chips
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert 1e6 < size * default / 30 < 10e6  # the default demo: a few MB


def test_nwpu_reads_its_example_layout(tmp_path: Path) -> None:
    write_nwpu_example(tmp_path / "NWPU VHR-10 dataset")  # as the archive unpacks
    dm = build_nwpu_vhr10(data_root=tmp_path, negatives=True, **LOADER)
    assert dm.class_names == NWPU_VHR10_SPEC.classes and dm.num_classes == 10
    assert dm.band_names == ("RED", "GREEN", "BLUE")
    assert sum(len(v) for v in dm.samples.values()) == 7 and all(len(v) >= 1 for v in dm.samples.values())
    first = next(s for split in dm.samples.values() for s in split if s.id == "positive/001")
    assert first.annotations.boxes.tolist() == [[3, 3, 15, 15], [20, 24, 40, 38]]
    assert first.annotations.labels.tolist() == [0, 9]  # classes 1 and 10 of the files
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[:2] == (2, 3) and "masks" not in batch
    assert torch.allclose(batch["meta"]["gsd"], torch.ones(2)) and torch.isnan(batch["meta"]["center_latlon"]).all()


def test_nwpu_missing_folder_says_what_and_where(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        build_nwpu_vhr10(data_root=tmp_path / "nowhere", **LOADER)
    message = str(error.value)
    assert "nwpu_vhr10 is not at" in message and "positive image set/" in message and "ground truth/" in message
    assert "drive.google.com" in message and "expected layout" in message


def test_nwpu_malformed_ground_truth_names_the_line(tmp_path: Path) -> None:
    write_nwpu_example(tmp_path)
    (tmp_path / "ground truth" / "002.txt").write_text("(1,2),(3,4),1\n(1,2),(3,4),11\n")
    with pytest.raises(DataError, match=r"002.txt line 2 .*class from 1 to 10"):
        build_nwpu_vhr10(data_root=tmp_path, **LOADER)


def test_geotiff_detection_reads_its_example_layout(tmp_path: Path) -> None:
    write_geotiff_detection_example(tmp_path)
    dm = build_geotiff_detection(data_root=tmp_path, **LOADER)
    assert dm.class_names == ("car", "house") and {k: len(v) for k, v in dm.samples.items()} == {
        "train": 3,
        "val": 1,
        "test": 1,
    }
    np.testing.assert_allclose(dm.samples["test"][0].annotations.boxes, [[10, 10, 17, 17]], atol=1e-6)
    dm.setup("fit")
    assert next(iter(dm.test_dataloader()))["labels"][0].tolist() == [1]


def test_specs() -> None:
    names = {s.name: s for s in DATASETS}
    assert set(names) == {"geotiff_detection", "demo_detection", "nwpu_vhr10"}
    assert all(s.task == "detection" for s in DATASETS)
    assert DEMO_DETECTION_SPEC.generic and names["geotiff_detection"].generic and not NWPU_VHR10_SPEC.generic
    assert names["geotiff_detection"].example_layout and NWPU_VHR10_SPEC.example_layout
