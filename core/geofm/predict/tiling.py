"""Tile grid, blending window and the one-stripe accumulator of streaming tiled prediction.

Public building blocks of :mod:`geofm.predict`, tested on their own.

Tiles are visited row by row. Every tile of tile-row ``k`` starts at scene row ``rows[k]``, so once
tile-row ``k`` is accumulated no later tile touches the scene rows before ``rows[k + 1]``: those rows are
final and leave the buffer. The buffer therefore holds one tile height of rows across the scene width,
whatever the scene height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np

__all__ = [
    "StripeAccumulator",
    "StripeBlender",
    "Tile",
    "batches",
    "blend_window",
    "iter_tiles",
    "pool_valid",
    "tile_starts",
]

WINDOW_FLOOR = 1e-3
"""Smallest blending weight: edge pixels that only one tile sees still get a well-defined value."""


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels that cover ``[0, length)``, neighbours sharing ``overlap``.

    With ``align == 1`` the last tile is moved back to end at ``length`` (no tile reaches past the scene
    unless the scene is smaller than a tile). With ``align > 1`` every start is a multiple of ``align``
    and the last tile may reach past the end (the reader pads it).
    """
    if tile <= 0 or not 0 <= overlap < tile:
        raise ValueError(f"need tile > 0 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
    stride = tile - overlap
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride))
    last = length - tile
    if align > 1:
        last = -(-last // align) * align
        starts = [s for s in starts if s < last]
    if not starts or starts[-1] != last:
        starts.append(last)
    return starts


def blend_window(height: int, width: int, overlap: int) -> np.ndarray:
    """A (height, width) float32 weight: 1 inside, a raised-cosine ramp across the ``overlap`` margins.

    Two neighbouring tiles' ramps sum to 1 across a shared ``overlap`` band, so blending is seamless;
    the weight never falls below :data:`WINDOW_FLOOR`.
    """

    def ramp(size: int) -> np.ndarray:
        weights = np.ones(size, dtype=np.float64)
        margin = min(overlap, size // 2)
        if margin > 0:
            edge = np.sin(0.5 * np.pi * (np.arange(margin) + 0.5) / margin) ** 2
            weights[:margin] = edge
            weights[size - margin :] = edge[::-1]
        return weights

    window = np.outer(ramp(height), ramp(width))
    return np.maximum(window, WINDOW_FLOOR).astype(np.float32)


@dataclass(frozen=True)
class Tile:
    """One tile: its row index in the grid, its scene offsets and how much of it lies inside the scene."""

    row_index: int
    row: int
    col: int
    height: int
    width: int


def iter_tiles(
    height: int, width: int, rows: list[int], cols: list[int], tile: int, tile_width: int | None = None
) -> Iterator[Tile]:
    """Tiles of ``tile`` rows and ``tile_width`` (default ``tile``) columns in row-major order.

    ``height`` / ``width`` of each are clipped to the scene.
    """
    columns = tile if tile_width is None else tile_width
    for index, row in enumerate(rows):
        for col in cols:
            yield Tile(index, row, col, min(tile, height - row), min(columns, width - col))


def batches(tiles: Iterable[Tile], size: int) -> Iterator[list[Tile]]:
    """``tiles`` in lists of ``size`` (the last one may be shorter)."""
    iterator = iter(tiles)
    while batch := list(islice(iterator, size)):
        yield batch


def pool_valid(valid: np.ndarray, r: int, h: int, w: int) -> np.ndarray:
    """(h, w) validity of patches of ``r`` x ``r`` pixels: a patch is valid when any of its pixels is."""
    padded = np.zeros((h * r, w * r), dtype=bool)
    padded[: valid.shape[0], : valid.shape[1]] = valid
    return padded.reshape(h, r, w, r).any(axis=(1, 3))


class StripeAccumulator:
    """Weighted sums of tile outputs over one stripe of ``tile`` rows across the whole scene width.

    ``add`` accumulates ``values * window`` (the product made by the caller) and ``window``;
    ``release(until)`` returns the blended rows from the stripe's top up to scene row ``until`` (exclusive)
    with their validity, and moves the stripe down so that its top is ``until``.
    """

    def __init__(self, channels: int, width: int, tile: int) -> None:
        self.values = np.zeros((channels, tile, width), dtype=np.float32)
        self.weights = np.zeros((tile, width), dtype=np.float32)
        self.valid = np.zeros((tile, width), dtype=bool)
        self.top = 0

    def add(self, row: int, col: int, weighted: np.ndarray, window: np.ndarray, valid: np.ndarray) -> None:
        """Accumulate one tile's (C, h, w) ``values * window`` (multiplied by the caller) at (``row``, ``col``)."""
        height, width = weighted.shape[-2:]
        top = row - self.top
        if top < 0 or top + height > self.weights.shape[0]:
            raise RuntimeError(f"tile at row {row} (height {height}) is outside the stripe starting at {self.top}")
        rows, cols = slice(top, top + height), slice(col, col + width)
        self.values[:, rows, cols] += weighted
        self.weights[rows, cols] += window
        self.valid[rows, cols] = valid

    def release(self, until: int) -> tuple[np.ndarray, np.ndarray]:
        """Blended (C, n, width) values and (n, width) validity of scene rows ``[top, until)``."""
        count = until - self.top
        if not 0 < count <= self.weights.shape[0]:
            raise RuntimeError(f"cannot release rows {self.top}..{until} from a stripe of {self.weights.shape[0]}")
        weights = self.weights[:count]
        values = self.values[:, :count] / np.where(weights > 0, weights, 1.0)
        valid = self.valid[:count] & (weights > 0)
        keep = self.weights.shape[0] - count
        # numpy copies overlapping slices correctly
        self.values[:, :keep] = self.values[:, count:]
        self.weights[:keep] = self.weights[count:]
        self.valid[:keep] = self.valid[count:]
        self.values[:, keep:] = 0
        self.weights[keep:] = 0
        self.valid[keep:] = False
        self.top = until
        return values, valid


class StripeBlender:
    """Blends batches of tile outputs into a :class:`StripeAccumulator` and hands on the rows they finish.

    ``rows`` are the tile rows' scene offsets, ``window`` the (tile rows, tile columns) blending weight at output
    resolution (``reduction`` scene pixels per output pixel). ``write(values, valid, top)`` receives the
    blended (C, n, width) values and (n, width) validity of output rows ``top`` to ``top + n``.
    """

    def __init__(
        self,
        accumulator: StripeAccumulator,
        rows: Sequence[int],
        window: np.ndarray,
        reduction: int,
        write: Callable[[np.ndarray, np.ndarray, int], None],
    ) -> None:
        self.accumulator = accumulator
        self.rows = rows
        self.window = window
        self.reduction = reduction
        self.write = write
        self.row_index = 0

    def flush(self, until: int) -> None:
        """Hand on the output rows from the stripe's top to ``until`` (exclusive)."""
        top = self.accumulator.top
        values, valid = self.accumulator.release(until)
        self.write(values, valid, top)

    def add(self, tiles: Sequence[Tile], weighted: np.ndarray | None, valids: Sequence[np.ndarray | None]) -> None:
        """Blend ``weighted`` (B, C, rows, columns): the tiles' outputs already multiplied by ``window``.

        A tile's validity is its (height, width) mask, or ``None`` when none of its pixels is valid (the
        tile adds nothing); ``weighted`` is ``None`` when no tile of the batch has a valid pixel. Rows
        finished by the start of a new tile row are written first.
        """
        r = self.reduction
        for i, (tile, valid) in enumerate(zip(tiles, valids, strict=True)):
            if tile.row_index != self.row_index:
                self.flush(self.rows[tile.row_index] // r)
                self.row_index = tile.row_index
            if weighted is None or valid is None:
                continue
            h, w = -(-tile.height // r), -(-tile.width // r)
            mask = valid if r == 1 else pool_valid(valid, r, h, w)
            self.accumulator.add(tile.row // r, tile.col // r, weighted[i, :, :h, :w], self.window[:h, :w], mask)
