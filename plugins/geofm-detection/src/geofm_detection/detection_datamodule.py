"""The Lightning data module of detection datasets: splits, band selection, statistics, loaders.

Batches are ``{"image", "boxes", "labels", ["masks"], "meta"}`` (:func:`~geofm_detection.detection_dataset.
collate_detection`): the generic ``geotiff_detection``, the generated ``demo_detection`` and the named
datasets all build this module from their samples.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from geofm.data import compute_band_stats, select_bands
from geofm.errors import DataError
from geofm.specs import DatasetSpec
from geofm_detection.detection_dataset import (
    DetectionDataset,
    DetectionSample,
    collate_detection,
    quiet_georeferencing,
    seed_worker,
)

__all__ = ["SPLITS", "DetectionDataModule"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
"""The splits a data module delivers, in order."""


class DetectionDataModule(L.LightningDataModule):
    """Detection batches of chips per split (``samples``: split -> :class:`DetectionSample`; ``train`` required).

    ``file_bands`` names the bands of the files in file order (``sensor`` gives codes like ``B05`` their
    meaning); ``bands`` are the canonical bands to deliver (``None``: all), as ``band_names``.
    ``class_names`` are the K classes (labels 0..K-1, no background class); ``ignore_index`` is ``None``
    and ``num_frames`` 1. ``mean``/``std`` are per delivered band in the units of ``x * scale``; when
    ``None`` they are computed from the training chips at :meth:`setup` (nodata excluded) and kept.
    Training takes random crops of ``crop_size`` (whole chips when ``None``) and random flips with
    ``augment``; val and test deliver whole chips (a batch is padded to its largest chip). ``with_masks``
    adds instance masks (objects without an outline get their box filled). ``gsd`` (metres) is used
    for chips whose files tell none.
    """

    def __init__(
        self,
        *,
        spec: DatasetSpec,
        samples: Mapping[str, Sequence[DetectionSample]],
        class_names: Sequence[str],
        file_bands: Sequence[str],
        sensor: str | None = None,
        bands: Sequence[str] | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        scale: float = 1.0,
        nodata: float | None = None,
        crop_size: int | None = None,
        augment: bool = True,
        with_masks: bool = False,
        gsd: float | None = None,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if not samples.get("train"):
            raise DataError(f"dataset {spec.name} has no training chips; check its train/ folder or id lists")
        self.spec = spec
        self.samples = {split: list(samples[split]) for split in SPLITS if samples.get(split)}
        self.splits: tuple[str, ...] = tuple(self.samples)
        self.selection = select_bands(file_bands, bands, sensor=sensor, source=f"dataset {spec.name}")
        self.file_bands = tuple(file_bands)
        self.band_names: tuple[str, ...] = self.selection.names
        self.class_names: tuple[str, ...] = tuple(class_names)
        self.num_classes = len(self.class_names)
        self.ignore_index: int | None = None
        self.num_frames = 1
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.scale = float(scale)
        self.nodata = nodata
        self.crop_size = int(crop_size) if crop_size else None
        self.augment = bool(augment)
        self.with_masks = bool(with_masks)
        self.gsd = None if gsd is None or math.isnan(gsd) else float(gsd)
        self.pin_memory = bool(pin_memory)
        count = len(self.selection.indexes)
        for what, values in (("mean", mean), ("std", std)):
            if values is not None and len(values) != count:
                raise DataError(
                    f"{len(values)} {what} values were given for the {count} bands {', '.join(self.band_names)} of "
                    f"dataset {spec.name}; give one per band"
                )
        self.mean: tuple[float, ...] | None = None if mean is None else tuple(float(v) for v in mean)
        self.std: tuple[float, ...] | None = None if std is None else tuple(float(v) for v in std)
        self.stats_source = "given" if self.mean is not None and self.std is not None else ""
        self._datasets: dict[str, DetectionDataset] = {}
        self._generator = torch.Generator().manual_seed(self.seed)

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per delivered band: mean and std of ``x * scale`` over the training chips (nodata excluded).

        A band constant over the training chips (std 0) is normalised with std 1, with a warning.
        """
        paths = [s.image for s in self.samples["train"]]
        with quiet_georeferencing():
            stats = compute_band_stats(paths, indexes=self.selection.indexes, nodata=self.nodata, scale=self.scale)
        std = list(stats.std)
        for i, value in enumerate(std):
            if not value > 0:
                warnings.warn(
                    f"band {self.band_names[i]} is constant over the training chips; normalising it with std 1",
                    stacklevel=2,
                )
                std[i] = 1.0
        return tuple(stats.mean), tuple(std)

    def setup(self, stage: str | None = None) -> None:
        """Compute missing mean/std from the training split, then build the split datasets."""
        if self.mean is None or self.std is None:
            mean, std = self.compute_stats()
            self.mean = self.mean or mean
            self.std = self.std or std
            self.stats_source = f"computed from {len(self.samples['train'])} training chips"
            log.info("dataset %s: mean %s std %s (%s)", self.spec.name, self.mean, self.std, self.stats_source)
        if self._datasets:
            return
        assert self.mean is not None and self.std is not None
        self._datasets = {
            split: DetectionDataset(
                items,
                indexes=self.selection.indexes,
                mean=self.mean,
                std=self.std,
                file_band_count=len(self.file_bands),
                scale=self.scale,
                nodata=self.nodata,
                crop_size=self.crop_size,
                train=split == "train",
                augment=self.augment,
                with_masks=self.with_masks,
                gsd=self.gsd,
                seed=self.seed,
            )
            for split, items in self.samples.items()
        }

    def dataset(self, split: str) -> DetectionDataset:
        """The dataset of ``split`` (set up when needed); a split the data lacks raises :class:`DataError`."""
        if split not in self.samples:
            raise DataError(f"dataset {self.spec.name} has no {split} split (it has {', '.join(self.splits)})")
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
            collate_fn=collate_detection,
            worker_init_fn=seed_worker,
            generator=self._generator if train else None,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (random crops and flips)."""
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        """Validation batches of whole chips, in order."""
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        """Test batches of whole chips; a dataset without a test split raises :class:`DataError`."""
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
