"""The torch ``Dataset`` of GeoTIFF segmentation samples: window reads, nodata, normalisation, crops, flips."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from geofm.data import (
    center_crop_offset,
    center_latlon,
    gsd_metres,
    normalize,
    pad_to,
    random_crop_offset,
    random_flips,
    raster_info,
    read_label,
    read_window,
    timestamp,
)
from geofm.errors import DataError

__all__ = ["GeoTiffSegmentationDataset", "SegmentationSample", "seed_worker"]


@dataclass(frozen=True)
class SegmentationSample:
    """One image file and its label file (``None`` for unlabelled prediction inputs), under an ``id``."""

    id: str
    image: Path
    label: Path | None


@dataclass(frozen=True)
class _Header:
    height: int
    width: int
    crs: Any
    transform: Any
    timestamp: float
    gsd: float


class GeoTiffSegmentationDataset(Dataset):
    """Samples ``{"image", "mask", "meta"}`` read from GeoTIFFs with rasterio windows.

    ``indexes`` are the 1-based file bands to read (in delivered order); ``mean``/``std`` normalise
    ``x * scale`` per band. Image pixels that are NaN or ``nodata`` (default: the file's) are set to 0
    after normalisation and their mask to ``ignore_index``, as are label ``label_nodata`` pixels.
    With ``crop_size`` smaller than a tile, training reads a random window (and flips it when
    ``flips``), evaluation the centre window; tiles smaller than the crop are padded with ignored
    pixels. ``cache`` keeps whole tiles in memory after the first read.
    """

    def __init__(
        self,
        samples: Sequence[SegmentationSample],
        *,
        indexes: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        file_band_count: int | None = None,
        scale: float = 1.0,
        nodata: float | None = None,
        label_nodata: float | None = None,
        ignore_index: int = 255,
        num_classes: int | None = None,
        crop_size: int | None = None,
        train: bool = False,
        flips: bool = True,
        seed: int = 0,
        cache: bool = False,
    ) -> None:
        if len(mean) != len(indexes) or len(std) != len(indexes):
            raise DataError(f"{len(indexes)} bands are read but {len(mean)} means and {len(std)} stds are given")
        self.samples = list(samples)
        self.indexes = tuple(indexes)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.file_band_count = file_band_count
        self.scale = float(scale)
        self.nodata = nodata
        self.label_nodata = label_nodata
        self.ignore_index = int(ignore_index)
        self.num_classes = num_classes
        self.crop_size = int(crop_size) if crop_size else None
        self.train = train
        self.flips = flips
        self.seed = seed
        self.cache = cache
        self.rng = np.random.default_rng(seed)
        self._headers: dict[Path, _Header] = {}
        self._tiles: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        """Number of samples (tiles)."""
        return len(self.samples)

    def header(self, sample: SegmentationSample) -> _Header:
        """Size, georeferencing and acquisition time of a sample's image (read once, then cached)."""
        cached = self._headers.get(sample.image)
        if cached is not None:
            return cached
        info = raster_info(sample.image)
        if self.file_band_count is not None and info.count != self.file_band_count:
            raise DataError(
                f"{sample.image} has {info.count} bands but the dataset declares {self.file_band_count} "
                "(file_bands). Give the bands of the files in file order, or remove files with another layout."
            )
        if sample.label is not None:
            label_info = raster_info(sample.label)
            if (label_info.height, label_info.width) != (info.height, info.width):
                raise DataError(
                    f"label {sample.label} is {label_info.height}x{label_info.width} pixels but image "
                    f"{sample.image} is {info.height}x{info.width}: labels must match their images"
                )
        lat, _ = center_latlon(info.crs, info.transform, info.height, info.width)
        header = _Header(
            height=info.height,
            width=info.width,
            crs=info.crs,
            transform=info.transform,
            timestamp=timestamp(sample.image, info.tags),
            gsd=gsd_metres(info.crs, info.transform, lat),
        )
        self._headers[sample.image] = header
        return header

    def _window(self, header: _Header) -> tuple[int, int, int, int]:
        """(row, col, height, width) of the window to read."""
        size = self.crop_size
        if size is None or (size >= header.height and size >= header.width):
            return 0, 0, header.height, header.width
        if self.train:
            row, col = random_crop_offset(header.height, header.width, size, self.rng)
        else:
            row, col = center_crop_offset(header.height, header.width, size)
        return row, col, min(size, header.height), min(size, header.width)

    def _read(self, index: int, sample: SegmentationSample, window: tuple[int, int, int, int]) -> tuple[Any, ...]:
        from rasterio.windows import Window

        row, col, height, width = window
        if self.cache:
            if index not in self._tiles:
                self._tiles[index] = self._read_raw(sample, None)
            image, valid, label = self._tiles[index]
            rows, cols = slice(row, row + height), slice(col, col + width)
            return image[:, rows, cols], valid[rows, cols], label[rows, cols].copy()
        return self._read_raw(sample, Window(col, row, width, height))

    def _read_raw(self, sample: SegmentationSample, window: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        image, valid = read_window(
            sample.image, window=window, indexes=self.indexes, nodata=self.nodata, expected_count=self.file_band_count
        )
        if sample.label is None:
            label = np.full(valid.shape, self.ignore_index, np.int64)
        else:
            label = read_label(sample.label, window=window, nodata=self.label_nodata, ignore_index=self.ignore_index)
            self._check_labels(label, sample.label)
        return image, valid, label

    def _check_labels(self, label: np.ndarray, path: Path) -> None:
        if self.num_classes is None:
            return
        bad = ((label < 0) | (label >= self.num_classes)) & (label != self.ignore_index)
        if bad.any():
            values = sorted({int(v) for v in np.unique(label[bad])})[:10]
            raise DataError(
                f"label {path} holds values {values} outside the {self.num_classes} classes "
                f"(0..{self.num_classes - 1}) and the ignore index {self.ignore_index}. Declare every class "
                "(classes / num_classes) or give the value meaning no data (label_nodata)."
            )

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: ``image`` float32 (C, H, W), ``mask`` int64 (H, W), ``meta`` (timestamps, centre, gsd)."""
        sample = self.samples[index]
        header = self.header(sample)
        window = self._window(header)
        image, valid, label = self._read(index, sample, window)
        label[~valid] = self.ignore_index
        image = normalize(image, self.mean, self.std, scale=self.scale, valid=valid)
        if self.crop_size is not None:
            image, label = pad_to(image, label, self.crop_size, ignore_index=self.ignore_index)
        if self.train and self.flips:
            image, label = random_flips(image, label, self.rng)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
            "mask": torch.from_numpy(np.ascontiguousarray(label, dtype=np.int64)),
            "meta": self._meta(header, window),
        }

    def _meta(self, header: _Header, window: tuple[int, int, int, int]) -> dict[str, torch.Tensor]:
        from rasterio.windows import Window
        from rasterio.windows import transform as window_transform

        row, col, height, width = window
        if header.transform is not None and header.crs is not None:
            transform = window_transform(Window(col, row, width, height), header.transform)
            lat, lon = center_latlon(header.crs, transform, height, width)
        else:
            lat, lon = math.nan, math.nan
        return {
            "timestamps": torch.tensor([header.timestamp], dtype=torch.float64),
            "center_latlon": torch.tensor([lat, lon], dtype=torch.float32),
            "gsd": torch.tensor(header.gsd, dtype=torch.float32),
        }


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a distinct, reproducible random stream per worker and epoch."""
    info = get_worker_info()
    if info is None:
        return
    dataset = info.dataset
    if isinstance(dataset, GeoTiffSegmentationDataset):
        dataset.rng = np.random.default_rng([dataset.seed, worker_id, torch.initial_seed() % (1 << 63)])
