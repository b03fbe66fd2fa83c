"""The Lightning data module of GeoTIFF segmentation datasets (the demo, the generic and the named ones)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from geofm.data import BandStats, compute_band_stats
from geofm.errors import DataError
from geofm_datasets.base_datamodule import ImageFileDataModule, no_valid_pixels_message
from geofm_datasets.segmentation.dataset import BandLayout, GeoTiffSegmentationDataset, SegmentationSample

__all__ = ["GeoTiffSegmentationDataModule"]


def _pool(stats: Sequence[BandStats]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std per band of several :class:`BandStats` over the same bands (e.g. one per time step)."""
    means, stds, counts = (np.array([getattr(s, key) for s in stats], np.float64) for key in ("mean", "std", "count"))
    total = counts.sum(axis=0)
    mean = (means * counts).sum(axis=0) / total
    variance = (counts * (stds**2 + (means - mean) ** 2)).sum(axis=0) / total
    return tuple(float(v) for v in mean), tuple(float(v) for v in np.sqrt(variance))


class GeoTiffSegmentationDataModule(ImageFileDataModule):
    """Segmentation batches ``{"image", "mask", "meta"}`` from paired image and label GeoTIFFs.

    ``samples`` maps each split (``train``, ``val``, ``test``) to its samples. ``file_bands`` names the
    image bands of one time step in file order, over the stacked files of ``layout`` (``sensor`` gives
    codes like ``B05`` their meaning); ``bands`` are the canonical bands to deliver, in order (``None`` =
    all). Time series (``layout.num_frames`` T > 1) give images (C, T, H, W) and ``num_frames`` T;
    ``band_names`` are the C bands of each step. Label ``label_nodata`` pixels and nodata image pixels
    get ``ignore_index``; ``label_offset`` is added to the other labels. Missing ``mean``/``std`` are
    computed from the training split at :meth:`setup` (nodata excluded, pooled over time steps). The
    other keywords are :class:`~geofm_datasets.base_datamodule.GeofmDataModule`'s.
    """

    task_type = "segmentation"

    def __init__(
        self,
        *,
        samples: Mapping[str, Sequence[SegmentationSample]],
        classes: Sequence[str],
        ignore_index: int = 255,
        label_nodata: float | None = None,
        label_offset: int = 0,
        layout: BandLayout | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples=samples, **options)
        self.class_names = tuple(classes)
        self.num_classes = len(self.class_names)
        self.ignore_index = int(ignore_index)
        self.layout = layout if layout is not None else BandLayout((len(self.file_bands),))
        declared = self.layout.part_counts
        if None not in declared and sum(c or 0 for c in declared) != len(self.file_bands):
            raise DataError(
                f"dataset {self.spec.name}: {len(self.file_bands)} band names for files of "
                f"{' + '.join(str(c) for c in declared)} bands per time step; name every band of each file"
            )
        self.num_frames = self.layout.num_frames
        self.label_nodata = label_nodata
        self.label_offset = int(label_offset)

    def no_valid_pixel_reason(self) -> str | None:
        """What a split without valid pixel means here: every mask pixel is the ignore index or nodata."""
        invalid, options = f"every mask pixel is the ignore index {self.ignore_index}", "ignore_index / label_nodata"
        return no_valid_pixels_message(invalid, "masks", "label_nodata", self.label_nodata, options)

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-band mean and std of ``x * scale`` over the training images (nodata excluded).

        Each stacked file contributes its own bands; time steps are pooled, so a band has one mean and
        std whatever the step.
        """
        layout, train = self.layout, self.samples["train"]
        reads, order = layout.locate(self.selection.indexes)
        means: list[float] = []
        stds: list[float] = []
        for part, local in reads:
            if layout.frames_in_file:
                count, n = layout.part_counts[part] or 0, len(local)
                stats = compute_band_stats(
                    [s.files[0][part] for s in train],
                    indexes=[i + t * count for t in range(layout.num_frames) for i in local],
                    nodata=self.nodata,
                    scale=self.scale,
                    seed=self.seed,
                )
                steps = [
                    BandStats(*(getattr(stats, k)[t * n : (t + 1) * n] for k in ("mean", "std", "count")), 0)
                    for t in range(layout.num_frames)
                ]
                mean, std = _pool(steps)
            else:
                files = [group[part] for s in train for group in s.files]
                stats = compute_band_stats(files, indexes=local, nodata=self.nodata, scale=self.scale, seed=self.seed)
                mean, std = stats.mean, stats.std
            means.extend(mean)
            stds.extend(std)
        return tuple(means[i] for i in order), self.nonzero_std([stds[i] for i in order])

    dataset_class = GeoTiffSegmentationDataset

    dataset_keywords = ("layout", "label_nodata", "label_offset", "ignore_index", "num_classes")
