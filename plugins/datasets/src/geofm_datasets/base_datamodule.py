"""What the Lightning data modules of this plugin share: splits, band selection, statistics, loaders, state.

:class:`GeofmDataModule` holds the samples of each split, maps the run's bands onto the files' bands,
fills in missing normalisation statistics from the training split at :meth:`~GeofmDataModule.setup`,
builds one dataset per split and its loader, and saves the normalisation in checkpoints. Subclasses
say how statistics are computed (:meth:`~GeofmDataModule.compute_stats`) and how a split's dataset is
built (:meth:`~GeofmDataModule.make_dataset`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader

from geofm.data import select_bands
from geofm.errors import DataError
from geofm.specs import DatasetSpec
from geofm_datasets.base_dataset import GeofmDataset, WindowedDataset, seed_worker
from geofm_datasets.options import SPLITS

__all__ = ["GeofmDataModule", "select_stat"]

log = logging.getLogger(__name__)


def select_stat(
    values: Sequence[float] | None, what: str, indexes: Sequence[int], file_count: int
) -> tuple[float, ...] | None:
    """Per delivered band: ``values`` given per delivered band, or per file band (then selected)."""
    if values is None:
        return None
    items = tuple(float(v) for v in values)
    if len(items) == len(indexes):
        return items
    if len(items) == file_count:
        return tuple(items[i - 1] for i in indexes)
    raise DataError(
        f"{len(items)} {what} values were given for {len(indexes)} selected bands ({file_count} in the files): "
        "give one value per selected band (or per file band)"
    )


class GeofmDataModule(L.LightningDataModule):
    """Batches of one dataset per split, from ``samples`` (split -> samples; ``train`` is required).

    ``file_bands`` names the bands of the files in file order (``sensor`` gives codes like ``B05``
    their meaning); ``bands`` are the canonical bands to deliver (``None`` = all), as ``band_names``.
    ``mean``/``std`` are per delivered band (or per file band) in the units of ``x * scale``; when
    ``None`` they are computed from the training split at :meth:`setup` and kept on the module
    (``stats_source`` says where they came from). Training takes random crops of ``crop_size`` (flipped
    with ``flips``), val and test centre crops, or whole tiles with ``eval_full_tiles``. ``gsd``
    (metres) defaults to :meth:`default_gsd`.
    """

    task_type: str = ""
    """The task the batches are for (``segmentation``, ``classification`` ...)."""
    missing_train_hint: ClassVar[str] = "check the images, labels and split files"
    """What to check when there are no training samples."""

    def __init__(
        self,
        *,
        spec: DatasetSpec,
        samples: Mapping[str, Sequence[Any]],
        file_bands: Sequence[str],
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
        crop_size: int | None = None,
        flips: bool = True,
        cache: bool = False,
        pin_memory: bool = False,
        eval_full_tiles: bool = False,
        gsd: float | None = None,
    ) -> None:
        super().__init__()
        if not samples.get("train"):
            raise DataError(f"dataset {spec.name} has no training samples; {self.missing_train_hint}")
        self.spec = spec
        self.samples = {split: list(items) for split, items in samples.items() if items}
        self.selection = select_bands(file_bands, bands, sensor=sensor, source=f"dataset {spec.name}")
        self.file_bands = tuple(file_bands)
        self.band_names: tuple[str, ...] = self.selection.names
        self.class_names: tuple[str, ...] = ()
        self.ignore_index: int | None = None
        self.num_frames = 1
        self.splits: tuple[str, ...] = tuple(s for s in SPLITS if s in self.samples)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.seed = int(seed)
        self.scale = float(scale)
        self.nodata = nodata
        self.crop_size = int(crop_size) if crop_size else None
        self.flips = bool(flips)
        self.cache = bool(cache)
        self.pin_memory = bool(pin_memory)
        self.eval_full_tiles = bool(eval_full_tiles)
        count = len(self.file_bands)
        self.mean = select_stat(mean, "mean", self.selection.indexes, count)
        self.std = select_stat(std, "std", self.selection.indexes, count)
        self.stats_source = stats_source if self.mean is not None and self.std is not None else ""
        if gsd is None:
            gsd = self.default_gsd()
        self.gsd = None if gsd is None or math.isnan(gsd) else float(gsd)
        self._datasets: dict[str, GeofmDataset] = {}
        self._generator = torch.Generator().manual_seed(self.seed)

    def default_gsd(self) -> float | None:
        """The ground sample distance when none is given (default: unknown)."""
        return None

    # --- statistics and datasets (subclasses) ------------------------------------------------------

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per delivered band: mean and std of ``x * scale`` over the training images (nodata excluded)."""
        raise NotImplementedError

    def make_dataset(self, split: str, samples: Sequence[Any]) -> GeofmDataset:
        """The dataset of ``split`` (called by :meth:`setup`, once the statistics are known)."""
        raise NotImplementedError

    def split_crop(self, split: str) -> int | None:
        """The crop size of ``split``'s samples: ``crop_size``, or whole tiles for val/test with ``eval_full_tiles``."""
        return self.crop_size if split == "train" or not self.eval_full_tiles else None

    def nonzero_std(self, std: Sequence[float]) -> tuple[float, ...]:
        """``std`` with bands constant over the training images (std 0) normalised with std 1, with a warning."""
        fixed = list(std)
        for i, value in enumerate(fixed):
            if not value > 0:
                warnings.warn(
                    f"band {self.band_names[i]} is constant over the training images; normalising it with std 1",
                    stacklevel=3,
                )
                fixed[i] = 1.0
        return tuple(fixed)

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
        datasets = {split: self.make_dataset(split, items) for split, items in self.samples.items()}
        self.check_valid_pixels(datasets)
        self._datasets = datasets

    def no_valid_pixel_reason(self) -> str | None:
        """Why a split can have no pixel to score, and what to check (``None``: the task scores no pixels)."""
        return None

    def check_valid_pixels(self, datasets: Mapping[str, GeofmDataset]) -> None:
        """Refuse a train or val split without one pixel to score, whatever mean/std say.

        Such a split trains with loss 0 and evaluates to NaN, so it is a :class:`DataError` naming the
        split, the folder of its files and :meth:`no_valid_pixel_reason`.
        """
        reason = self.no_valid_pixel_reason()
        if reason is None:
            return
        for split in ("train", "val"):
            dataset = datasets.get(split)
            if isinstance(dataset, WindowedDataset) and not dataset.has_scored_pixel():
                raise DataError(
                    f"the {split} split of dataset {self.spec.name} under {self.split_root(split)} has no valid "
                    f"pixel: {reason}"
                )

    def split_root(self, split: str) -> Path:
        """The deepest folder holding every file of ``split``'s samples (where its data lives)."""
        folders = {
            value.parent
            for sample in self.samples.get(split, ())
            if dataclasses.is_dataclass(sample)
            for value in (getattr(sample, f.name) for f in dataclasses.fields(sample))
            if isinstance(value, Path)
        }
        if not folders:
            return Path(".")
        try:
            return Path(os.path.commonpath(sorted(folders)))
        except ValueError:  # relative and absolute paths mixed
            return min(folders)

    def dataset(self, split: str) -> GeofmDataset:
        """The dataset of ``split`` (after :meth:`setup`); a split the data lacks raises :class:`DataError`."""
        if split not in self.samples:
            raise DataError(
                f"dataset {self.spec.name} has no {split} split (it has {', '.join(self.splits)}); "
                "give split files or a test_fraction / val_fraction"
            )
        if not self._datasets:
            self.setup()
        return self._datasets[split]

    # --- loaders -----------------------------------------------------------------------------------

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

    # --- checkpoints -------------------------------------------------------------------------------

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
