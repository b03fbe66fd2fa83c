"""The torch ``Dataset`` of image classification samples: one multi-band GeoTIFF or one GeoTIFF per band.

Every image is read whole (or resampled on read to ``image_size``), nodata masked, normalised, then
cropped and flipped for training. Targets are a class index (multi-class) or a multi-hot vector
(multi-label). Subclasses change where targets and metadata come from (e.g. BigEarthNet's label files).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geofm.data import center_latlon, gsd_metres, normalize, open_raster, random_flips, timestamp
from geofm.data.reading import read_pixels, valid_mask
from geofm.data.sampling import batch_meta
from geofm.errors import DataError
from geofm_datasets.base_dataset import GeofmDataset

__all__ = ["ClassificationDataset", "ClassificationSample", "ImageMeta"]


@dataclass(frozen=True)
class ClassificationSample:
    """One image under an ``id``: ``files`` is one multi-band file, or one single-band file per band.

    ``labels`` are class indices (one for multi-class; any number for multi-label); ``None`` when the
    dataset reads them itself (e.g. from a label file beside the image).
    """

    id: str
    files: tuple[Path, ...]
    labels: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ImageMeta:
    """What the batch metadata says of one image: ``timestamp`` (s since 1970 UTC), centre (deg), ``gsd`` (m)."""

    timestamp: float
    center_latlon: tuple[float, float]
    gsd: float


class ClassificationDataset(GeofmDataset[ClassificationSample]):
    """Samples ``{"image": float32 (C, H, W), "target", "meta"}`` of image classification.

    ``indexes`` are the 1-based bands to deliver: band indexes of the one file of a sample, or, for
    samples with one file per band, positions in ``files``. ``file_band_count`` checks the bands of
    each file (or the number of files). ``image_size`` resamples on read; without it every image must
    have the size of the first. ``target`` is int64 (multi-class) or float32 (``num_classes``,)
    multi-hot (``multilabel``). The keywords every
    dataset shares (``indexes``, ``mean``, ``std``, ``scale``, ``crop_size``, ``seed`` ...) go to
    :class:`~geofm_datasets.base_dataset.GeofmDataset`.
    """

    def __init__(
        self,
        samples: Sequence[ClassificationSample],
        *,
        num_classes: int,
        multilabel: bool = False,
        image_size: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples, **options)
        self.num_classes = int(num_classes)
        self.multilabel = bool(multilabel)
        self.image_size = int(image_size) if image_size else None
        self._shape: tuple[int, int] | None = None
        self._images: dict[int, tuple[np.ndarray, ImageMeta]] = {}

    # --- reading -----------------------------------------------------------------------------------

    def _out_shape(self, native: Sequence[tuple[int, int]]) -> tuple[int, int]:
        if self.image_size is not None:
            return self.image_size, self.image_size
        return max(h for h, _ in native), max(w for _, w in native)

    @staticmethod
    def _resampling(native: tuple[int, int], out: tuple[int, int]) -> Any:
        from rasterio.enums import Resampling

        return Resampling.bilinear if out[0] * out[1] >= native[0] * native[1] else Resampling.average

    def _read_bands(self, src: Any, path: Path, bands: list[int], out: tuple[int, int]) -> np.ndarray:
        if (src.height, src.width) == out:
            return read_pixels(src, path, bands)
        shape = (len(bands), *out)
        return read_pixels(src, path, bands, out_shape=shape, resampling=self._resampling((src.height, src.width), out))

    def _check_count(self, count: int, what: str) -> None:
        if self.file_band_count is not None and count != self.file_band_count:
            raise DataError(
                f"{what} but the dataset declares {self.file_band_count} bands (file_bands). Give the bands "
                "of the files in file order, or remove images with another band layout."
            )

    def read_image(self, sample: ClassificationSample) -> tuple[np.ndarray, np.ndarray, ImageMeta]:
        """``(image float32 (C, H, W), valid bool (H, W), meta)`` of ``sample``, before normalising."""
        if len(sample.files) == 1:
            path = sample.files[0]
            with open_raster(path) as src:
                self._check_count(src.count, f"{path} has {src.count} bands")
                out = self._out_shape([(src.height, src.width)])
                raw = self._read_bands(src, path, list(self.indexes), out)
                nodata = src.nodata if self.nodata is None else self.nodata
                meta = self._file_meta(path, src, out)
        else:
            self._check_count(len(sample.files), f"image {sample.id} has {len(sample.files)} band files")
            paths = [sample.files[i - 1] for i in self.indexes]
            with ExitStack() as stack:
                handles = [stack.enter_context(open_raster(path)) for path in paths]
                out = self._out_shape([(h.height, h.width) for h in handles])
                raw = np.concatenate([self._read_bands(h, p, [1], out) for h, p in zip(handles, paths, strict=True)])
                finest = max(range(len(handles)), key=lambda i: handles[i].width * handles[i].height)
                meta = self._file_meta(paths[finest], handles[finest], out)
                nodata = handles[0].nodata if self.nodata is None else self.nodata
        if self._shape is None:
            self._shape = raw.shape[1:]
        elif raw.shape[1:] != self._shape:
            raise DataError(
                f"image {sample.id} is {raw.shape[1]}x{raw.shape[2]} pixels but the images before it are "
                f"{self._shape[0]}x{self._shape[1]}: give image_size to resample every image to one size"
            )
        valid = valid_mask(raw, nodata)
        return raw.astype(np.float32, copy=False), valid, meta

    def _file_meta(self, path: Path, src: Any, out: tuple[int, int]) -> ImageMeta:
        lat, lon = center_latlon(src.crs, src.transform, src.height, src.width)
        gsd = gsd_metres(src.crs, src.transform, lat)
        if not math.isnan(gsd):
            gsd *= src.width / out[1]  # pixel size after resampling
        return ImageMeta(timestamp(path, src.tags()), (lat, lon), gsd)

    # --- targets and metadata (subclasses may read them elsewhere) ---------------------------------

    def labels(self, index: int, sample: ClassificationSample) -> tuple[int, ...]:
        """The class indices of ``sample``."""
        if sample.labels is None:
            raise DataError(f"image {sample.id} has no labels")
        return sample.labels

    def meta(self, index: int, sample: ClassificationSample, file_meta: ImageMeta) -> ImageMeta:
        """The batch metadata of ``sample`` (default: what its file tells)."""
        return file_meta

    def target(self, labels: Sequence[int], sample: ClassificationSample) -> torch.Tensor:
        """int64 class index (multi-class) or float32 multi-hot (multi-label)."""
        bad = [i for i in labels if not 0 <= i < self.num_classes]
        if bad:
            raise DataError(f"image {sample.id} has class index {bad[0]} outside 0..{self.num_classes - 1}")
        if self.multilabel:
            hot = torch.zeros(self.num_classes, dtype=torch.float32)
            hot[list(labels)] = 1.0
            return hot
        if len(labels) != 1:
            raise DataError(
                f"image {sample.id} has {len(labels)} labels but the dataset is multi-class (one label per image); "
                "use the geotiff_multilabel dataset for several labels per image"
            )
        return torch.tensor(labels[0], dtype=torch.int64)

    # --- one sample --------------------------------------------------------------------------------

    def _crop(self, image: np.ndarray) -> np.ndarray:
        row, col, height, width = self.crop_window(*image.shape[-2:])
        return image[..., row : row + height, col : col + width]

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: ``image`` float32 (C, H, W), ``target``, ``meta`` (timestamps (1,), centre, gsd)."""
        sample = self.samples[index]
        if index in self._images:
            image, file_meta = self._images[index]
        else:
            raw, valid, file_meta = self.read_image(sample)
            image = normalize(raw, self.mean, self.std, scale=self.scale, valid=valid)
            if self.cache:
                self._images[index] = (image, file_meta)
        image = self._crop(image)
        if self.train and self.flips:
            image, _ = random_flips(image, np.zeros(image.shape[-2:], np.uint8), self.rng)
        meta = self.meta(index, sample, file_meta)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
            "target": self.target(self.labels(index, sample), sample),
            "meta": batch_meta((meta.timestamp,), meta.center_latlon, meta.gsd),
        }
