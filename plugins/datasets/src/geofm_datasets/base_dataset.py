"""What the torch datasets of this plugin share: flips and caching, cached headers and tiles, window metadata.

:class:`GeofmDataset` adds ``flips`` and ``cache`` to core's :class:`~geofm.data.sampling.SampledDataset`
(normalisation, crop windows, the seeded random stream); :class:`WindowedDataset` adds what the datasets
that read GeoTIFF windows share: a header per sample read once, whole tiles kept in memory with ``cache``,
and the ``meta`` of a window.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from geofm.data import RasterHandles, center_latlon
from geofm.data.sampling import SampledDataset, Window, batch_meta

__all__ = ["GeofmDataset", "TileHeader", "WindowedDataset"]

S = TypeVar("S")


@dataclass(frozen=True)
class TileHeader:
    """Size, georeferencing, acquisition times (one per time step) and ground sample distance of a tile."""

    height: int
    width: int
    crs: Any
    transform: Any
    timestamps: tuple[float, ...]
    gsd: float


class GeofmDataset(SampledDataset[S]):
    """Samples read from files, normalised per band: the state every dataset of this plugin shares.

    Core's :class:`~geofm.data.sampling.SampledDataset` (bands, normalisation, crops, the random
    stream) with random flips when training and ``flips``, and ``cache`` (keep what was read).
    """

    def __init__(self, samples: Sequence[S], *, flips: bool = True, cache: bool = False, **options: Any) -> None:
        super().__init__(samples, **options)
        self.flips = flips
        self.cache = cache


class WindowedDataset(GeofmDataset[S]):
    """A dataset that reads windows of GeoTIFF tiles: headers read once, tiles cached, window metadata.

    Subclasses give :meth:`header_key` and :meth:`read_header`, and read a window with
    :meth:`read_raw` (``window=None``: the whole tile, as ``cache`` keeps it). Files stay open across
    epochs (:class:`~geofm.data.RasterHandles`: GDAL keeps their decoded blocks).
    """

    def __init__(self, samples: Sequence[S], **kwargs: Any) -> None:
        super().__init__(samples, **kwargs)
        self._headers: dict[Hashable, TileHeader] = {}
        self._tiles: dict[int, tuple[np.ndarray, ...]] = {}
        self._handles = RasterHandles()

    def header_key(self, sample: S) -> Hashable:
        """What identifies the files of ``sample`` (samples with one key share one header)."""
        raise NotImplementedError

    def read_header(self, sample: S) -> TileHeader:
        """Read the header of ``sample``'s files (checking they fit together)."""
        raise NotImplementedError

    def read_raw(self, sample: S, window: Any) -> tuple[np.ndarray, ...]:
        """The arrays of ``sample`` in a rasterio ``window`` (``None``: the whole tile), pixels last."""
        raise NotImplementedError

    def scored(self, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
        """Which pixels of a tile (``arrays`` as :meth:`read_raw` returns them) count in loss and metrics."""
        raise NotImplementedError

    def has_scored_pixel(self) -> bool:
        """Whether any sample has a pixel that counts in loss and metrics.

        Headers and whole tiles are read in order until one has such a pixel, so a usable split costs one
        tile read; the headers are kept, and with ``cache`` the tiles too.
        """
        for index, sample in enumerate(self.samples):
            self.header(sample)  # checks that the files fit together, as reading a sample does
            arrays = self._tiles[index] if index in self._tiles else self.read_raw(sample, None)
            if self.cache:
                self._tiles[index] = arrays
            if self.scored(arrays).any():
                return True
        return False

    def header(self, sample: S) -> TileHeader:
        """Size, georeferencing and acquisition times of a sample's files (read once, then cached)."""
        key = self.header_key(sample)
        cached = self._headers.get(key)
        if cached is None:
            cached = self._headers[key] = self.read_header(sample)
        return cached

    def _window(self, header: TileHeader) -> Window:
        """(row, col, height, width) of the window to read."""
        return self.crop_window(header.height, header.width)

    def _read(self, index: int, sample: S, window: Window) -> tuple[np.ndarray, ...]:
        """:meth:`read_raw` of ``window``; with ``cache`` a view into the whole tile, read once."""
        from rasterio.windows import Window as RasterWindow

        row, col, height, width = window
        if not self.cache:
            return self.read_raw(sample, RasterWindow(col, row, width, height))
        if index not in self._tiles:
            self._tiles[index] = self.read_raw(sample, None)
        rows, cols = slice(row, row + height), slice(col, col + width)
        return tuple(array[..., rows, cols] for array in self._tiles[index])

    def _meta(self, header: TileHeader, window: Window) -> dict[str, torch.Tensor]:
        """The batch ``meta`` of ``window``: the tile's times, the window's centre and the tile's gsd."""
        row, col, height, width = window
        lat, lon = center_latlon(header.crs, header.transform, height, width, row_off=row, col_off=col)
        return batch_meta(header.timestamps, (lat, lon), header.gsd)
