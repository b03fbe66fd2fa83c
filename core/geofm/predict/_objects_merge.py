"""The objects of a whole scene from the detections of its overlapping tiles: one detection per object.

Each tile's detections are shifted into scene pixels as they come (:class:`ObjectCollector`). A detection
whose box reaches an edge of its tile that lies inside the scene (within :data:`EDGE_PIXELS`) is *cut*: the
tile may see only part of the object. :func:`merge_objects` then, for each class:

1. drops a cut detection when an uncut detection from another tile covers most of it (the area of their
   intersection over the cut box's area at least ``iou``): that tile saw the whole object, away from its
   edges, so its box and mask are the better ones;
2. stitches the cut detections that remain (objects that no tile saw whole, being larger than the
   overlap): two cut detections from different tiles are parts of one object when, inside the area their
   two tiles share, their boxes overlap with an IoU of at least ``iou``. Stitched parts become one object:
   the union of their boxes (and masks), with the highest score;
3. runs non-maximum suppression (``torchvision.ops.batched_nms``, IoU ``iou``) over the scene, uncut
   detections and stitched objects ranked by score above every cut detection left alone, so an object
   seen whole by several tiles comes out once, and a cut view never suppresses a whole one.

Step 1 only removes a view when a more complete one exists, so no object is lost to it; step 3 removes
the duplicates of objects that several tiles saw whole. An object smaller than the tiles' overlap (by
:data:`EDGE_PIXELS` on each side) is seen whole by some tile, so it comes out with the box and mask of a
tile that saw it whole; a larger one comes out stitched from its parts, its box and mask their union.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from geofm.predict.tiling import Tile

__all__ = ["EDGE_PIXELS", "MASK_MARGIN", "ObjectCollector", "SceneObjects", "merge_objects"]

EDGE_PIXELS = 2.0
"""A box whose side lies this close (pixels) to an interior tile edge is taken as cut by that edge."""
MASK_MARGIN = 2
"""Pixels kept around a box when its instance mask is cropped for storage."""


@dataclass(frozen=True)
class SceneObjects:
    """Objects in scene pixels: ``boxes`` (N, 4) x1, y1, x2, y2, ``labels`` (N,), ``scores`` (N,).

    ``masks`` (instance segmentation only) holds per object ``(row, col, mask)``: a boolean crop of the
    scene whose top-left pixel is (``row``, ``col``). ``cut`` (N,) marks boxes that reach an interior edge of
    their tile, ``tiles`` (N,) is the number of the tile each came from.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    cut: np.ndarray
    tiles: np.ndarray
    masks: list[tuple[int, int, np.ndarray]] | None

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> SceneObjects:
        """The objects at ``index`` (an integer array), in that order."""
        return SceneObjects(
            self.boxes[index],
            self.labels[index],
            self.scores[index],
            self.cut[index],
            self.tiles[index],
            [self.masks[i] for i in index] if self.masks is not None else None,
        )


