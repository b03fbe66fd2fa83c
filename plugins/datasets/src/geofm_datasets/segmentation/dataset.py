"""The torch ``Dataset`` of GeoTIFF segmentation samples: window reads, nodata, normalisation, crops, flips.

A sample is one image file, or several: files whose bands are stacked into one time step (e.g. Sentinel-2
and Sentinel-1 chips of the same place), one file per time step, or one file of T x C bands. A
:class:`BandLayout` says which; images come out as (C, H, W) or, for time series, (C, T, H, W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from geofm.data import (
    center_latlon,
    date_from_name,
    date_from_tags,
    gsd_metres,
    normalize,
    open_raster,
    pad_to,
    random_flips,
    read_label,
    read_window,
    timestamp,
)
from geofm.errors import DataError
from geofm_datasets.base_dataset import TileHeader, WindowedDataset

__all__ = ["BandLayout", "GeoTiffSegmentationDataset", "SegmentationSample"]


@dataclass(frozen=True)
class SegmentationSample:
    """One sample under an ``id``: its image file(s) and label file (``None`` for unlabelled inputs).

    ``frames`` holds, per time step, the files whose bands are stacked in that order (empty: the one
    file ``image``; otherwise ``image`` is ``frames[0][0]``). ``timestamps`` (seconds since 1970 UTC, one
    per time step) override the dates read from the files, for datasets whose dates come from elsewhere.
    """

    id: str
    image: Path
    label: Path | None
    frames: tuple[tuple[Path, ...], ...] = ()
    timestamps: tuple[float, ...] = field(default=(), compare=False)

    @property
    def files(self) -> tuple[tuple[Path, ...], ...]:
        """Per time step, the files whose bands are stacked (``((image,),)`` for a one-file sample)."""
        return self.frames or ((self.image,),)


@dataclass(frozen=True)
class BandLayout:
    """How the bands of one time step are spread over a sample's files.

    ``part_counts`` are the band counts of the files stacked into one time step, in order (one entry for
    one file per step; ``None`` = not checked). ``num_frames`` is T. With ``frames_in_file`` each file
    holds all T steps, time-major (step t = bands ``t*C+1 .. (t+1)*C`` of C = the file's part count);
    otherwise a sample has one group of files per step. ``temporal`` delivers (C, T, H, W) images
    (always when T > 1), else (C, H, W).
    """

    part_counts: tuple[int | None, ...] = (None,)
    num_frames: int = 1
    frames_in_file: bool = False
    temporal: bool = False

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise DataError(f"num_frames must be at least 1, got {self.num_frames}")
        if (len(self.part_counts) > 1 or self.frames_in_file) and any(c is None for c in self.part_counts):
            raise DataError("give the band count of every file when files are stacked or hold several time steps")

    @property
    def stacked(self) -> bool:
        """Whether images are delivered as (C, T, H, W)."""
        return self.temporal or self.num_frames > 1

    def expected_count(self, part: int) -> int | None:
        """The band count a file of ``part`` must have (``None``: unchecked)."""
        count = self.part_counts[part]
        return None if count is None else count * (self.num_frames if self.frames_in_file else 1)

    def locate(self, indexes: Sequence[int]) -> tuple[list[tuple[int, tuple[int, ...]]], tuple[int, ...]]:
        """Split 1-based step-band ``indexes`` into per-file reads.

        Returns ``(reads, order)``: ``reads`` lists ``(part, local 1-based indexes)`` for the files that
        are read, ``order`` the position of each wanted band in the concatenation of those reads.
        """
        if len(self.part_counts) == 1:
            return [(0, tuple(indexes))], tuple(range(len(indexes)))
        bounds, offset = [], 0
        for count in self.part_counts:
            assert count is not None
            bounds.append((offset, offset + count))
            offset += count
        wanted: dict[int, list[int]] = {}
        where: list[tuple[int, int]] = []
        for index in indexes:
            part = next((p for p, (lo, hi) in enumerate(bounds) if lo < index <= hi), None)
            if part is None:
                raise DataError(f"band index {index} is beyond the {offset} bands of the stacked files")
            local = index - bounds[part][0]
            wanted.setdefault(part, [])
            if local not in wanted[part]:
                wanted[part].append(local)
            where.append((part, local))
        reads = [(part, tuple(sorted(wanted[part]))) for part in sorted(wanted)]
        start = {}
        position = 0
        for part, local_indexes in reads:
            start[part] = position
            position += len(local_indexes)
        order = tuple(start[part] + dict(reads)[part].index(local) for part, local in where)
        return reads, order


def _band_timestamp(src: Any, band: int) -> float:
    """Date of one band from its tags or description (a time-series file), NaN if it tells none."""
    found = date_from_tags(dict(src.tags(band))) or date_from_name(src.descriptions[band - 1] or "")
    return found.timestamp() if found is not None else math.nan


class GeoTiffSegmentationDataset(WindowedDataset[SegmentationSample]):
    """Samples ``{"image", "mask", "meta"}`` read from GeoTIFFs with rasterio windows.

    ``indexes`` are the 1-based bands of one time step to read (in delivered order; over the stacked
    files of ``layout``); ``mean``/``std`` normalise ``x * scale`` per delivered band. Image pixels that
    are NaN or ``nodata`` (default: each file's) in any band or time step are set to 0 after
    normalisation and their mask to ``ignore_index``, as are label ``label_nodata`` pixels;
    ``label_offset`` is added to the other labels (e.g. -1 for labels 1..K with 0 = no data). With
    ``crop_size`` smaller than a tile, training reads a random window (and flips it when ``flips``),
    evaluation the centre window; tiles smaller than the crop are padded with ignored pixels. ``cache``
    keeps whole tiles in memory after the first read. The keywords every
    dataset shares (``indexes``, ``mean``, ``std``, ``scale``, ``crop_size``, ``seed`` ...) go to
    :class:`~geofm_datasets.base_dataset.GeofmDataset`.
    """

    def __init__(
        self,
        samples: Sequence[SegmentationSample],
        *,
        layout: BandLayout | None = None,
        label_nodata: float | None = None,
        label_offset: int = 0,
        ignore_index: int = 255,
        num_classes: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples, **options)
        self.layout = layout if layout is not None else BandLayout((self.file_band_count,))
        self.reads, self.order = self.layout.locate(self.indexes)
        self.label_nodata = label_nodata
        self.label_offset = int(label_offset)
        self.ignore_index = int(ignore_index)
        self.num_classes = num_classes
        # masks travel to the trainer as uint8 where every value fits (4x fewer bytes between processes)
        fits_byte = num_classes is not None and num_classes <= 255 and 0 <= self.ignore_index <= 255
        self.mask_dtype = np.uint8 if fits_byte else np.int64

    def _check_files(self, sample: SegmentationSample) -> None:
        files = sample.files
        steps = 1 if self.layout.frames_in_file else self.layout.num_frames
        parts = len(self.layout.part_counts)
        if len(files) != steps or any(len(group) != parts for group in files):
            shape = " + ".join(str(len(group)) for group in files)
            raise DataError(
                f"sample {sample.id} has {len(files)} time step(s) of {shape} file(s) but the dataset expects "
                f"{steps} step(s) of {parts} file(s) each; check the frames / stacked file patterns"
            )

    def header_key(self, sample: SegmentationSample) -> tuple[Any, ...]:
        """A sample's image files and label."""
        return (sample.files, sample.label)

    def read_header(self, sample: SegmentationSample) -> TileHeader:
        """Size, georeferencing and acquisition times of a sample's images, checked against each other."""
        self._check_files(sample)
        first: Any = None
        stamps: list[float] = []
        for group in sample.files:
            for part, path in enumerate(group):
                with open_raster(path) as src:
                    expected = self.layout.expected_count(part)
                    if expected is not None and src.count != expected:
                        raise DataError(
                            f"{path} has {src.count} bands but the dataset declares {expected} (file_bands"
                            f"{' x num_frames' if self.layout.frames_in_file else ''}). Give the bands of the files "
                            "in file order, or remove files with another layout."
                        )
                    size = (src.height, src.width)
                    if first is None:
                        first = (size, src.crs, src.transform, path)
                        if self.layout.frames_in_file:
                            count = self.layout.part_counts[0] or 0
                            stamps = [_band_timestamp(src, t * count + 1) for t in range(self.layout.num_frames)]
                    elif size != first[0]:
                        raise DataError(
                            f"{path} is {size[0]}x{size[1]} pixels but {first[3]} of the same sample is "
                            f"{first[0][0]}x{first[0][1]}: the files of a sample must share one grid"
                        )
                    if part == 0 and not self.layout.frames_in_file:
                        stamps.append(timestamp(path, dict(src.tags())))
        (height, width), crs, transform, _ = first
        if sample.label is not None:
            with open_raster(sample.label) as src:
                if (src.height, src.width) != (height, width):
                    raise DataError(
                        f"label {sample.label} is {src.height}x{src.width} pixels but image "
                        f"{sample.image} is {height}x{width}: labels must match their images"
                    )
        if sample.timestamps:
            if len(sample.timestamps) != self.layout.num_frames:
                raise DataError(
                    f"sample {sample.id} has {len(sample.timestamps)} dates for {self.layout.num_frames} time steps"
                )
            stamps = [float(s) for s in sample.timestamps]
        lat, _ = center_latlon(crs, transform, height, width)
        return TileHeader(
            height=height,
            width=width,
            crs=crs,
            transform=transform,
            timestamps=tuple(stamps),
            gsd=gsd_metres(crs, transform, lat),
        )

    def _read_step(self, sample: SegmentationSample, step: int, window: Any) -> tuple[np.ndarray, np.ndarray]:
        """The delivered bands (C, h, w) of time step ``step`` and their joint valid mask."""
        files = sample.files
        arrays, valid = [], None
        for part, local in self.reads:
            if self.layout.frames_in_file:
                path = files[0][part]
                count = self.layout.part_counts[part] or 0
                local = tuple(i + step * count for i in local)
            else:
                path = files[step][part]
            array, part_valid = read_window(
                path,
                window=window,
                indexes=local,
                nodata=self.nodata,
                expected_count=self.layout.expected_count(part),
                handles=self._handles,
            )
            arrays.append(array)
            valid = part_valid if valid is None else valid & part_valid
        assert valid is not None
        image = arrays[0] if len(arrays) == 1 else np.concatenate(arrays, axis=0)
        if self.order != tuple(range(len(self.order))):
            image = image[list(self.order)]
        return image, valid

    def read_raw(self, sample: SegmentationSample, window: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image (C, h, w) or (C, T, h, w), its valid mask (h, w) and the label (h, w) in ``window``."""
        steps = [self._read_step(sample, t, window) for t in range(self.layout.num_frames)]
        valid = steps[0][1]
        for _, step_valid in steps[1:]:
            valid = valid & step_valid
        image = np.stack([s[0] for s in steps], axis=1) if self.layout.stacked else steps[0][0]
        if sample.label is None:
            label = np.full(valid.shape, self.ignore_index, np.int64)
        else:
            label = read_label(
                sample.label,
                window=window,
                nodata=self.label_nodata,
                ignore_index=self.ignore_index,
                handles=self._handles,
            )
            if self.label_offset:
                known = label != self.ignore_index
                label[known] += self.label_offset
            self._check_labels(label, sample.label)
        return image, valid, label

    def scored(self, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
        """Pixels (h, w) of :meth:`read_raw`'s arrays whose label is a class and whose image is valid."""
        _, valid, label = arrays
        return valid & (label != self.ignore_index)

    def _check_labels(self, label: np.ndarray, path: Path) -> None:
        if self.num_classes is None:
            return
        bad = ((label < 0) | (label >= self.num_classes)) & (label != self.ignore_index)
        if bad.any():
            values = sorted({int(v) - self.label_offset for v in np.unique(label[bad])})[:10]
            raise DataError(
                f"label {path} holds values {values} outside the {self.num_classes} classes "
                f"({-self.label_offset}..{self.num_classes - 1 - self.label_offset} in the file) and the ignore "
                f"index {self.ignore_index}. Declare every class (classes / num_classes) or give the value meaning "
                "no data (label_nodata)."
            )

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: ``image`` float32 (C, H, W) or (C, T, H, W), ``mask`` (H, W), ``meta``.

        The mask is uint8 when the classes and the ignore index fit a byte, else int64 (tasks take either).
        """
        sample = self.samples[index]
        header = self.header(sample)
        window = self._window(header)
        image, valid, label = self._read(index, sample, window)
        if self.cache:
            label = label.copy()  # a view into the cached tile
        label[~valid] = self.ignore_index
        image = normalize(image, self.mean, self.std, scale=self.scale, valid=valid)
        if self.crop_size is not None:
            image, label = pad_to(image, label, self.crop_size, ignore_index=self.ignore_index)
        if self.train and self.flips:
            image, label = random_flips(image, label, self.rng)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
            "mask": torch.from_numpy(np.ascontiguousarray(label, dtype=self.mask_dtype)),
            "meta": self._meta(header, window),
        }
