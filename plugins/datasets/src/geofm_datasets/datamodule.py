"""The Lightning data module of GeoTIFF segmentation datasets (the demo and the generic one)."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from geofm.data import BandStats, compute_band_stats, raster_meta, select_bands
from geofm.errors import DataError
from geofm.specs import DatasetSpec
from geofm_datasets.dataset import BandLayout, GeoTiffSegmentationDataset, SegmentationSample, seed_worker

__all__ = ["GeoTiffSegmentationDataModule"]

log = logging.getLogger(__name__)


def _select_stat(
    values: Sequence[float] | None, what: str, indexes: Sequence[int], file_count: int
) -> tuple[float, ...] | None:
    """Per delivered band: ``values`` given per delivered band, or per file band (then selected)."""
    if values is None:
        return None
    values = tuple(float(v) for v in values)
    if len(values) == len(indexes):
        return values
    if len(values) == file_count:
        return tuple(values[i - 1] for i in indexes)
    raise DataError(
        f"{len(values)} {what} values were given for {len(indexes)} selected bands ({file_count} in the files): "
        "give one value per selected band (or per file band)"
    )


def _pool(stats: Sequence[BandStats]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std per band of several :class:`BandStats` over the same bands (e.g. one per time step)."""
    means, stds, counts = (np.array([getattr(s, key) for s in stats], np.float64) for key in ("mean", "std", "count"))
    total = counts.sum(axis=0)
    mean = (means * counts).sum(axis=0) / total
    variance = (counts * (stds**2 + (means - mean) ** 2)).sum(axis=0) / total
    return tuple(float(v) for v in mean), tuple(float(v) for v in np.sqrt(variance))


