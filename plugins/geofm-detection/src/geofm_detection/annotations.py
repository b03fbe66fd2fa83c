"""Object annotations in pixel coordinates of their chip, from vector files in any CRS or from COCO JSON.

Vector files (GeoJSON, GeoPackage, FlatGeobuf, shapefiles: what GDAL reads, through pyogrio) hold
geometries in map coordinates of any CRS, the class in a property. They are reprojected to the chip's
CRS (:func:`rasterio.warp.transform_geom`) and mapped to pixels through the inverse of the chip's affine
transform; a layer without a CRS is taken to be in the chip's. COCO JSON holds boxes ``[x, y, w, h]``
in pixels and optional segmentations (polygons or RLE). Either way a chip's objects are read as
:class:`Instance` (class name, box, outline), then encoded with class indices as :class:`ChipAnnotations`,
boxes clipped to the chip and degenerate ones dropped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import DataError
from geofm_detection.transforms import clip_boxes

__all__ = [
    "VECTOR_SUFFIXES",
    "ChipAnnotations",
    "CocoImage",
    "Instance",
    "collect_class_names",
    "encode_instances",
    "find_vector_label",
    "read_coco",
    "read_vector_instances",
]

VECTOR_SUFFIXES = (".geojson", ".gpkg", ".json", ".fgb", ".shp")
"""Label file endings looked for beside a chip (``labels/<stem><suffix>``), in this order."""


@dataclass(frozen=True)
class Instance:
    """One annotated object of a chip: its class name, box and outline, in pixels of the chip.

    ``box`` is ``(x1, y1, x2, y2)``; ``outline`` is a shapely (multi)polygon in pixels, a COCO
    segmentation (a list of polygons, or an RLE dict) or ``None`` (the object has only a box).
    """

    category: str
    box: tuple[float, float, float, float]
    outline: Any = None


@dataclass(frozen=True)
class ChipAnnotations:
    """The objects of one chip: ``boxes`` float32 (N, 4), ``labels`` int64 (N,), one outline each."""

    boxes: np.ndarray
    labels: np.ndarray
    outlines: tuple[Any, ...]

    def __len__(self) -> int:
        """Number of objects."""
        return len(self.outlines)

    @property
    def has_outlines(self) -> bool:
        """Whether any object has an outline (a polygon or COCO segmentation) to make a mask from."""
        return any(outline is not None for outline in self.outlines)


@dataclass(frozen=True)
class CocoImage:
    """One entry of a COCO file's ``images``: its ``file_name``, size (``None`` if not given) and objects."""

    file_name: str
    height: int | None
    width: int | None
    instances: tuple[Instance, ...]


