"""The torch ``Dataset`` of detection chips and the collate function of detection batches.

A sample is one raster chip (GeoTIFF, JPEG ...: what rasterio reads) and its objects, already in pixel
coordinates (:class:`~geofm_detection.annotations.ChipAnnotations`). Reading selects and normalises the
bands (nodata pixels become 0), takes a random crop when training with ``crop_size``, renders instance
masks when asked, and flips image, boxes and masks together when training with ``augment``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from geofm.data import RasterHandles, center_latlon, gsd_metres, normalize, read_window, timestamp
from geofm.data.sampling import SampledDataset, batch_meta
from geofm.errors import DataError
from geofm_detection.annotations import ChipAnnotations
from geofm_detection.transforms import crop_boxes, random_flips, render_masks

__all__ = [
    "ChipHeader",
    "DetectionDataset",
    "DetectionSample",
    "collate_detection",
    "quiet_georeferencing",
]


@dataclass(frozen=True)
class DetectionSample:
    """One chip: its ``id``, ``image`` file and ``annotations`` (pixels of the whole chip)."""

    id: str
    image: Path
    annotations: ChipAnnotations


@dataclass(frozen=True)
class ChipHeader:
    """Size, georeferencing, acquisition time (NaN if unknown) and ground sample distance of a chip."""

    height: int
    width: int
    crs: Any
    transform: Any
    timestamp: float
    gsd: float


@contextmanager
def quiet_georeferencing() -> Iterator[None]:
    """Silence rasterio's warning about files without georeferencing (JPEG chips are read as pixels)."""
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


class DetectionDataset(SampledDataset[DetectionSample]):
    """Detection samples ``{"image", "boxes", "labels", ["masks"], "meta"}`` of chips.

    The bands, normalisation, crops and random stream are core's
    :class:`~geofm.data.sampling.SampledDataset`'s; pixels that are ``nodata`` (``None``: each file's
    own) in any band become 0. Training (``train``) takes random crops of ``crop_size`` (whole chips
    when ``None`` or smaller) and, with ``augment``, random flips. ``with_masks`` adds uint8 (N, H, W)
    instance masks. ``gsd`` (metres) is the ground sample distance of chips whose files tell none (e.g.
    JPEGs).
    """

    def __init__(
        self,
        samples: Sequence[DetectionSample],
        *,
        augment: bool = True,
        with_masks: bool = False,
        gsd: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples, **options)
        self.augment = bool(augment)
        self.with_masks = bool(with_masks)
        self.gsd = math.nan if gsd is None else float(gsd)
        self._headers: dict[int, ChipHeader] = {}
        self._handles = RasterHandles()

    def header(self, index: int) -> ChipHeader:
        """The header of chip ``index`` (read once, then kept)."""
        cached = self._headers.get(index)
        if cached is None:
            path = self.samples[index].image
            with quiet_georeferencing():
                src = self._handles.reader(path)
                crs, transform, tags = src.crs, src.transform, dict(src.tags())
                height, width = src.height, src.width
            lat, _ = center_latlon(crs, transform, height, width)
            gsd = gsd_metres(crs, transform, lat)
            cached = ChipHeader(
                height=height,
                width=width,
                crs=crs,
                transform=transform,
                timestamp=timestamp(path, tags),
                gsd=self.gsd if math.isnan(gsd) else gsd,
            )
            self._headers[index] = cached
        return cached

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One chip: ``image`` float32 (C, H, W), ``boxes`` float32 (N, 4), ``labels`` int64 (N,), ``meta``.

        With ``with_masks`` also ``masks`` uint8 (N, H, W). Boxes are ``x1, y1, x2, y2`` in pixels of the
        delivered image (the crop, when cropping).
        """
        from rasterio.windows import Window

        sample = self.samples[index]
        header = self.header(index)
        row, col, height, width = self.crop_window(header.height, header.width)
        with quiet_georeferencing():
            raw, valid = read_window(
                sample.image,
                window=Window(col, row, width, height),
                indexes=self.indexes,
                nodata=self.nodata,
                expected_count=self.file_band_count,
                handles=self._handles,
            )
        image = normalize(raw, self.mean, self.std, scale=self.scale, valid=valid)
        annotations = sample.annotations
        boxes, keep = crop_boxes(annotations.boxes, row, col, height, width)
        boxes, labels = boxes[keep], annotations.labels[keep]
        masks = None
        if self.with_masks:
            outlines = [o for o, kept in zip(annotations.outlines, keep, strict=True) if kept]
            masks = render_masks(
                outlines, boxes, window=(row, col, height, width), chip_size=(header.height, header.width)
            )
        if self.train and self.augment:
            image, boxes, masks = random_flips(image, boxes, masks, self.rng)
        lat, lon = center_latlon(header.crs, header.transform, height, width, row_off=row, col_off=col)
        item: dict[str, Any] = {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
            "boxes": torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32)).reshape(-1, 4),
            "labels": torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64)),
            "meta": batch_meta((header.timestamp,), (lat, lon), header.gsd),
        }
        if masks is not None:
            item["masks"] = torch.from_numpy(np.ascontiguousarray(masks, dtype=np.uint8))
        return item


def collate_detection(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A batch of detection samples: images stacked, targets as one tensor per image.

    ``image`` float32 (B, C, H, W), chips of different sizes padded with 0 at the bottom and right to
    the largest (box coordinates are unchanged); ``boxes`` a list of B float32 (N_i, 4), ``labels`` a
    list of B int64 (N_i,), ``masks`` (when the samples have them) a list of B uint8 (N_i, H, W) padded
    like the images; ``image_sizes`` int64 (B, 2), each chip's (height, width) before padding, which the
    detector uses to clip boxes and paste masks; ``meta`` collated as usual (``timestamps`` (B, 1),
    ``center_latlon`` (B, 2), ``gsd`` (B,)).
    """
    if not samples:
        raise DataError("cannot collate an empty batch of detection samples")
    images = [s["image"] for s in samples]
    height = max(int(i.shape[-2]) for i in images)
    width = max(int(i.shape[-1]) for i in images)
    batch_image = images[0].new_zeros((len(images), int(images[0].shape[0]), height, width))
    for i, image in enumerate(images):
        batch_image[i, :, : image.shape[-2], : image.shape[-1]] = image
    batch: dict[str, Any] = {
        "image": batch_image,
        "boxes": [s["boxes"] for s in samples],
        "labels": [s["labels"] for s in samples],
        "image_sizes": torch.tensor([tuple(int(d) for d in i.shape[-2:]) for i in images], dtype=torch.int64),
        "meta": default_collate([s["meta"] for s in samples]),
    }
    with_masks = ["masks" in s for s in samples]
    if any(with_masks):
        if not all(with_masks):
            raise DataError("some samples of a batch have instance masks and some do not; a batch needs all or none")
        masks = []
        for s in samples:
            mask = s["masks"]
            if tuple(mask.shape[-2:]) != (height, width):
                padded = mask.new_zeros((int(mask.shape[0]), height, width))
                padded[:, : mask.shape[-2], : mask.shape[-1]] = mask
                mask = padded
            masks.append(mask)
        batch["masks"] = masks
    return batch