class GeoTiffSegmentationDataModule(L.LightningDataModule):
    """Segmentation batches ``{"image", "mask", "meta"}`` from paired image and label GeoTIFFs.

    ``samples`` maps each split (``train``, ``val``, ``test``) to its samples. ``file_bands`` names the
    image bands of one time step in file order, over the stacked files of ``layout`` (``sensor`` gives
    codes like ``B05`` their meaning); ``bands`` are the canonical bands to deliver, in order (``None`` =
    all). Time series (``layout.num_frames`` T > 1) give images (C, T, H, W) and ``num_frames`` T;
    ``band_names`` are the C bands of each step. ``mean``/``std`` are per delivered band (or per file
    band) in the units of ``x * scale``; when ``None`` they are computed from the training split at
    :meth:`setup` (nodata excluded, pooled over time steps) and stored on the module.
    """

    def __init__(
        self,
        *,
        spec: DatasetSpec,
        samples: Mapping[str, Sequence[SegmentationSample]],
        file_bands: Sequence[str],
        sensor: str | None = None,
        bands: Sequence[str] | None = None,
        classes: Sequence[str],
        ignore_index: int = 255,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        scale: float = 1.0,
        nodata: float | None = None,
        label_nodata: float | None = None,
        label_offset: int = 0,
        layout: BandLayout | None = None,
        crop_size: int | None = None,
        flips: bool = True,
        cache: bool = False,
        pin_memory: bool = False,
        eval_full_tiles: bool = False,
        gsd: float | None = None,
    ) -> None:
        super().__init__()
        if not samples.get("train"):
            raise DataError(f"dataset {spec.name} has no training samples; check the images, labels and split files")
        self.samples = {split: list(items) for split, items in samples.items() if items}
        self.selection = select_bands(file_bands, bands, sensor=sensor, source=f"dataset {spec.name}")
        self.file_bands = tuple(file_bands)
        self.band_names: tuple[str, ...] = self.selection.names
        self.class_names: tuple[str, ...] = tuple(classes)
        self.num_classes = len(self.class_names)
        self.ignore_index = int(ignore_index)
        self.task_type = "segmentation"
        self.layout = layout if layout is not None else BandLayout((len(self.file_bands),))
        declared = self.layout.part_counts
        if None not in declared and sum(c or 0 for c in declared) != len(self.file_bands):
            raise DataError(
                f"dataset {spec.name}: {len(self.file_bands)} band names for files of "
                f"{' + '.join(str(c) for c in declared)} bands per time step; name every band of each file"
            )
        self.num_frames = self.layout.num_frames
        self.splits: tuple[str, ...] = tuple(s for s in ("train", "val", "test") if s in self.samples)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.scale = float(scale)
        self.nodata = nodata
        self.label_nodata = label_nodata
        self.label_offset = int(label_offset)
        self.crop_size = int(crop_size) if crop_size else None
        self.flips = bool(flips)
        self.cache = bool(cache)
        self.pin_memory = bool(pin_memory)
        self.eval_full_tiles = bool(eval_full_tiles)
        count = len(self.file_bands)
        self.mean = _select_stat(mean, "mean", self.selection.indexes, count)
        self.std = _select_stat(std, "std", self.selection.indexes, count)
        self.stats_source = "given" if self.mean is not None and self.std is not None else ""
        if gsd is None:
            gsd = raster_meta(self.samples["train"][0].image).gsd
        self.gsd = None if gsd is None or math.isnan(gsd) else float(gsd)
        self.spec = spec
        self._datasets: dict[str, GeoTiffSegmentationDataset] = {}
        self._generator = torch.Generator().manual_seed(self.seed)

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
        std = [stds[i] for i in order]
        for i, value in enumerate(std):
            if not value > 0:
                warnings.warn(
                    f"band {self.band_names[i]} is constant over the training images; normalising it with std 1",
                    stacklevel=2,
                )
                std[i] = 1.0
        return tuple(means[i] for i in order), tuple(std)

    def setup(self, stage: str | None = None) -> None:
        """Compute missing mean/std from the training split, then build the split datasets."""
        if self.mean is None or self.std is None:
            mean, std = self.compute_stats()
            self.mean = self.mean or mean
            self.std = self.std or std
            self.stats_source = f"computed from {len(self.samples['train'])} training images"
            log.info("dataset %s: mean %s std %s (%s)", self.spec.name, self.mean, self.std, self.stats_source)
        if self._datasets:
            return
        for split, items in self.samples.items():
            train = split == "train"
            crop = self.crop_size if train or not self.eval_full_tiles else None
            self._datasets[split] = GeoTiffSegmentationDataset(
                items,
                indexes=self.selection.indexes,
                mean=self.mean,
                std=self.std,
                file_band_count=len(self.file_bands),
                layout=self.layout,
                scale=self.scale,
                nodata=self.nodata,
                label_nodata=self.label_nodata,
                label_offset=self.label_offset,
                ignore_index=self.ignore_index,
                num_classes=self.num_classes,
                crop_size=crop,
                train=train,
                flips=self.flips,
                seed=self.seed,
                cache=self.cache,
            )

    def dataset(self, split: str) -> GeoTiffSegmentationDataset:
        """The dataset of ``split`` (after :meth:`setup`)."""
        if split not in self.samples:
            raise DataError(
                f"dataset {self.spec.name} has no {split} split (it has {', '.join(self.splits)}); "
                "give split files or a test_fraction / val_fraction"
            )
        if not self._datasets:
            self.setup()
        return self._datasets[split]

    def _loader(self, split: str) -> DataLoader:
        train = split == "train"
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            worker_init_fn=seed_worker,
            generator=self._generator if train else None,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (random crops and flips)."""
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        """Deterministic validation batches (centre crops, or whole tiles)."""
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        """Deterministic test batches; a dataset without a test split raises :class:`DataError`."""
        return self._loader("test")

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the normalisation and the delivered bands."""
        return {"mean": self.mean, "std": self.std, "band_names": self.band_names, "scale": self.scale}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the normalisation saved by :meth:`state_dict`."""
        if state_dict.get("mean") is not None:
            self.mean = tuple(state_dict["mean"])
            self.std = tuple(state_dict["std"])
            self.stats_source = "checkpoint"
            self._datasets = {}
