"""Per-sample transforms of detection targets: clipping boxes, crops, flips and instance masks.

Boxes are float32 (N, 4) ``x1, y1, x2, y2`` in pixel coordinates of the chip: x to the right, y down,
the origin at the upper-left corner of the upper-left pixel (pixel ``(row, col)`` covers
``[col, col + 1] x [row, row + 1]``). Images are (C, H, W), instance masks uint8 (N, H, W). Randomness
comes from an explicit :class:`numpy.random.Generator`, so a seed reproduces a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "MIN_BOX_SIZE",
    "clip_boxes",
    "crop_boxes",
    "flip_horizontal",
    "flip_vertical",
    "random_flips",
    "render_masks",
]

MIN_BOX_SIZE = 1.0
"""Boxes narrower or lower than this many pixels (after clipping to the chip or crop) are dropped."""


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` clipped to a ``height`` x ``width`` chip, and which of them are kept.

    Returns ``(clipped, keep)``: ``keep`` (N,) bool is false for boxes that are degenerate once clipped
    (narrower or lower than :data:`MIN_BOX_SIZE`: outside the chip, points, or cut to a sliver).
    """
    clipped = np.asarray(boxes, np.float32).reshape(-1, 4).copy()
    np.clip(clipped[:, 0::2], 0.0, float(width), out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], 0.0, float(height), out=clipped[:, 1::2])
    keep = ((clipped[:, 2] - clipped[:, 0]) >= MIN_BOX_SIZE) & ((clipped[:, 3] - clipped[:, 1]) >= MIN_BOX_SIZE)
    return clipped, keep


def crop_boxes(boxes: np.ndarray, row: int, col: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` in coordinates of the window at (``row``, ``col``) of ``height`` x ``width``, clipped to it.

    Returns ``(boxes, keep)`` as :func:`clip_boxes` does.
    """
    shifted = np.asarray(boxes, np.float32).reshape(-1, 4) - np.array([col, row, col, row], np.float32)
    return clip_boxes(shifted, height, width)


def flip(
    image: np.ndarray, boxes: np.ndarray, masks: np.ndarray | None, axis: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mirror along ``axis`` (-1: left-right, boxes ``x -> width - x``; -2: up-down, ``y -> height - y``)."""
    size = image.shape[axis]
    low, high = (0, 2) if axis == -1 else (1, 3)
    flipped = boxes.copy()
    flipped[:, low], flipped[:, high] = size - boxes[:, high], size - boxes[:, low]
    return np.flip(image, axis), flipped, None if masks is None else np.flip(masks, axis)


def flip_horizontal(
    image: np.ndarray, boxes: np.ndarray, masks: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mirror left-right: image and masks along their last axis, boxes ``x -> width - x``."""
    return flip(image, boxes, masks, -1)


def flip_vertical(
    image: np.ndarray, boxes: np.ndarray, masks: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Mirror up-down: image and masks along their second-last axis, boxes ``y -> height - y``."""
    return flip(image, boxes, masks, -2)


def random_flips(
    image: np.ndarray, boxes: np.ndarray, masks: np.ndarray | None, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Flip image, boxes and masks together, left-right and up-down, each with probability 1/2.

    The arrays returned are contiguous (the input arrays are never changed).
    """
    if rng.random() < 0.5:
        image, boxes, masks = flip_horizontal(image, boxes, masks)
    if rng.random() < 0.5:
        image, boxes, masks = flip_vertical(image, boxes, masks)
    return (
        np.ascontiguousarray(image),
        np.ascontiguousarray(boxes),
        None if masks is None else np.ascontiguousarray(masks),
    )


def _burn(geometry: Any, height: int, width: int, row: int, col: int) -> np.ndarray:
    """A shapely geometry in chip pixels burnt into the window at (``row``, ``col``) of ``height`` x ``width``.

    Pixels whose centre lies inside are set; a geometry too thin to hold a pixel centre sets every
    pixel of its bounds instead, so an object inside the window never has an empty mask.
    """
    import shapely

    mask = np.zeros((height, width), np.uint8)
    if geometry.is_empty:
        return mask
    x1, y1, x2, y2 = geometry.bounds
    c0, c1 = max(int(np.floor(x1)) - col, 0), min(int(np.ceil(x2)) - col, width)
    r0, r1 = max(int(np.floor(y1)) - row, 0), min(int(np.ceil(y2)) - row, height)
    if c0 >= c1 or r0 >= r1:
        return mask
    xs, ys = np.meshgrid(np.arange(c0, c1) + (col + 0.5), np.arange(r0, r1) + (row + 0.5))
    inside = shapely.contains_xy(geometry, xs, ys)
    mask[r0:r1, c0:c1] = inside if inside.any() else 1
    return mask


def _coco_mask(segmentation: Any, chip_size: tuple[int, int]) -> np.ndarray:
    """A COCO segmentation (polygons, uncompressed or compressed RLE) decoded at the whole chip's size."""
    from pycocotools import mask as coco_mask

    height, width = chip_size
    if isinstance(segmentation, list):
        rle = coco_mask.merge(coco_mask.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = coco_mask.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return np.asarray(coco_mask.decode(rle), np.uint8)


def render_masks(
    outlines: Sequence[Any],
    boxes: np.ndarray,
    *,
    window: tuple[int, int, int, int],
    chip_size: tuple[int, int],
) -> np.ndarray:
    """uint8 (N, h, w) instance masks of the ``window`` (row, col, h, w) of a chip of ``chip_size`` (H, W).

    Each outline is a shapely geometry in chip pixels (the pixels whose centre it holds, or those of its
    bounds when it holds none), a COCO segmentation (decoded at the chip's size) or
    ``None``: then the mask fills the instance's box (``boxes``, in window coordinates, rounded outwards).
    """
    row, col, height, width = window
    masks = np.zeros((len(outlines), height, width), np.uint8)
    for i, outline in enumerate(outlines):
        if outline is None:
            x1, y1, x2, y2 = boxes[i]
            masks[i, int(np.floor(y1)) : int(np.ceil(y2)), int(np.floor(x1)) : int(np.ceil(x2))] = 1
        elif isinstance(outline, list | dict):
            masks[i] = _coco_mask(outline, chip_size)[row : row + height, col : col + width]
        else:
            masks[i] = _burn(outline, height, width, row, col)
    return masks
