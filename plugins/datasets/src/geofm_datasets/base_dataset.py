"""What the torch datasets of this plugin share: seeding, crop windows, cached headers and tiles, batch metadata.

:class:`GeofmDataset` holds the sampling state (seed, per-worker random stream, crops, flips) of every
dataset; :class:`WindowedDataset` adds what the datasets that read GeoTIFF windows share: a header per
sample read once, whole tiles kept in memory with ``cache``, and the ``meta`` of a window.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from geofm.data import RasterHandles, center_crop_offset, center_latlon, random_crop_offset
from geofm.errors import DataError

__all__ = ["GeofmDataset", "TileHeader", "WindowedDataset", "batch_meta", "seed_worker"]

S = TypeVar("S")

Window = tuple[int, int, int, int]
"""(row, col, height, width) of a read, in pixels of the tile."""


@dataclass(frozen=True)
class TileHeader:
    """Size, georeferencing, acquisition times (one per time step) and ground sample distance of a tile."""

    height: int
    width: int
    crs: Any
    transform: Any
    timestamps: tuple[float, ...]
    gsd: float


def batch_meta(timestamps: Sequence[float], center: Sequence[float], gsd: float) -> dict[str, torch.Tensor]:
    """The ``meta`` of one sample: ``timestamps`` float64 (T,), ``center_latlon`` float32 (2,), ``gsd``."""
    return {
        "timestamps": torch.tensor(tuple(timestamps), dtype=torch.float64),
        "center_latlon": torch.tensor(tuple(center), dtype=torch.float32),
        "gsd": torch.tensor(gsd, dtype=torch.float32),
    }


class GeofmDataset(Dataset, Generic[S]):
    """Samples read from files, normalised per band: the state every dataset of this plugin shares.

    ``indexes`` are the 1-based bands to deliver and ``mean``/``std`` normalise ``x * scale`` per
    delivered band. ``train`` draws random crops of ``crop_size`` (and flips when ``flips``) from
    ``rng``, seeded by ``seed`` and reseeded per loader worker by :func:`seed_worker`.
    """

    def __init__(
        self,
        samples: Sequence[S],
        *,
        indexes: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        file_band_count: int | None = None,
        scale: float = 1.0,
        nodata: float | None = None,
        crop_size: int | None = None,
        train: bool = False,
        flips: bool = True,
        seed: int = 0,
        cache: bool = False,
    ) -> None:
        if len(mean) != len(indexes) or len(std) != len(indexes):
            raise DataError(f"{len(indexes)} bands are read but {len(mean)} means and {len(std)} stds are given")
        self.samples = list(samples)
        self.indexes = tuple(int(i) for i in indexes)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.file_band_count = file_band_count
        self.scale = float(scale)
        self.nodata = nodata
        self.crop_size = int(crop_size) if crop_size else None
        self.train = train
        self.flips = flips
        self.seed = seed
        self.cache = cache
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Number of samples."""
        return len(self.samples)

    def crop_window(self, height: int, width: int) -> Window:
        """The window of a ``height`` x ``width`` tile to deliver: random (training) or centred, else whole."""
        size = self.crop_size
        if size is None or (size >= height and size >= width):
            return 0, 0, height, width
        if self.train:
            row, col = random_crop_offset(height, width, size, self.rng)
        else:
            row, col = center_crop_offset(height, width, size)
        return row, col, min(size, height), min(size, width)


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


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a distinct, reproducible random stream per worker and epoch."""
    info = get_worker_info()
    if info is None:
        return
    dataset = info.dataset
    if isinstance(dataset, GeofmDataset):
        dataset.rng = np.random.default_rng([dataset.seed, worker_id, torch.initial_seed() % (1 << 63)])
