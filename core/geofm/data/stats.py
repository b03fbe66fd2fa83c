"""Per-band mean and standard deviation over many raster files, with nodata pixels excluded.

Files are read block by block (rasterio windows), so memory stays small whatever their size, and the
running moments are merged with Chan's parallel algorithm in float64 (stable for reflectance x 10000).
For speed, at most ``max_files`` files are used (a seeded random sample) and large files are read
decimated to about ``max_pixels`` pixels (nearest sampling keeps the nodata values exact).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geofm.data.reading import open_raster, valid_mask
from geofm.errors import DataError

__all__ = ["BandStats", "compute_band_stats"]

_BLOCK_ROWS = 512


@dataclass(frozen=True)
class BandStats:
    """Per-band ``mean``, ``std`` (population) and ``count`` of valid pixels, over ``num_files`` files."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    count: tuple[int, ...]
    num_files: int

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible form."""
        return {"mean": list(self.mean), "std": list(self.std), "count": list(self.count), "files": self.num_files}


class _Moments:
    """Running count, mean and sum of squared deviations per band (Chan et al.)."""

    def __init__(self, bands: int) -> None:
        self.n = np.zeros(bands, np.float64)
        self.mean = np.zeros(bands, np.float64)
        self.m2 = np.zeros(bands, np.float64)

    def add(self, values: np.ndarray) -> None:
        """Merge a (C, N) block of valid values."""
        if values.shape[1] == 0:
            return
        n_b = float(values.shape[1])
        mean_b = values.mean(axis=1)
        m2_b = ((values - mean_b[:, None]) ** 2).sum(axis=1)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / n
        self.n = n


def _sample_files(paths: Sequence[Path], max_files: int | None, seed: int) -> list[Path]:
    if max_files is None or len(paths) <= max_files:
        return list(paths)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(paths), size=max_files, replace=False))
    return [paths[i] for i in chosen]


def compute_band_stats(
    paths: Iterable[str | Path],
    *,
    indexes: Sequence[int] | None = None,
    nodata: float | None = None,
    scale: float = 1.0,
    max_files: int | None = 256,
    max_pixels: int | None = 1 << 20,
    seed: int = 0,
) -> BandStats:
    """Mean and std of bands ``indexes`` (1-based; ``None`` = all) of ``x * scale`` over ``paths``.

    Pixels where any selected band is NaN or equals ``nodata`` (``None`` = each file's own nodata) are
    excluded. A band with no valid pixel at all raises :class:`DataError`.
    """
    from rasterio.enums import Resampling
    from rasterio.errors import RasterioError
    from rasterio.windows import Window

    files = _sample_files([Path(p) for p in paths], max_files, seed)
    if not files:
        raise DataError("no files to compute band statistics from; give GeoTIFF files, folders or globs")
    moments: _Moments | None = None
    selected: list[int] | None = list(indexes) if indexes is not None else None
    for path in files:
        with open_raster(path) as src:
            bands = selected or list(range(1, src.count + 1))
            if max(bands) > src.count:
                raise DataError(f"{path} has {src.count} bands; band index {max(bands)} does not exist")
            if moments is None:
                moments = _Moments(len(bands))
                selected = bands
            elif len(bands) != len(moments.n):
                raise DataError(f"{path} has {len(bands)} bands, unlike the files before it ({len(moments.n)})")
            file_nodata = src.nodata if nodata is None else nodata
            pixels = src.height * src.width
            try:
                if max_pixels is not None and pixels > max_pixels:
                    step = math.sqrt(pixels / max_pixels)
                    shape = (len(bands), max(1, int(src.height / step)), max(1, int(src.width / step)))
                    blocks = [src.read(bands, out_shape=shape, resampling=Resampling.nearest)]
                else:
                    blocks = (
                        src.read(bands, window=Window(0, row, src.width, min(_BLOCK_ROWS, src.height - row)))
                        for row in range(0, src.height, _BLOCK_ROWS)
                    )
                for block in blocks:
                    valid = valid_mask(block, file_nodata)
                    values = block[:, valid].astype(np.float64) * scale
                    moments.add(values)
            except RasterioError as error:
                raise DataError(
                    f"cannot read pixels of {path} ({error}): the file is corrupt or truncated. "
                    "Re-download or regenerate it, or leave it out."
                ) from error
    assert moments is not None
    empty = [i + 1 for i, n in enumerate(moments.n) if n == 0]
    if empty:
        raise DataError(
            f"band(s) {empty} have no valid pixel in {len(files)} file(s): every pixel is nodata. "
            "Check the nodata value (--nodata) or the files."
        )
    std = np.sqrt(moments.m2 / moments.n)
    return BandStats(
        mean=tuple(float(v) for v in moments.mean),
        std=tuple(float(v) for v in std),
        count=tuple(int(v) for v in moments.n),
        num_files=len(files),
    )
