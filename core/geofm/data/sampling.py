"""What every torch dataset of raster samples shares: normalisation, crop windows, a seeded random stream.

:class:`SampledDataset` holds the bands to read, the normalisation, the crop size and the random stream
(seeded by ``seed``, reseeded per loader worker and epoch by :func:`seed_worker`) of a dataset;
:func:`batch_meta` builds the ``meta`` of one sample. Imports torch: only data modules import this
module (:mod:`geofm.data` itself stays light).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from geofm.data.transforms import center_crop_offset, random_crop_offset
from geofm.errors import DataError

__all__ = ["SampledDataset", "Window", "batch_meta", "seed_worker"]

S = TypeVar("S")

Window = tuple[int, int, int, int]
"""(row, col, height, width) of a read, in pixels of the tile."""


def batch_meta(timestamps: Sequence[float], center: Sequence[float], gsd: float) -> dict[str, torch.Tensor]:
    """The ``meta`` of one sample: ``timestamps`` float64 (T,), ``center_latlon`` float32 (2,), ``gsd``."""
    return {
        "timestamps": torch.tensor(tuple(timestamps), dtype=torch.float64),
        "center_latlon": torch.tensor(tuple(center), dtype=torch.float32),
        "gsd": torch.tensor(gsd, dtype=torch.float32),
    }


class SampledDataset(Dataset, Generic[S]):
    """Samples read from files, normalised per band, cropped from a seeded random stream.

    ``indexes`` are the 1-based bands to deliver and ``mean``/``std`` normalise ``x * scale`` per
    delivered band; ``nodata`` (``None``: each file's own) marks invalid pixels and ``file_band_count``
    checks the files' band count. ``train`` draws random crops of ``crop_size`` from ``rng`` (seeded by
    ``seed``, reseeded per loader worker by :func:`seed_worker`); other splits take the centre crop.
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
        seed: int = 0,
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
        self.train = bool(train)
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

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


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a distinct, reproducible random stream per worker and epoch."""
    info = get_worker_info()
    if info is not None and isinstance(info.dataset, SampledDataset):
        dataset = info.dataset
        dataset.rng = np.random.default_rng([dataset.seed, worker_id, torch.initial_seed() % (1 << 63)])
