"""Tiny copies of the detection datasets' layouts, so ``geofm plugins check`` builds them without the data.

Each writer is a spec's ``example_layout`` (``fn(root: Path) -> None``): a few small chips with objects,
deterministic, written with the same formats the real data uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["write_geotiff_detection_example", "write_nwpu_example"]

_PIXEL = 10.0


def _chip(path: Path, rng: np.random.Generator, origin: tuple[float, float], size: int = 32) -> None:
    """A (3, size, size) uint16 RED GREEN BLUE GeoTIFF in EPSG:32633 with its upper-left corner at ``origin``."""
    import rasterio
    from affine import Affine

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "count": 3,
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": Affine(_PIXEL, 0.0, origin[0], 0.0, -_PIXEL, origin[1]),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(rng.integers(200, 3000, (3, size, size)).astype(np.uint16))
        dst.descriptions = ("RED", "GREEN", "BLUE")


def _map_box(origin: tuple[float, float], col: float, row: float, width: float, height: float) -> object:
    """A box of pixels (``col``, ``row`` upper-left, ``width`` x ``height``) in map coordinates of a chip."""
    from shapely.geometry import box

    x0, y0 = origin
    return box(x0 + col * _PIXEL, y0 - (row + height) * _PIXEL, x0 + (col + width) * _PIXEL, y0 - row * _PIXEL)


def _write_vector(path: Path, shapes: list[object], classes: list[str], *, crs: str, driver: str) -> None:
    import pyogrio.raw
    import shapely

    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.raw.write(
        path,
        geometry=np.array(shapely.to_wkb(np.array(shapes, dtype=object)), dtype=object),
        field_data=[np.array(classes, dtype=object)],
        fields=["class"],
        crs=crs,
        geometry_type="Polygon",
        driver=driver,
    )


def write_geotiff_detection_example(root: Path) -> None:
    """The ``geotiff_detection`` layout: 32 x 32 RGB chips with objects of the classes car and house.

    Three training chips labelled by GeoJSON in EPSG:4326, a validation chip with COCO annotations and a
    test chip with a GeoPackage in the chip's CRS.
    """
    import shapely
    from rasterio.warp import transform_geom

    rng = np.random.default_rng(0)
    for i in range(3):
        origin = (500_000.0 + 1_000.0 * i, 5_000_000.0)
        _chip(root / "train" / "images" / f"chip_{i}.tif", rng, origin)
        shapes = [_map_box(origin, 4 + i, 5, 6, 4), _map_box(origin, 18, 16 - i, 8, 9)]
        lonlat = transform_geom("EPSG:32633", "EPSG:4326", [shapely.geometry.mapping(s) for s in shapes])
        geometries = [shapely.geometry.shape(g) for g in lonlat]
        _write_vector(
            root / "train" / "labels" / f"chip_{i}.geojson",
            geometries,
            ["car", "house"],
            crs="EPSG:4326",
            driver="GeoJSON",
        )
    _chip(root / "val" / "images" / "chip_val.tif", rng, (520_000.0, 5_000_000.0))
    coco = {
        "images": [{"id": 1, "file_name": "chip_val.tif", "height": 32, "width": 32}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 4, 6, 5], "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 2,
                "bbox": [15, 15, 10, 10],
                "segmentation": [[15, 15, 25, 15, 25, 25, 15, 25]],
                "iscrowd": 0,
            },
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "house"}],
    }
    (root / "val" / "annotations.json").write_text(json.dumps(coco, indent=1))
    origin = (530_000.0, 5_000_000.0)
    _chip(root / "test" / "images" / "chip_test.tif", rng, origin)
    _write_vector(
        root / "test" / "labels" / "chip_test.gpkg",
        [_map_box(origin, 10, 10, 7, 7)],
        ["house"],
        crs="EPSG:32633",
        driver="GPKG",
    )


def write_nwpu_example(root: Path) -> None:
    """The NWPU VHR-10 layout: six positive JPEGs of different sizes with their ground truth, one negative JPEG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder in ("positive image set", "negative image set", "ground truth"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in range(1, 7):
        height, width = 40 + 4 * i, 48
        pixels = rng.integers(0, 255, (height, width, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(root / "positive image set" / f"{i:03d}.jpg")
        lines = [f"({2 + i},{3}),({14 + i},{15}),{i}", f"(20,{height - 20}),(40,{height - 6}),{11 - i}", ""]
        (root / "ground truth" / f"{i:03d}.txt").write_text("\n".join(lines))
    pixels = rng.integers(0, 255, (36, 36, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(root / "negative image set" / "001.jpg")