class ObjectCollector:
    """The detections of a scene's tiles in scene pixels, as :func:`merge_objects` takes them.

    ``height`` / ``width``: the scene's size in pixels; ``masks``: whether detections carry instance masks.
    """

    def __init__(self, height: int, width: int, *, masks: bool) -> None:
        self.height = height
        self.width = width
        self.with_masks = masks
        self.tile_boxes: list[tuple[int, int, int, int]] = []
        self._boxes: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._cut: list[np.ndarray] = []
        self._tiles: list[np.ndarray] = []
        self._masks: list[tuple[int, int, np.ndarray]] = []

    def add(self, tile: Tile, detections: Mapping[str, np.ndarray], valid: np.ndarray) -> None:
        """Add one tile's ``detections`` (``boxes``, ``labels``, ``scores``, ``masks`` in tile pixels).

        ``masks`` are (N, H, W) booleans over the tile. Boxes are clipped to the tile; empty boxes, and
        boxes whose centre pixel is not ``valid`` (nodata), are dropped.
        """
        number = len(self.tile_boxes)
        self.tile_boxes.append((tile.col, tile.row, tile.col + tile.width, tile.row + tile.height))
        boxes = np.asarray(detections["boxes"], dtype=np.float64).reshape(-1, 4)
        boxes = np.clip(boxes, 0.0, [tile.width, tile.height, tile.width, tile.height])
        keep = np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        centre_x = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2).astype(np.int64), 0, tile.width - 1)
        centre_y = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2).astype(np.int64), 0, tile.height - 1)
        keep &= valid[centre_y, centre_x]
        index = np.flatnonzero(keep)
        boxes = boxes[index]
        inner = (
            tile.col > 0,
            tile.row > 0,
            tile.col + tile.width < self.width,
            tile.row + tile.height < self.height,
        )
        cut = (
            (inner[0] & (boxes[:, 0] <= EDGE_PIXELS))
            | (inner[1] & (boxes[:, 1] <= EDGE_PIXELS))
            | (inner[2] & (boxes[:, 2] >= tile.width - EDGE_PIXELS))
            | (inner[3] & (boxes[:, 3] >= tile.height - EDGE_PIXELS))
        )
        self._boxes.append(boxes + np.array([tile.col, tile.row, tile.col, tile.row], dtype=np.float64))
        self._labels.append(np.asarray(detections["labels"], dtype=np.int64).reshape(-1)[index])
        self._scores.append(np.asarray(detections["scores"], dtype=np.float32).reshape(-1)[index])
        self._cut.append(cut)
        self._tiles.append(np.full(len(index), number, dtype=np.int64))
        if self.with_masks:
            masks = np.asarray(detections["masks"])
            for i, box in zip(index, boxes, strict=True):
                left, top = max(int(box[0]) - MASK_MARGIN, 0), max(int(box[1]) - MASK_MARGIN, 0)
                right = min(int(np.ceil(box[2])) + MASK_MARGIN, tile.width)
                bottom = min(int(np.ceil(box[3])) + MASK_MARGIN, tile.height)
                crop = np.array(masks[i, top:bottom, left:right], dtype=bool)
                self._masks.append((tile.row + top, tile.col + left, crop))

    def objects(self) -> SceneObjects:
        """Every detection added so far."""

        def joined(parts: list[np.ndarray], dtype: Any, shape: tuple[int, ...] = (0,)) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(shape, dtype=dtype)

        return SceneObjects(
            boxes=joined(self._boxes, np.float64, (0, 4)),
            labels=joined(self._labels, np.int64),
            scores=joined(self._scores, np.float32),
            cut=joined(self._cut, bool),
            tiles=joined(self._tiles, np.int64),
            masks=list(self._masks) if self.with_masks else None,
        )


# --- merging ---------------------------------------------------------------------------------------


def _areas(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise intersection boxes of (N, 4) ``a`` and ``b`` (empty ones have a zero or negative side)."""
    return np.concatenate([np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])], axis=1)


def _pairs(query: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (into ``query``, into ``boxes``) of boxes that intersect, through a spatial index."""
    import shapely

    if not len(query) or not len(boxes):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tree = shapely.STRtree(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))
    found = tree.query(shapely.box(query[:, 0], query[:, 1], query[:, 2], query[:, 3]), predicate="intersects")
    return found[0].astype(np.int64), found[1].astype(np.int64)


def _drop_covered_cuts(objects: SceneObjects, threshold: float) -> np.ndarray:
    """Step 1: whether each object survives being a cut view of an object another tile saw whole."""
    alive = np.ones(len(objects), dtype=bool)
    cut, whole = np.flatnonzero(objects.cut), np.flatnonzero(~objects.cut)
    i, j = _pairs(objects.boxes[cut], objects.boxes[whole])
    i, j = cut[i], whole[j]
    same = (objects.labels[i] == objects.labels[j]) & (objects.tiles[i] != objects.tiles[j])
    i, j = i[same], j[same]
    shared = _areas(_intersections(objects.boxes[i], objects.boxes[j]))
    covered = shared >= threshold * np.maximum(_areas(objects.boxes[i]), 1e-12)
    alive[i[covered]] = False
    return alive