def _category(value: Any) -> str | None:
    """A class value as text: integral floats as integers (``3.0`` -> ``"3"``), ``None`` kept."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode()
    return str(value.item() if isinstance(value, np.generic) else value)


def _class_order(name: str) -> tuple[int, float, str]:
    """Sort key: integer names numerically first (``2`` before ``10``), then the others alphabetically."""
    try:
        return 0, float(int(name)), ""
    except ValueError:
        return 1, 0.0, name


def collect_class_names(found: Iterable[str], given: Sequence[str] | None = None) -> tuple[str, ...]:
    """The class names of a dataset: ``given`` (in that order), else the names ``found`` in the data, sorted.

    Integer names sort numerically. Duplicates in ``given`` and a dataset without any class raise
    :class:`DataError`.
    """
    if given:
        names = tuple(str(n) for n in given)
        if len(set(names)) != len(names):
            raise DataError(f"the classes {list(names)} name a class twice; give each class once")
        return names
    names = tuple(sorted(set(found), key=_class_order))
    if not names:
        raise DataError(
            "no annotated object was found, so the classes are unknown; give them with the classes option "
            "(e.g. classes=building,tank) or check the labels"
        )
    return names


def encode_instances(
    instances: Sequence[Instance], class_index: Mapping[str, int], *, height: int, width: int, where: str
) -> ChipAnnotations:
    """``instances`` of a ``height`` x ``width`` chip as class indices, boxes clipped, degenerate ones dropped.

    A class not in ``class_index`` raises :class:`DataError` naming ``where`` (the label file) and the classes.
    """
    unknown = sorted({i.category for i in instances} - set(class_index))
    if unknown:
        raise DataError(
            f"{where}: class(es) {', '.join(map(repr, unknown))} are not among the classes "
            f"{', '.join(class_index)}; add them to the classes option or fix the labels"
        )
    boxes = np.array([i.box for i in instances], np.float32).reshape(-1, 4)
    boxes, keep = clip_boxes(boxes, height, width)
    labels = np.array([class_index[i.category] for i in instances], np.int64)
    outlines = tuple(i.outline for i, kept in zip(instances, keep, strict=True) if kept)
    return ChipAnnotations(boxes=boxes[keep], labels=labels[keep], outlines=outlines)


def find_vector_label(folder: Path, stem: str) -> Path | None:
    """The label file of chip ``stem`` in ``folder`` (``<stem>`` + one of :data:`VECTOR_SUFFIXES`), or ``None``."""
    return next((folder / f"{stem}{s}" for s in VECTOR_SUFFIXES if (folder / f"{stem}{s}").is_file()), None)


def _read_layer(path: Path) -> tuple[dict[str, Any], np.ndarray, list[np.ndarray]]:
    import pyogrio.errors
    import pyogrio.raw

    try:
        meta, _, geometry, fields = pyogrio.raw.read(path)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError) as error:
        raise DataError(
            f"cannot read the label file {path} ({error}): it is not a vector file GDAL reads (GeoJSON, "
            "GeoPackage ...) or it is corrupt; fix or regenerate it"
        ) from error
    return meta, geometry, list(fields)


def read_vector_instances(
    path: str | Path, *, crs: Any, transform: Any, class_property: str = "class"
) -> list[Instance]:
    """The objects of a vector label file in pixels of a chip with ``crs`` and affine ``transform``.

    Features are reprojected from the layer's CRS to ``crs`` (a layer without a CRS is taken to be in
    ``crs``), then mapped to pixels. The class is the feature's ``class_property``. Polygons keep their
    outline (for masks); other geometries (lines) only a box; features without geometry are skipped. The
    first layer of a file with several is read. A missing property or class, or labels with a CRS for
    a chip without one, raise :class:`DataError`.
    """
    import shapely
    from rasterio.crs import CRS

    path = Path(path)
    meta, wkb, fields = _read_layer(path)
    if len(wkb) == 0:
        return []
    names = [str(n) for n in meta["fields"]]
    if class_property not in names:
        raise DataError(
            f"the label file {path} has no property {class_property!r} (its properties: "
            f"{', '.join(names) or 'none'}); set the class_property option to the property that holds the class"
        )
    values = fields[names.index(class_property)]
    geometries = shapely.from_wkb(wkb)
    layer_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    if layer_crs is not None and crs is None:
        raise DataError(
            f"the labels {path} are in {layer_crs} but their chip has no CRS, so they cannot be placed on it; "
            "georeference the chip or write the labels without a CRS, in the chip's pixel-to-map coordinates"
        )
    present = [i for i, g in enumerate(geometries) if g is not None and not g.is_empty]
    if layer_crs is not None and layer_crs != crs:
        from rasterio.warp import transform_geom

        try:
            mapped = transform_geom(layer_crs, crs, [shapely.geometry.mapping(geometries[i]) for i in present])
        except Exception as error:  # PROJ's errors (rasterio._err.CPLE_*) have no public base class
            raise DataError(
                f"cannot reproject the labels {path} from {layer_crs} to their chip's {crs} ({error}). A GeoJSON "
                "file without a 'crs' member is read as longitude/latitude (RFC 7946): write degrees, or name the "
                "CRS of its coordinates"
            ) from error
        for i, geometry in zip(present, mapped, strict=True):
            geometries[i] = shapely.geometry.shape(geometry)
    inverse = ~transform
    matrix = np.array([[inverse.a, inverse.d], [inverse.b, inverse.e]])
    offset = np.array([inverse.c, inverse.f])
    pixels = shapely.transform(geometries, lambda coords: coords @ matrix + offset)
    instances = []
    for i in present:
        category = _category(values[i])
        if category is None:
            raise DataError(f"feature {i} of {path} has no {class_property!r}; give every feature its class")
        geometry = pixels[i]
        polygonal = geometry.geom_type in ("Polygon", "MultiPolygon")
        instances.append(Instance(category, tuple(float(v) for v in geometry.bounds), geometry if polygonal else None))
    return instances


def _load_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read the COCO file {path} ({error}); fix or regenerate it") from error
    if not isinstance(doc, dict) or "images" not in doc or "categories" not in doc:
        raise DataError(f"{path} is not a COCO annotation file: it needs 'images', 'annotations' and 'categories'")
    return doc


def read_coco(path: str | Path) -> tuple[tuple[str, ...], list[CocoImage]]:
    """The category names (in id order) and the images of a COCO JSON file with their objects.

    Boxes are ``bbox`` ``[x, y, w, h]`` in pixels; ``segmentation`` (polygons or RLE) is kept as the
    outline. Crowd annotations (``iscrowd`` 1) are skipped. Annotations of unknown images or categories,
    or without ``bbox``, raise :class:`DataError`.
    """
    path = Path(path)
    doc = _load_json(path)
    categories = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    image_ids = {int(image["id"]) for image in doc["images"]}
    grouped: dict[int, list[Instance]] = defaultdict(list)
    for annotation in doc.get("annotations", ()):
        image_id, category = int(annotation["image_id"]), int(annotation["category_id"])
        if image_id not in image_ids or category not in categories:
            what = f"image {image_id}" if image_id not in image_ids else f"category {category}"
            raise DataError(f"{path}: annotation {annotation.get('id')} refers to {what}, which the file does not list")
        if annotation.get("iscrowd"):
            continue
        if "bbox" not in annotation:
            raise DataError(f"{path}: annotation {annotation.get('id')} has no bbox [x, y, width, height]")
        x, y, w, h = (float(v) for v in annotation["bbox"])
        segmentation = annotation.get("segmentation") or None
        grouped[image_id].append(Instance(categories[category], (x, y, x + w, y + h), segmentation))
    images = [
        CocoImage(
            file_name=str(image["file_name"]),
            height=int(image["height"]) if image.get("height") else None,
            width=int(image["width"]) if image.get("width") else None,
            instances=tuple(grouped.get(int(image["id"]), ())),
        )
        for image in doc["images"]
    ]
    return tuple(categories[i] for i in sorted(categories)), images
