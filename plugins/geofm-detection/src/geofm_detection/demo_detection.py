"""The ``demo_detection`` dataset: generated chips with buildings and tanks, deterministic, cached after the first run.

Each chip is a uint16 GeoTIFF (reflectance x 10000) in four bands (BLUE, GREEN, RED, NIR_BROAD) on a 2 m
grid in EPSG:32633, a smooth mix of vegetation and bare soil with noise, holding one to four objects of
two classes with distinct shapes and spectra: ``building`` (rotated rectangles, bright and flat across the
bands) and ``tank`` (ellipses, bright in blue and dark in the near infrared). Their outlines are written
beside each chip as GeoJSON polygons in the chip's CRS, so the demo is read by the same code as
``geotiff_detection``. The files go to a temporary folder that is renamed into place with a marker
(the generation parameters) written last, so an interrupted or concurrent generation never leaves a
half-written cache, and a changed generator (another :data:`DEMO_VERSION`) regenerates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from geofm.data.download import dataset_dir
from geofm.data.factory import DatasetOptions
from geofm.data.generated import generate_once
from geofm.data.generated import split_counts as scene_split_counts
from geofm.errors import DataError
from geofm_detection.data_options import as_bool, masks_option, unknown_options
from geofm_detection.data_specs import DEMO_DETECTION_SPEC
from geofm_detection.detection_datamodule import DetectionDataModule
from geofm_detection.transforms import render_masks

__all__ = [
    "CLASSES",
    "DEMO_VERSION",
    "FILE_BANDS",
    "MARKER",
    "build_demo_detection",
    "demo_detection_root",
    "generate_demo_detection",
    "split_counts",
]

DEMO_VERSION = "1"
"""Bump when the generator changes: caches with another version are regenerated."""

DEMO_SEED = 20250301
MARKER = ".geofm-demo-detection.json"
"""The marker file of a finished generation (its parameters as JSON)."""

FILE_BANDS = ("BLUE", "GREEN", "RED", "NIR_BROAD")
"""The bands of a demo chip, in file order."""

CLASSES = ("building", "tank")
"""The demo's classes, in label order."""

_PIXEL = 2.0
_NOISE = 25.0
_VEGETATION = np.array([400.0, 700.0, 500.0, 3800.0])
_SOIL = np.array([1100.0, 1500.0, 1900.0, 2600.0])
_SIGNATURES = {
    "building": np.array([2300.0, 2400.0, 2500.0, 2700.0]),
    "tank": np.array([3300.0, 3000.0, 2600.0, 1300.0]),
}


def demo_detection_root(data_root: str | Path | None = None) -> Path:
    """Where the demo lives: ``data_root``, else ``$GEOFM_CACHE/datasets/demo_detection`` (``~/.cache/geofm/...``)."""
    return dataset_dir(DEMO_DETECTION_SPEC, data_root)


