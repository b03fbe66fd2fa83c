"""Objects in map coordinates and the vector file that holds them (GeoPackage or GeoJSON, through pyogrio)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import ConfigError, DataError
from geofm.predict._objects_merge import SceneObjects

__all__ = ["LAYER", "VECTOR_FORMATS", "object_geometries", "write_objects"]

LAYER = "objects"
"""The name of the layer of objects in a GeoPackage."""
VECTOR_FORMATS = {"gpkg": ("GPKG", ".gpkg"), "geojson": ("GeoJSON", ".geojson")}
"""``--vector-format`` -> (OGR driver, file suffix)."""
MASK_THRESHOLD = 0.5
"""An instance mask's probability above which a pixel belongs to the object (applied to the model's masks)."""


def vector_libraries() -> tuple[Any, Any]:
    """``(shapely, pyogrio)``, or a ConfigError saying what to install."""
    try:
        import pyogrio
        import shapely
    except ImportError as error:
        raise ConfigError(
            f"writing the objects of a detection run needs shapely and pyogrio ({error}); install the detection "
            "plugin with its dependencies (pip install geofm-detection) or pip install shapely pyogrio"
        ) from error
    return shapely, pyogrio


def _box_polygons(boxes: np.ndarray, transform: Any) -> np.ndarray:
    """(N, 4) pixel boxes x1, y1, x2, y2 -> N polygons through the affine ``transform`` (rotation included)."""
    shapely, _ = vector_libraries()
    x = boxes[:, [0, 2, 2, 0, 0]]
    y = boxes[:, [1, 1, 3, 3, 1]]
    a, b, c, d, e, f = (transform.a, transform.b, transform.c, transform.d, transform.e, transform.f)
    ring = np.stack([a * x + b * y + c, d * x + e * y + f], axis=-1)
    return shapely.polygons(ring)


def _mask_polygon(row: int, col: int, mask: np.ndarray, transform: Any) -> Any:
    """The largest connected part of a boolean mask crop at (``row``, ``col``) as a map polygon, or ``None``."""
    import shapely.geometry
    from affine import Affine
    from rasterio.features import shapes

    if not mask.any():
        return None
    placed = transform @ Affine.translation(col, row)
    parts = [shapely.geometry.shape(g) for g, _ in shapes(mask.astype(np.uint8), mask=mask, transform=placed)]
    return max(parts, key=lambda part: part.area)


def object_geometries(objects: SceneObjects, transform: Any) -> np.ndarray:
    """Each object's polygon in map coordinates: its instance mask's largest part, else its box."""
    geometries = _box_polygons(objects.boxes, transform)
    if objects.masks is not None:
        for index, (row, col, mask) in enumerate(objects.masks):
            polygon = _mask_polygon(row, col, mask, transform)
            if polygon is not None:
                geometries[index] = polygon
    return geometries


def write_objects(
    path: Path,
    objects: SceneObjects,
    geometries: np.ndarray,
    class_names: Sequence[str],
    crs: Any,
    vector_format: str,
    metadata: Mapping[str, str],
) -> None:
    """Write one feature per object (fields ``class``, ``class_index``, ``score``) to ``path``, atomically.

    A GeoPackage holds the layer :data:`LAYER` in the scene's ``crs`` (a rasterio CRS, or ``None``) and
    ``metadata`` as the layer's metadata; GeoJSON is written in longitude/latitude (EPSG:4326) as RFC 7946
    asks, GDAL reprojecting from the scene's CRS. The file is written beside ``path`` and renamed into
    place, so an interrupted write leaves no partial output. Zero objects give an empty layer.
    """
    shapely, pyogrio = vector_libraries()
    driver, suffix = VECTOR_FORMATS[vector_format]
    options: dict[str, Any] = {}
    if vector_format == "geojson":
        if crs is None:
            raise DataError(f"{path.name}: GeoJSON is written in EPSG:4326, but the scene has no CRS; use gpkg")
        options["layer_options"] = {"RFC7946": "YES"}
    else:
        options["layer_metadata"] = dict(metadata)
    names = np.array([class_names[int(k)] for k in objects.labels], dtype=object)
    fields = ["class", "class_index", "score"]
    data = [names, objects.labels.astype(np.int32), objects.scores.astype(np.float32)]
    partial = path.with_name(f"{path.stem}.partial{suffix}")
    partial.unlink(missing_ok=True)
    try:
        pyogrio.raw.write(
            str(partial),
            shapely.to_wkb(geometries) if len(geometries) else np.zeros(0, dtype=object),
            data,
            fields,
            layer=LAYER,
            driver=driver,
            geometry_type="Polygon",
            crs=crs.to_wkt() if crs is not None else None,
            **options,
        )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
