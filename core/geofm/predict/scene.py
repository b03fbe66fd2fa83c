"""Input scenes of prediction: matching their bands to the run's, their batch metadata, reading normalised tiles.

Public building blocks of :mod:`geofm.predict`, tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import DataError

__all__ = [
    "SceneBands",
    "SceneMeta",
    "StripeReader",
    "match_scene_bands",
    "prepare_tile",
    "read_batches",
    "scene_meta",
]


@dataclass(frozen=True)
class SceneBands:
    """Which file bands (1-based ``indexes``) feed the model's channels, and the file's nodata value."""

    indexes: tuple[int, ...]
    nodata: float | None
    by_name: bool


def _describe_file(descriptions: Sequence[str | None], canonical: Sequence[str | None]) -> str:
    parts = []
    for index, (text, name) in enumerate(zip(descriptions, canonical, strict=True), start=1):
        if not text:
            parts.append(f"{index}: (no description)")
        else:
            parts.append(f"{index}: {text}" + (f" = {name}" if name and name != text else ""))
    return "; ".join(parts)


def _expects(run_bands: Sequence[str], frames: int, unit: str = " bands") -> str:
    """What the run expects of a file: ``6 bands: BLUE, ...``, or for 3 time steps ``18 bands (6 bands x 3 ...``."""
    count, names = len(run_bands), ", ".join(run_bands)
    if frames == 1:
        return f"{count}{unit}: {names}"
    return (
        f"{count * frames}{unit} ({count} bands x {frames} time steps, time-major: bands 1-{count} are step 0, "
        f"{count + 1}-{2 * count} step 1 ...): {names}"
    )


def match_scene_bands(path: Path, src: Any, run_bands: Sequence[str], frames: int = 1) -> SceneBands:
    """Match the bands of open dataset ``src`` to ``run_bands`` (canonical names, model channel order).

    When every band of the file has a description that names a band (``B8A``, ``RED``, ``NIR_NARROW``
    ...), the run's bands are picked by name, in the run's order. Otherwise the file must have exactly as
    many bands as the run, taken in file order. A mismatch is a DataError naming both sides.

    A multi-temporal run (``frames`` T > 1) reads T x C bands, time-major: ``indexes`` hold time step 0's
    bands in the run's order, then step 1's, and so on. Without descriptions the file must have exactly
    T x C bands in that layout; with descriptions each run band must be named exactly T times, and its
    occurrences in file order are its time steps.
    """
    from geofm.bands import canonical_band

    descriptions = [d or None for d in src.descriptions]
    canonical: list[str | None] = []
    for text in descriptions:
        try:
            canonical.append(canonical_band(text) if text else None)
        except DataError:
            canonical.append(None)
    expects = _expects(run_bands, frames)
    if all(canonical):
        positions: dict[str, list[int]] = {}
        for index, name in enumerate(canonical, start=1):
            positions.setdefault(str(name), []).append(index)
        missing = [band for band in run_bands if band not in positions]
        if missing:
            raise DataError(
                f"{path} lacks band(s) {', '.join(missing)} that the run expects. The run expects {expects}. "
                f"The file has {src.count}: {_describe_file(descriptions, canonical)}. "
                "Give a scene with these bands (band descriptions name them, e.g. B8A or NIR_NARROW)."
            )
        if frames > 1:
            wrong = [f"{band} {len(positions[band])}x" for band in run_bands if len(positions[band]) != frames]
            if wrong:
                raise DataError(
                    f"{path} names band(s) {', '.join(wrong)} instead of once per time step ({frames}x). The run "
                    f"expects {expects}. The file has {src.count}: {_describe_file(descriptions, canonical)}. "
                    "Give a scene with each band once per time step, or leave the band descriptions out."
                )
        indexes = tuple(positions[band][step] for step in range(frames) for band in run_bands)
        by_name = True
    else:
        wanted = len(run_bands) * frames
        if src.count != wanted:
            layout = "the run's bands in that order" if frames == 1 else "the run's bands of each time step in turn"
            count = _expects(run_bands, frames, unit="")
            raise DataError(
                f"{path} has {src.count} band(s) but the run expects {count}. The file's bands: "
                f"{_describe_file(descriptions, canonical)}. Without band descriptions the file must hold exactly "
                f"{layout}; otherwise name its bands (GDAL band descriptions such as B2 or RED)."
            )
        indexes = tuple(range(1, src.count + 1))
        by_name = False
    return SceneBands(indexes=indexes, nodata=src.nodata, by_name=by_name)


@dataclass(frozen=True)
class SceneMeta:
    """The batch ``meta`` of a scene's tiles, as the data pipeline gives it for a sample of the file.

    ``timestamps`` (T,) float64 seconds since 1970 UTC and ``gsd`` (metres) are the scene's; ``centres``
    (rows, columns, 2) float32 hold the (lat, lon) degrees of the centre of each tile of the grid, whose
    column offsets ``columns`` maps to column indexes. Unknown values are NaN.
    """

    timestamps: np.ndarray
    gsd: float
    centres: np.ndarray
    columns: Mapping[int, int]

    def batch(self, tiles: Sequence[Any]) -> dict[str, np.ndarray]:
        """``timestamps`` float64 (B, T), ``center_latlon`` float32 (B, 2), ``gsd`` float32 (B,) of ``tiles``."""
        count = len(tiles)
        centres = self.centres[[t.row_index for t in tiles], [self.columns[t.col] for t in tiles]]
        return {
            "timestamps": np.tile(self.timestamps, (count, 1)),
            "center_latlon": centres,
            "gsd": np.full(count, self.gsd, dtype=np.float32),
        }


def _step_timestamps(path: Path, src: Any, bands: SceneBands, frames: int) -> list[float]:
    """The acquisition time of each of ``frames`` time steps, read as the datasets read a sample's file.

    One step: the file's tags, then a date in its name. Several steps in one file (T x C bands,
    time-major): the tags or description of each step's first band (band ``t * count / T + 1``), NaN
    where they tell none; the file's own date does not say which step it is.
    """
    from geofm.data.meta import band_timestamp, timestamp

    if frames == 1:
        return [timestamp(path, dict(src.tags()))]
    if src.count % frames == 0:
        firsts = [t * (src.count // frames) + 1 for t in range(frames)]
    else:  # bands named by description in an uneven file: the first of each step's bands
        per_step = len(bands.indexes) // frames
        firsts = [min(bands.indexes[t * per_step : (t + 1) * per_step]) for t in range(frames)]
    return [band_timestamp(src, band) for band in firsts]


def scene_meta(
    path: Path,
    src: Any,
    bands: SceneBands,
    frames: int,
    rows: Sequence[int],
    cols: Sequence[int],
    tile_rows: int,
    tile_cols: int,
) -> SceneMeta:
    """The :class:`SceneMeta` of open scene ``src`` tiled at ``rows`` x ``cols`` (tiles clipped to the scene).

    The values are those the datasets give a sample of the same file (:mod:`geofm.data.meta`): times per
    step, the gsd at the scene's centre, and each tile's own centre, reprojected in one call for the grid.
    """
    from geofm.data.meta import center_latlon, center_latlons, gsd_metres

    height, width = src.height, src.width
    lat, _ = center_latlon(src.crs, src.transform, height, width)
    row_centres = [row + min(tile_rows, height - row) / 2.0 for row in rows]
    col_centres = [col + min(tile_cols, width - col) / 2.0 for col in cols]
    lats, lons = center_latlons(src.crs, src.transform, np.array(row_centres)[:, None], np.array(col_centres)[None, :])
    stamps = _step_timestamps(path, src, bands, frames)
    return SceneMeta(
        timestamps=np.array(stamps, dtype=np.float64),
        gsd=gsd_metres(src.crs, src.transform, lat),
        centres=np.stack([lats, lons], axis=-1).astype(np.float32),
        columns={col: index for index, col in enumerate(cols)},
    )


class StripeReader:
    """Raw pixels of the run's bands, a band of scene rows across the whole width at a time.

    ``rows(top, height)`` returns the (C, height, width) pixels of scene rows ``top`` to ``top + height``.
    Requests move down the scene; rows shared with the previous request (the tiles' overlap) are moved
    within the buffer instead of being decoded again, so each scene row is read from the file once. The
    buffer holds ``max_height`` rows: memory follows the scene width, never its height.
    """

    def __init__(self, src: Any, bands: SceneBands, max_height: int) -> None:
        self.src = src
        self.indexes = list(bands.indexes)
        dtypes = {np.dtype(src.dtypes[index - 1]) for index in self.indexes}
        self.read_direct = len(dtypes) == 1  # GeoTIFF bands share one type; a VRT may mix them
        dtype = np.result_type(*dtypes)
        self.buffer = np.empty((len(self.indexes), min(max_height, src.height), src.width), dtype=dtype)
        self.top = 0
        self.filled = 0

    def rows(self, top: int, height: int) -> np.ndarray:
        """The (C, ``height``, width) pixels of scene rows ``top`` to ``top + height``; valid until the next call."""
        if height > self.buffer.shape[1]:
            raise ValueError(f"{height} rows requested, the stripe holds {self.buffer.shape[1]}")
        end = self.top + self.filled
        kept = max(0, min(end, top + height) - top) if top >= self.top else 0
        if kept:
            shift = top - self.top
            self.buffer[:, :kept] = self.buffer[:, shift : shift + kept]  # numpy copes with the overlap
        if kept < height:
            self._read(top + kept, height - kept, self.buffer[:, kept:height])
        self.top, self.filled = top, height
        return self.buffer[:, :height]

    def _read(self, top: int, height: int, out: np.ndarray) -> None:
        from rasterio.windows import Window

        from geofm.data.reading import read_pixels

        window = Window(0, top, self.src.width, height)
        if self.read_direct:
            read_pixels(self.src, Path(self.src.name), self.indexes, window=window, out=out)
        else:
            out[...] = read_pixels(self.src, Path(self.src.name), self.indexes, window=window)


def prepare_tile(
    raw: np.ndarray, nodata: float | None, mean: Sequence[float], std: Sequence[float], out: np.ndarray
) -> np.ndarray | None:
    """Normalise raw (C, h, w) pixels into the top left of ``out`` (C, rows, columns); their (h, w) validity.

    For T time steps ``raw`` is (T x C, h, w), time-major, and ``out`` (C, T, rows, columns); every step
    is normalised with the same per-band ``mean`` and ``std``. Invalid pixels and the padding beyond
    (h, w) become 0. A pixel is valid when none of its bands, at any time step, is NaN, infinite or equal
    to the file's nodata value; the validity is ``None`` when no pixel is.
    """
    from geofm.data.reading import valid_mask
    from geofm.data.transforms import normalize

    valid = valid_mask(raw, nodata)
    height, width = raw.shape[-2:]
    if out.ndim == 4:  # (T x C, h, w) -> (C, T, h, w), a view
        raw = raw.reshape(out.shape[1], out.shape[0], height, width).transpose(1, 0, 2, 3)
    normalize(raw, mean, std, valid=None if valid.all() else valid, out=out[..., :height, :width])
    out[..., height:, :] = 0.0
    out[..., :height, width:] = 0.0
    return valid if valid.any() else None


def read_batches(
    src: Any,
    bands: SceneBands,
    batches: Iterable[Sequence[Any]],
    shape: tuple[int, ...],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    held: int = 1,
    workers: int = 1,
) -> Iterator[tuple[Sequence[Any], np.ndarray, list[np.ndarray | None]]]:
    """``(tiles, array, validity)`` per batch of tiles, normalised into ``array`` (:func:`prepare_tile`).

    ``shape`` is (batch, C, rows, columns), or (batch, C, T, rows, columns) for T time steps; tiles come
    row by row (``row_index``, ``row``, ``col``, ``height``, ``width``, as :class:`geofm.predict.tiling.Tile`). A
    :class:`StripeReader` reads each tile row's scene rows once; ``workers`` threads normalise the tiles
    cut from them. The next batch is read in a thread while the caller uses the last ones: the caller may
    hold the last ``held`` batches, whose arrays stay untouched until ``held`` more batches have been
    requested (``held + 1`` arrays take turns). Only one thread at a time touches ``src``.
    """
    from concurrent.futures import ThreadPoolExecutor

    if held < 1:
        raise ValueError(f"held must be >= 1, got {held}")
    buffers = [np.zeros(shape, dtype=np.float32) for _ in range(held + 1)]
    stripe = StripeReader(src, bands, shape[-2])
    normalisers = ThreadPoolExecutor(workers, thread_name_prefix="geofm-normalise") if workers > 1 else None
    reader = ThreadPoolExecutor(1, thread_name_prefix="geofm-read")

    def prepare(raw: np.ndarray, out: np.ndarray) -> np.ndarray | None:
        return prepare_tile(raw, bands.nodata, mean, std, out)

    def load(tiles: Sequence[Any], out: np.ndarray) -> tuple[Sequence[Any], np.ndarray, list[np.ndarray | None]]:
        valids: list[np.ndarray | None] = []
        start = 0
        while start < len(tiles):  # the tiles of one tile row at a time: the stripe then moves on
            first = tiles[start]
            end = start + 1
            while end < len(tiles) and tiles[end].row_index == first.row_index:
                end += 1
            pixels = stripe.rows(first.row, first.height)
            raws = [pixels[:, :, t.col : t.col + t.width] for t in tiles[start:end]]
            arrays = out[start:end]
            if normalisers is None:
                valids.extend(prepare(raw, array) for raw, array in zip(raws, arrays, strict=True))
            else:
                valids.extend(normalisers.map(prepare, raws, arrays))
            start = end
        return tiles, out, valids

    try:
        iterator = iter(batches)
        first = next(iterator, None)
        pending = reader.submit(load, first, buffers[0]) if first is not None else None
        index = 0
        while pending is not None:
            tiles, array, valids = pending.result()
            following = next(iterator, None)
            index += 1
            pending = reader.submit(load, following, buffers[index % len(buffers)]) if following is not None else None
            yield tiles, array[: len(tiles)], valids
    finally:  # a read in flight finishes before the caller may close ``src``
        for pool in (reader, normalisers):
            if pool is not None:
                pool.shutdown(cancel_futures=True)