def split_counts(num_chips: int) -> tuple[int, int, int]:
    """Chips for train, val and test: a sixth (at least one) each for val and test, the rest train."""
    return scene_split_counts(num_chips, what="the detection demo", items="chips")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(4, size, size) reflectance x 10000: vegetation and soil mixed by a smooth random field, with noise."""
    coarse = rng.random((4, 4))
    grid, x = np.arange(4), np.linspace(0, 3, size)
    rows = np.stack([np.interp(x, grid, line) for line in coarse])  # (4, size): along columns
    field = np.stack([np.interp(x, grid, rows[:, col]) for col in range(size)], axis=1)  # (size, size)
    image = field * _VEGETATION[:, None, None] + (1.0 - field) * _SOIL[:, None, None]
    return image + rng.normal(0.0, _NOISE, image.shape)


def _outline(rng: np.random.Generator, size: int, category: str) -> Any:
    """A random building (rotated rectangle) or tank (rotated ellipse) polygon in pixels of the chip."""
    from shapely import affinity
    from shapely.geometry import Point, box

    cx, cy = rng.uniform(6.0, size - 6.0, 2)
    if category == "building":
        half_w, half_h = rng.uniform(3.0, 7.0), rng.uniform(2.5, 6.0)
        shape = box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    else:
        radius = rng.uniform(3.0, 7.0)
        shape = affinity.scale(Point(cx, cy).buffer(1.0, quad_segs=8), radius, radius * rng.uniform(0.7, 1.0))
    return affinity.rotate(shape, rng.uniform(0.0, 90.0), origin=(cx, cy))


def _objects(rng: np.random.Generator, size: int) -> list[tuple[str, Any]]:
    """One to four non-touching objects inside the chip (a margin of one pixel)."""
    placed: list[tuple[str, Any]] = []
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(30):
            category = CLASSES[int(rng.integers(0, len(CLASSES)))]
            shape = _outline(rng, size, category)
            x1, y1, x2, y2 = shape.bounds
            inside = x1 >= 1 and y1 >= 1 and x2 <= size - 1 and y2 <= size - 1
            if inside and not any(shape.distance(other) < 2.0 for _, other in placed):
                placed.append((category, shape))
                break
    return placed


def _label_document(objects: Sequence[tuple[str, Any]], transform: Any) -> dict[str, Any]:
    """A GeoJSON feature collection of ``objects`` (class, pixel polygon) in EPSG:32633 (millimetre precision)."""
    import shapely

    matrix = np.array([[transform.a, transform.d], [transform.b, transform.e]])
    offset = np.array([transform.c, transform.f])
    features = []
    for category, shape in objects:
        mapped = shapely.transform(shape, lambda coords: np.round(coords @ matrix + offset, 3))
        geometry = shapely.geometry.mapping(mapped)
        features.append({"type": "Feature", "properties": {"class": category}, "geometry": geometry})
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}},
        "features": features,
    }


def _write_chip(folder: Path, index: int, rng: np.random.Generator, size: int) -> None:
    import rasterio
    from affine import Affine

    image = _background(rng, size)
    objects = _objects(rng, size)
    boxes = np.array([shape.bounds for _, shape in objects], np.float32)
    masks = render_masks([shape for _, shape in objects], boxes, window=(0, 0, size, size), chip_size=(size, size))
    for (category, _), mask in zip(objects, masks.astype(bool), strict=True):
        signature = _SIGNATURES[category] * (1.0 + rng.normal(0.0, 0.05, 4))
        image[:, mask] = signature[:, None] + rng.normal(0.0, _NOISE, (4, int(mask.sum())))
    east = float(np.round(rng.uniform(300_000, 700_000) / _PIXEL) * _PIXEL)
    north = float(np.round(rng.uniform(4_650_000, 6_000_000) / _PIXEL) * _PIXEL)
    transform = Affine(_PIXEL, 0.0, east, 0.0, -_PIXEL, north)
    when = datetime(2020, 1, 1, 10, tzinfo=timezone.utc) + timedelta(days=int(rng.integers(0, 3 * 365)))
    chip_id = f"demo_{index:04d}_{when:%Y%m%d}"
    profile = {
        "driver": "GTiff",
        "height": size,
        "width": size,
        "count": len(FILE_BANDS),
        "dtype": "uint16",
        "crs": "EPSG:32633",
        "transform": transform,
        "compress": "deflate",
        "predictor": 2,
    }
    with rasterio.open(folder / "images" / f"{chip_id}.tif", "w", **profile) as dst:
        dst.write(np.clip(np.round(image), 0, 10_000).astype(np.uint16))
        dst.descriptions = FILE_BANDS
        dst.update_tags(ACQUISITION_DATE=when.strftime("%Y-%m-%dT%H:%M:%SZ"), UNITS="reflectance x 10000")
    document = _label_document(objects, transform)
    (folder / "labels" / f"{chip_id}.geojson").write_text(json.dumps(document, separators=(",", ":")) + "\n")


def _write(folder: Path, num_chips: int, size: int) -> None:
    import rasterio

    counts = split_counts(num_chips)
    rng = np.random.default_rng(DEMO_SEED)
    index = 0
    with rasterio.Env():
        for split, count in zip(("train", "val", "test"), counts, strict=True):
            for sub in ("images", "labels"):
                (folder / split / sub).mkdir(parents=True)
            for _ in range(count):
                _write_chip(folder / split, index, rng, size)
                index += 1


def generate_demo_detection(
    data_root: str | Path | None = None, *, num_chips: int = 300, size: int = 64, force: bool = False
) -> Path:
    """Generate the demo under ``data_root`` (see :func:`demo_detection_root`) unless it is current; return it.

    Deterministic: the same parameters give the same files. A folder that exists, is not empty and is
    not a demo cache is never touched (:class:`DataError`); fewer than 3 chips or 32 pixels a side
    raise :class:`DataError`. When another process finishes first, its files are kept.
    """
    num_chips, size = int(num_chips), int(size)
    if size < 32:
        raise DataError(f"the detection demo needs chips of at least 32 pixels a side; size={size}")
    split_counts(num_chips)
    return generate_once(
        demo_detection_root(data_root),
        marker=MARKER,
        params={"version": DEMO_VERSION, "seed": DEMO_SEED, "num_chips": num_chips, "size": size},
        write=lambda folder: _write(folder, num_chips, size),
        force=force,
        what="geofm detection demo",
    )


def build_demo_detection(
    common: DatasetOptions,
    /,
    *,
    num_chips: int = 300,
    size: int = 64,
    regenerate: bool | str = False,
    augment: bool | str = True,
    with_masks: bool | str = "auto",
    pin_memory: bool | str = False,
    **options: Any,
) -> DetectionDataModule:
    """The demo's data module (generating the chips first when they are missing or stale).

    Serves ``detection`` and ``instance_segmentation`` runs: every object has a polygon outline, so
    instance masks are delivered unless ``with_masks`` is false. See the ``demo_detection`` spec's options.
    """
    from geofm_detection.geotiff_detection import detection_module

    unknown_options(common.spec, options)
    force = as_bool(regenerate, "regenerate")
    root = generate_demo_detection(common.data_root, num_chips=num_chips, size=size, force=force)
    return detection_module(
        common,
        root,
        classes=CLASSES,
        with_masks=masks_option(with_masks),
        file_bands=FILE_BANDS,
        augment=as_bool(augment, "augment"),
        pin_memory=as_bool(pin_memory, "pin_memory"),
    )
