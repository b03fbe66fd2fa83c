"""The Lightning data module of image classification datasets (BigEarthNet and the generic ones)."""

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
from geofm_datasets.classification_dataset import (
    ClassificationDataset,
    ClassificationSample,
    seed_classification_worker,
)

__all__ = ["ClassificationDataModule"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def _select_stat(
    values: Sequence[float] | None, what: str, indexes: Sequence[int], count: int
) -> tuple[float, ...] | None:
    """Per delivered band: ``values`` given per delivered band, or per file band (then selected)."""
    if values is None:
        return None
    values = tuple(float(v) for v in values)
    if len(values) == len(indexes):
        return values
    if len(values) == count:
        return tuple(values[i - 1] for i in indexes)
    raise DataError(
        f"{len(values)} {what} values were given for {len(indexes)} selected bands ({count} in the files): "
        "give one value per selected band (or per file band)"
    )


class ClassificationDataModule(L.LightningDataModule):
    """Classification batches ``{"image", "target", "meta"}`` from GeoTIFFs.

    ``samples`` maps each split to its :class:`ClassificationSample` s. ``file_bands`` names the bands
    in file order (of the one file of a sample, or of its band files); ``bands`` are the canonical bands
    to deliver (``None`` = all). ``multilabel`` makes targets multi-hot (``num_classes``,). ``mean`` /
    ``std`` are per delivered band (or per file band) in the units of ``x * scale``; when ``None`` they
    are computed from the training split at :meth:`setup`. ``dataset_class`` reads the samples.
    """

    def __init__(
        self,
        *,
        spec: DatasetSpec,
        samples: Mapping[str, Sequence[ClassificationSample]],
        file_bands: Sequence[str],
        classes: Sequence[str],
        multilabel: bool,
        sensor: str | None = None,
        bands: Sequence[str] | None = None,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        stats_source: str = "given",
        scale: float = 1.0,
        nodata: float | None = None,
        image_size: int | None = None,
        crop_size: int | None = None,
        flips: bool = True,
        cache: bool = False,
        pin_memory: bool = False,
        gsd: float | None = None,
        dataset_class: type[ClassificationDataset] = ClassificationDataset,
        dataset_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not samples.get("train"):
            raise DataError(f"dataset {spec.name} has no training images; check the files, labels and split lists")
        self.samples = {split: list(items) for split, items in samples.items() if items}
        self.selection = select_bands(file_bands, bands, sensor=sensor, source=f"dataset {spec.name}")
        self.file_bands = tuple(file_bands)
        self.band_names: tuple[str, ...] = self.selection.names
        self.class_names: tuple[str, ...] = tuple(classes)
        self.num_classes = len(self.class_names)
        self.multilabel = bool(multilabel)
        self.ignore_index = None
        self.task_type = "multilabel_classification" if self.multilabel else "classification"
        self.num_frames = 1
        self.splits: tuple[str, ...] = tuple(s for s in SPLITS if s in self.samples)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.scale = float(scale)
        self.nodata = nodata
        self.image_size = int(image_size) if image_size else None
        self.crop_size = int(crop_size) if crop_size else None
        self.flips = bool(flips)
        self.cache = bool(cache)
        self.pin_memory = bool(pin_memory)
        count = len(self.file_bands)
        self.mean = _select_stat(mean, "mean", self.selection.indexes, count)
        self.std = _select_stat(std, "std", self.selection.indexes, count)
        self.stats_source = stats_source if self.mean is not None and self.std is not None else ""
        self.gsd = None if gsd is None or math.isnan(gsd) else float(gsd)
        self.spec = spec
        self.dataset_class = dataset_class
        self.dataset_options = dict(dataset_options or {})
        self._datasets: dict[str, ClassificationDataset] = {}
        self._generator = torch.Generator().manual_seed(self.seed)

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-band mean and std of ``x * scale`` over the training images (nodata excluded)."""
        train = self.samples["train"]
        if all(len(s.files) == 1 for s in train):
            stats = [
                compute_band_stats(
                    [s.files[0] for s in train],
                    indexes=self.selection.indexes,
                    nodata=self.nodata,
                    scale=self.scale,
                    seed=self.seed,
                )
            ]
        else:  # one file per band: the statistics of each selected band's files
            stats = [
                compute_band_stats(
                    [s.files[i - 1] for s in train], nodata=self.nodata, scale=self.scale, seed=self.seed
                )
                for i in self.selection.indexes
            ]
        mean = tuple(v for s in stats for v in s.mean)
        std = list(v for s in stats for v in s.std)
        for i, value in enumerate(std):
            if value <= 0:
                warnings.warn(
                    f"band {self.band_names[i]} is constant over the training images; normalising it with std 1",
                    stacklevel=2,
                )
                std[i] = 1.0
        return mean, tuple(std)

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
            self._datasets[split] = self.dataset_class(
                items,
                indexes=self.selection.indexes,
                mean=self.mean,
                std=self.std,
                num_classes=self.num_classes,
                multilabel=self.multilabel,
                file_band_count=len(self.file_bands),
                scale=self.scale,
                nodata=self.nodata,
                image_size=self.image_size,
                crop_size=self.crop_size,
                train=split == "train",
                flips=self.flips,
                seed=self.seed,
                cache=self.cache,
                **self.dataset_options,
            )

    def dataset(self, split: str) -> ClassificationDataset:
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
            worker_init_fn=seed_classification_worker,
            generator=self._generator if train else None,
            pin_memory=self.pin_memory,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches (random crops and flips)."""
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        """Deterministic validation batches."""
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
