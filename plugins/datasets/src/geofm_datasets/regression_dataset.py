"""The torch ``Dataset`` of pixel-wise regression: image and float target GeoTIFFs, read through windows.

A sample is ``{"image": float32 (C, H, W), "target": float32 (K, H, W), "valid": bool (K, H, W), "meta"}``:
``target`` holds ``(raw - target_offset) / target_scale`` of the ``K`` target bands, NaN where the target
is NaN or ``target_nodata`` or the image pixel is nodata, and ``valid`` is false exactly there, so the
regression task leaves those pixels out of loss and metrics. Random crops and flips move image, target
and mask together.
"""

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
    RasterHandles,
    center_crop_offset,
    center_latlon,
    gsd_metres,
    normalize,
    open_raster,
    random_crop_offset,
    random_flips,
    raster_info,
    read_window,
    timestamp,
)
from geofm.errors import DataError

__all__ = ["GeoTiffRegressionDataset", "RegressionSample", "read_target", "seed_worker"]


@dataclass(frozen=True)
class RegressionSample:
    """One image file and its target file (``None`` for unlabelled prediction inputs), under an ``id``."""

    id: str
    image: Path
    target: Path | None


@dataclass(frozen=True)
class _Header:
    height: int
    width: int
    crs: Any
    transform: Any
    timestamp: float
    gsd: float


