"""Input scenes of inference: matching their bands to the run's and reading normalised tiles."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geofm.errors import DataError

__all__ = ["SceneBands", "match_scene_bands", "read_batches", "read_tile"]


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


def match_scene_bands(path: Path, src: Any, run_bands: Sequence[str]) -> SceneBands:
    """Match the bands of open dataset ``src`` to ``run_bands`` (canonical names, model channel order).

    When every band of the file has a description that names a band (``B8A``, ``RED``, ``NIR_NARROW``
    ...), the run's bands are picked by name, in the run's order. Otherwise the file must have exactly as
    many bands as the run, taken in file order. A mismatch is a DataError naming both sides.
    """
    from geofm.bands import canonical_band

    descriptions = [d or None for d in src.descriptions]
    canonical: list[str | None] = []
    for text in descriptions:
        try:
            canonical.append(canonical_band(text) if text else None)
        except DataError:
            canonical.append(None)
    expected = ", ".join(run_bands)
    if all(canonical):
        position: dict[str, int] = {}
        for index, name in enumerate(canonical, start=1):
            position.setdefault(str(name), index)
        missing = [band for band in run_bands if band not in position]
        if missing:
            raise DataError(
                f"{path} lacks band(s) {', '.join(missing)} that the run expects. The run expects {len(run_bands)} "
                f"bands: {expected}. The file has {src.count}: {_describe_file(descriptions, canonical)}. "
                "Give a scene with these bands (band descriptions name them, e.g. B8A or NIR_NARROW)."
            )
        indexes = tuple(position[band] for band in run_bands)
        by_name = True
    else:
        if src.count != len(run_bands):
            raise DataError(
                f"{path} has {src.count} band(s) but the run expects {len(run_bands)}: {expected}. The file's bands: "
                f"{_describe_file(descriptions, canonical)}. Without band descriptions the file must hold exactly "
                "the run's bands in that order; otherwise name its bands (GDAL band descriptions such as B2 or RED)."
            )
        indexes = tuple(range(1, src.count + 1))
        by_name = False
    return SceneBands(indexes=indexes, nodata=src.nodata, by_name=by_name)


def read_tile(
    src: Any,
    bands: SceneBands,
    row: int,
    col: int,
    height: int,
    width: int,
    mean: np.ndarray | None,
    std: np.ndarray | None,
    out: np.ndarray,
) -> np.ndarray:
    """Read a window into ``out`` (C, tile, tile), normalised, nodata and padding set to 0; return validity.

    A pixel is valid when none of its bands is NaN, infinite or equal to the file's nodata value.
    The returned mask is (height, width).
    """
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    from geofm.data.reading import valid_mask

    try:
        raw = src.read(list(bands.indexes), window=Window(col, row, width, height))
    except RasterioError as error:
        raise DataError(
            f"cannot read pixels {row}..{row + height} x {col}..{col + width} of {src.name} ({error}): "
            "the file is corrupt or truncated; re-download or regenerate it"
        ) from error
    valid = valid_mask(raw, bands.nodata)
    data = out[:, :height, :width]
    np.copyto(data, raw, casting="unsafe")
    if mean is not None and std is not None:
        data -= mean
        data /= std
    data[:, ~valid] = 0.0
    if height < out.shape[1]:
        out[:, height:] = 0.0
    if width < out.shape[2]:
        out[:, :height, width:] = 0.0
    return valid


def read_batches(
    src: Any,
    bands: SceneBands,
    batches: Iterable[Sequence[Any]],
    shape: tuple[int, int, int, int],
    mean: np.ndarray | None,
    std: np.ndarray | None,
) -> Iterator[tuple[Sequence[Any], np.ndarray, list[np.ndarray]]]:
    """``(tiles, array, valid masks)`` per batch of tiles, the next batch read in a thread meanwhile.

    ``shape`` is (batch, C, tile, tile). Two arrays alternate: the one yielded stays untouched until
    the following batch is requested. Only the reading thread touches ``src``.
    """
    from concurrent.futures import ThreadPoolExecutor

    buffers = (np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.float32))

    def load(tiles: Sequence[Any], out: np.ndarray) -> tuple[Sequence[Any], np.ndarray, list[np.ndarray]]:
        valids = []
        for tile, array in zip(tiles, out, strict=False):  # the last batch may be short
            valids.append(read_tile(src, bands, tile.row, tile.col, tile.height, tile.width, mean, std, array))
        return tiles, out, valids

    iterator = iter(batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="geofm-read") as pool:
        first = next(iterator, None)
        if first is None:
            return
        pending = pool.submit(load, first, buffers[0])
        index = 0
        while pending is not None:
            tiles, array, valids = pending.result()
            following = next(iterator, None)
            index += 1
            pending = pool.submit(load, following, buffers[index % 2]) if following is not None else None
            yield tiles, array[: len(tiles)], valids
