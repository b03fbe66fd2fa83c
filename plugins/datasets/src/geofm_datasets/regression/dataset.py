"""The torch ``Dataset`` of pixel-wise regression: image and float target GeoTIFFs, read through windows.

A sample is ``{"image": float32 (C, H, W), "target": float32 (K, H, W), "valid": bool (K, H, W), "meta"}``:
``target`` holds ``(raw - target_offset) / target_scale`` of the ``K`` target bands, NaN where the target
is NaN or ``target_nodata`` or the image pixel is nodata, and ``valid`` is false exactly there, so the
regression task leaves those pixels out of loss and metrics. Random crops and flips move image, target
and mask together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geofm.data import (
    center_latlon,
    gsd_metres,
    normalize,
    random_flips,
    raster_info,
    read_target,
    read_window,
    timestamp,
)
from geofm.errors import DataError
from geofm_datasets.base_dataset import TileHeader, WindowedDataset

__all__ = ["GeoTiffRegressionDataset", "RegressionSample"]


@dataclass(frozen=True)
class RegressionSample:
    """One image file and its target file (``None`` for unlabelled prediction inputs), under an ``id``."""

    id: str
    image: Path
    target: Path | None


class GeoTiffRegressionDataset(WindowedDataset[RegressionSample]):
    """Samples ``{"image", "target", "valid", "meta"}`` read from image and target GeoTIFFs.

    ``indexes`` are the 1-based image bands to read and ``mean``/``std`` normalise ``x * scale`` per
    band; ``target_indexes`` the target bands, turned into ``(raw - target_offset) / target_scale`` (one
    value or one per target band). With ``crop_size`` smaller than a tile, training reads a random window
    (flipped when ``flips``), evaluation the centre one; smaller tiles are padded with invalid pixels.
    ``cache`` keeps whole tiles in memory (per worker) after the first read; files stay open between
    reads (:class:`~geofm.data.RasterHandles`, per process). The keywords every
    dataset shares (``indexes``, ``mean``, ``std``, ``scale``, ``crop_size``, ``seed`` ...) go to
    :class:`~geofm_datasets.base_dataset.GeofmDataset`.
    """

    def __init__(
        self,
        samples: Sequence[RegressionSample],
        *,
        target_indexes: Sequence[int] | None = None,
        target_offset: Sequence[float] = (0.0,),
        target_scale: Sequence[float] = (1.0,),
        target_nodata: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples, **options)
        if any(float(s) == 0 for s in target_scale):
            raise DataError("target_scale must not be 0")
        self.target_indexes = tuple(target_indexes) if target_indexes is not None else None
        self.target_offset = np.asarray(target_offset, np.float32).reshape(-1, 1, 1)
        self.target_scale = np.asarray(target_scale, np.float32).reshape(-1, 1, 1)
        self.target_nodata = target_nodata

    def header_key(self, sample: RegressionSample) -> Path:
        """A sample's image file."""
        return sample.image

    def read_header(self, sample: RegressionSample) -> TileHeader:
        """Size, georeferencing and acquisition time of a sample's image, checked against its target."""
        info = raster_info(sample.image)
        if sample.target is not None:
            target = raster_info(sample.target)
            if (target.height, target.width) != (info.height, info.width):
                raise DataError(
                    f"target {sample.target} is {target.height}x{target.width} pixels but image {sample.image} "
                    f"is {info.height}x{info.width}: targets must match their images"
                )
        lat, _ = center_latlon(info.crs, info.transform, info.height, info.width)
        return TileHeader(
            height=info.height,
            width=info.width,
            crs=info.crs,
            transform=info.transform,
            timestamps=(timestamp(sample.image, info.tags),),
            gsd=gsd_metres(info.crs, info.transform, lat),
        )

    def read_raw(self, sample: RegressionSample, window: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    def scored(self, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
        """Values (K, h, w) of :meth:`read_raw`'s arrays with a finite target (not nodata, image valid)."""
        return np.isfinite(arrays[2])

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