def read_target(
    path: str | Path,
    *,
    window: Any = None,
    indexes: Sequence[int] | None = None,
    nodata: float | None = None,
    handles: RasterHandles | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read target bands ``indexes`` (1-based; ``None`` = all) as float32 (K, h, w) and their validity.

    A value is invalid where it is NaN or infinite or equals ``nodata`` (``None`` = the file's nodata);
    unlike an image, each band has its own mask. ``handles`` keeps the file open for the next read.
    """
    from rasterio.errors import RasterioError

    path = Path(path)
    with handles.use(path) if handles is not None else open_raster(path) as src:
        selected = list(indexes) if indexes is not None else list(range(1, src.count + 1))
        if max(selected, default=0) > src.count:
            raise DataError(f"target {path} has {src.count} bands; target band {max(selected)} does not exist")
        try:
            raw = src.read(selected, window=window)
        except RasterioError as error:
            raise DataError(
                f"cannot read pixels of target {path} ({error}): the file is corrupt or truncated. "
                "Re-download or regenerate it, or remove it from the dataset."
            ) from error
        file_nodata = src.nodata if nodata is None else nodata
    values = raw.astype(np.float32, copy=False)
    valid = np.isfinite(values)
    if file_nodata is not None and not math.isnan(file_nodata):
        valid &= raw != file_nodata
    return values, valid


class GeoTiffRegressionDataset(Dataset):
    """Samples ``{"image", "target", "valid", "meta"}`` read from image and target GeoTIFFs.

    ``indexes`` are the 1-based image bands to read and ``mean``/``std`` normalise ``x * scale`` per
    band; ``target_indexes`` the target bands, turned into ``(raw - target_offset) / target_scale`` (one
    value or one per target band). With ``crop_size`` smaller than a tile, training reads a random window
    (flipped when ``flips``), evaluation the centre one; smaller tiles are padded with invalid pixels.
    ``cache`` keeps whole tiles in memory (per worker) after the first read; files stay open between
    reads (:class:`~geofm.data.RasterHandles`, per process).
    """

    def __init__(
        self,
        samples: Sequence[RegressionSample],
        *,
        indexes: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        target_indexes: Sequence[int] | None = None,
        target_offset: Sequence[float] = (0.0,),
        target_scale: Sequence[float] = (1.0,),
        file_band_count: int | None = None,
        scale: float = 1.0,
        nodata: float | None = None,
        target_nodata: float | None = None,
        crop_size: int | None = None,
        train: bool = False,
        flips: bool = True,
        seed: int = 0,
        cache: bool = False,
    ) -> None:
        if len(mean) != len(indexes) or len(std) != len(indexes):
            raise DataError(f"{len(indexes)} bands are read but {len(mean)} means and {len(std)} stds are given")
        if any(float(s) == 0 for s in target_scale):
            raise DataError("target_scale must not be 0")
        self.samples = list(samples)
        self.indexes = tuple(indexes)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.target_indexes = tuple(target_indexes) if target_indexes is not None else None
        self.target_offset = np.asarray(target_offset, np.float32).reshape(-1, 1, 1)
        self.target_scale = np.asarray(target_scale, np.float32).reshape(-1, 1, 1)
        self.file_band_count = file_band_count
        self.scale = float(scale)
        self.nodata = nodata
        self.target_nodata = target_nodata
        self.crop_size = int(crop_size) if crop_size else None
        self.train = train
        self.flips = flips
        self.seed = seed
        self.cache = cache
        self.rng = np.random.default_rng(seed)
        self._headers: dict[Path, _Header] = {}
        self._tiles: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._handles = RasterHandles()

    def __len__(self) -> int:
        """Number of samples (tiles)."""
        return len(self.samples)

    def header(self, sample: RegressionSample) -> _Header:
        """Size, georeferencing and acquisition time of a sample's image (read once, then cached)."""
        cached = self._headers.get(sample.image)
        if cached is not None:
            return cached
        info = raster_info(sample.image)
        if sample.target is not None:
            target = raster_info(sample.target)
            if (target.height, target.width) != (info.height, info.width):
                raise DataError(
                    f"target {sample.target} is {target.height}x{target.width} pixels but image {sample.image} "
                    f"is {info.height}x{info.width}: targets must match their images"
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
        size = self.crop_size
        if size is None or (size >= header.height and size >= header.width):
            return 0, 0, header.height, header.width
        if self.train:
            row, col = random_crop_offset(header.height, header.width, size, self.rng)
        else:
            row, col = center_crop_offset(header.height, header.width, size)
        return row, col, min(size, header.height), min(size, header.width)

    def _read_raw(self, sample: RegressionSample, window: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (C, h, w), its valid mask (h, w) and the scaled target (K, h, w), NaN where invalid."""
        image, valid = read_window(
            sample.image,
            window=window,
            indexes=self.indexes,
            nodata=self.nodata,
            expected_count=self.file_band_count,
            handles=self._handles,
        )
        if sample.target is None:
            count = len(self.target_indexes) if self.target_indexes else 1
            return image, valid, np.full((count, *valid.shape), np.nan, np.float32)
        raw, target_valid = read_target(
            sample.target, window=window, indexes=self.target_indexes, nodata=self.target_nodata, handles=self._handles
        )
        if self.target_offset.shape[0] not in (1, raw.shape[0]):
            raise DataError(
                f"{self.target_offset.shape[0]} target_offset / target_scale values for {raw.shape[0]} target bands "
                f"of {sample.target}: give one value, or one per target band"
            )
        target = (raw - self.target_offset) / self.target_scale
        target[~(target_valid & valid[None])] = np.nan
        return image, valid, target.astype(np.float32, copy=False)

    def _read(self, index: int, sample: RegressionSample, window: tuple[int, int, int, int]) -> tuple[np.ndarray, ...]:
        from rasterio.windows import Window

        row, col, height, width = window
        if not self.cache:
            return self._read_raw(sample, Window(col, row, width, height))
        if index not in self._tiles:
            self._tiles[index] = self._read_raw(sample, None)
        image, valid, target = self._tiles[index]
        rows, cols = slice(row, row + height), slice(col, col + width)
        return image[:, rows, cols], valid[rows, cols], target[:, rows, cols]

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: ``image`` (C, H, W), ``target`` and ``valid`` (K, H, W), ``meta``."""
        sample = self.samples[index]
        header = self.header(sample)
        window = self._window(header)
        image, valid, target = self._read(index, sample, window)
        image = normalize(image, self.mean, self.std, scale=self.scale, valid=valid)
        if self.crop_size is not None:
            pad_h, pad_w = max(self.crop_size - valid.shape[0], 0), max(self.crop_size - valid.shape[1], 0)
            if pad_h or pad_w:
                image = np.pad(image, [(0, 0), (0, pad_h), (0, pad_w)], constant_values=0)
                target = np.pad(target, [(0, 0), (0, pad_h), (0, pad_w)], constant_values=np.nan)
        if self.train and self.flips:
            image, target = random_flips(image, target, self.rng)
        target = np.ascontiguousarray(target, dtype=np.float32)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
            "target": torch.from_numpy(target),
            "valid": torch.from_numpy(np.isfinite(target)),
            "meta": self._meta(header, window),
        }

    def _meta(self, header: _Header, window: tuple[int, int, int, int]) -> dict[str, torch.Tensor]:
        row, col, height, width = window
        lat, lon = center_latlon(header.crs, header.transform, height, width, row_off=row, col_off=col)
        return {
            "timestamps": torch.tensor([header.timestamp], dtype=torch.float64),
            "center_latlon": torch.tensor([lat, lon], dtype=torch.float32),
            "gsd": torch.tensor(header.gsd, dtype=torch.float32),
        }


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: a distinct, reproducible random stream per worker and epoch."""
    info = get_worker_info()
    if info is not None and isinstance(info.dataset, GeoTiffRegressionDataset):
        dataset = info.dataset
        dataset.rng = np.random.default_rng([dataset.seed, worker_id, torch.initial_seed() % (1 << 63)])