def _stitch(objects: SceneObjects, candidates: np.ndarray, tile_boxes: np.ndarray, threshold: float) -> list[list[int]]:
    """Step 2: groups of ``candidates`` (cut objects) that are parts of one object, each sorted."""
    parent = {int(k): int(k) for k in candidates}

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    i, j = _pairs(objects.boxes[candidates], objects.boxes[candidates])
    i, j = candidates[i], candidates[j]
    keep = (i < j) & (objects.labels[i] == objects.labels[j]) & (objects.tiles[i] != objects.tiles[j])
    i, j = i[keep], j[keep]
    shared = _intersections(tile_boxes[objects.tiles[i]], tile_boxes[objects.tiles[j]])
    part_i = _intersections(objects.boxes[i], shared)
    part_j = _intersections(objects.boxes[j], shared)
    inter = _areas(_intersections(part_i, part_j))
    union = _areas(part_i) + _areas(part_j) - inter
    same = inter >= threshold * np.maximum(union, 1e-12)
    for a, b in zip(i[same], j[same], strict=True):
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for k in parent:
        groups.setdefault(root(k), []).append(k)
    return [sorted(g) for g in groups.values()]


def _union_mask(parts: Sequence[tuple[int, int, np.ndarray]]) -> tuple[int, int, np.ndarray]:
    top = min(row for row, _, _ in parts)
    left = min(col for _, col, _ in parts)
    bottom = max(row + m.shape[0] for row, _, m in parts)
    right = max(col + m.shape[1] for _, col, m in parts)
    canvas = np.zeros((bottom - top, right - left), dtype=bool)
    for row, col, mask in parts:
        canvas[row - top : row - top + mask.shape[0], col - left : col - left + mask.shape[1]] |= mask
    return top, left, canvas


def _concatenate(first: SceneObjects, second: SceneObjects) -> SceneObjects:
    masks = None
    if first.masks is not None and second.masks is not None:
        masks = first.masks + second.masks
    return SceneObjects(
        np.concatenate([first.boxes, second.boxes.reshape(-1, 4)]),
        np.concatenate([first.labels, second.labels]),
        np.concatenate([first.scores, second.scores]),
        np.concatenate([first.cut, second.cut]),
        np.concatenate([first.tiles, second.tiles]),
        masks,
    )


def merge_objects(objects: SceneObjects, iou: float, tile_boxes: Sequence[tuple[int, int, int, int]]) -> SceneObjects:
    """One detection per object, by score (highest first), from overlapping tiles' ``objects``.

    ``tile_boxes`` are the tiles' (x1, y1, x2, y2) in scene pixels, indexed by ``objects.tiles``; ``iou``
    is the overlap above which two detections of one class are one object (see the module docstring for
    the three steps). The result's ``cut`` marks the objects that no tile saw whole.
    """
    import torch
    from torchvision.ops import batched_nms

    if not len(objects):
        return objects
    tiles = np.asarray(tile_boxes, dtype=np.float64).reshape(-1, 4)
    alive = _drop_covered_cuts(objects, iou)
    groups = _stitch(objects, np.flatnonzero(alive & objects.cut), tiles, iou)
    lone = [g[0] for g in groups if len(g) == 1]
    stitched = [g for g in groups if len(g) > 1]
    singles = objects.take(np.concatenate([np.flatnonzero(alive & ~objects.cut), np.array(lone, dtype=np.int64)]))
    best = np.array([g[int(np.argmax(objects.scores[g]))] for g in stitched], dtype=np.int64)
    whole = SceneObjects(
        boxes=np.array(
            [[*objects.boxes[g, :2].min(axis=0), *objects.boxes[g, 2:].max(axis=0)] for g in stitched]
        ).reshape(-1, 4),
        labels=objects.labels[best],
        scores=objects.scores[best],
        cut=np.zeros(len(stitched), dtype=bool),
        tiles=objects.tiles[best],
        masks=[_union_mask([objects.masks[k] for k in g]) for g in stitched] if objects.masks is not None else None,
    )
    merged = _concatenate(singles, whole)
    scores, labels, cut = merged.scores, merged.labels, merged.cut
    span = float(scores.max() - scores.min()) + 1.0
    rank = scores.astype(np.float64) - span * cut  # a cut view never outranks a whole one
    keep = batched_nms(
        torch.from_numpy(merged.boxes), torch.from_numpy(rank), torch.from_numpy(labels), float(iou)
    ).numpy()
    keep = keep[np.argsort(-merged.scores[keep], kind="stable")]
    return merged.take(keep)
