"""What every Lightning data module of file samples shares: splits, band selection, statistics, loaders, state.

:class:`SplitDataModule` holds the samples of each split, maps the run's bands onto the files' bands,
fills in missing normalisation statistics from the training split at :meth:`~SplitDataModule.setup`,
builds one dataset per split and its loader, and saves the normalisation in checkpoints. Subclasses say
how statistics are computed (:meth:`~SplitDataModule.compute_stats`) and how a split's dataset is built
(:meth:`~SplitDataModule.make_dataset`). Imports torch and Lightning: only data modules import this
module (:mod:`geofm.data` itself stays light).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from geofm.data.factory import SPLITS, DatasetOptions
from geofm.data.loaders import SplitLoaders
from geofm.data.reading import select_bands
from geofm.data.sampling import seed_worker
from geofm.errors import DataError

__all__ = ["SplitDataModule", "select_stat"]

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


class SplitDataModule(SplitLoaders, L.LightningDataModule):
    """Batches of one dataset per split, from ``samples`` (split -> samples; ``train`` is required).

    ``common`` gives the spec and the run's loader options (:class:`~geofm.data.DatasetOptions`).
    ``file_bands`` names the bands of the files in file order (``sensor`` gives codes like ``B05``
    their meaning); ``common.bands`` are the canonical bands to deliver (``None`` = all), as
    ``band_names``. ``common.mean``/``std`` are in the units of ``x * scale`` (see :meth:`given_stat`);
    when ``None`` they are computed from the training split at :meth:`setup` and kept on the module
    (``stats_source`` says where they came from). Training takes random crops of ``crop_size``, val
    and test centre crops, or whole tiles with ``eval_full_tiles``. ``gsd`` (metres) defaults to
    :meth:`default_gsd`.
    """

    task_type: str = ""
    """The task the batches are for (``segmentation``, ``classification`` ...)."""
    sample_noun: ClassVar[str] = "images"
    """What the samples are called in messages (``images``, ``chips``)."""
    missing_train_hint: ClassVar[str] = "check the images, labels and split files"
    """What to check when there are no training samples."""
    missing_split_hint: ClassVar[str] = ""
    """What to do when a split the run asks for is missing (appended to the error)."""
    collate_fn: ClassVar[Callable[[Sequence[Any]], Any] | None] = None
    """How the loaders batch samples (``None``: PyTorch's default collate)."""

    def __init__(
        self,
        *,
        common: DatasetOptions,
        samples: Mapping[str, Sequence[Any]],
        file_bands: Sequence[str],
        sensor: str | None = None,
        stats_source: str = "given",
        scale: float = 1.0,
        nodata: float | None = None,
        pin_memory: bool = False,
        eval_full_tiles: bool = False,
        gsd: float | None = None,
    ) -> None:
        super().__init__()
        spec = common.spec
        if not samples.get("train"):
            raise DataError(f"dataset {spec.name} has no training samples; {self.missing_train_hint}")
        self.spec = spec
        self.samples = {split: list(samples[split]) for split in SPLITS if samples.get(split)}
        self.splits: tuple[str, ...] = tuple(self.samples)
        self.selection = select_bands(file_bands, common.bands, sensor=sensor, source=f"dataset {spec.name}")
        self.file_bands = tuple(file_bands)
        self.band_names: tuple[str, ...] = self.selection.names
        self.class_names: tuple[str, ...] = ()
        self.ignore_index: int | None = None
        self.num_frames = 1
        self.batch_size = common.batch_size
        self.num_workers = common.num_workers
        self.seed = common.seed
        self.scale = float(scale)
        self.nodata = nodata
        self.crop_size = common.crop_size
        self.pin_memory = bool(pin_memory)
        self.eval_full_tiles = bool(eval_full_tiles)
        self.mean = self.given_stat(common.mean, "mean")
        self.std = self.given_stat(common.std, "std")
        self.stats_source = stats_source if self.mean is not None and self.std is not None else ""
        if gsd is None:
            gsd = self.default_gsd()
        self.gsd = None if gsd is None or math.isnan(gsd) else float(gsd)
        self._datasets: dict[str, Dataset] = {}
        self._generator = torch.Generator().manual_seed(self.seed)

    def given_stat(self, values: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
        """A given ``mean`` or ``std`` per delivered band: given per delivered band, or per file band."""
        return select_stat(values, what, self.selection.indexes, len(self.file_bands))

    def default_gsd(self) -> float | None:
        """The ground sample distance when none is given (default: unknown)."""
        return None

    # --- statistics and datasets (subclasses) ------------------------------------------------------

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per delivered band: mean and std of ``x * scale`` over the training samples (nodata excluded)."""
        raise NotImplementedError

    def make_dataset(self, split: str, samples: Sequence[Any]) -> Dataset:
        """The dataset of ``split`` (called by :meth:`setup`, once the statistics are known)."""
        raise NotImplementedError

    def split_crop(self, split: str) -> int | None:
        """The crop size of ``split``'s samples: ``crop_size``, or whole tiles for val/test with ``eval_full_tiles``."""
        return self.crop_size if split == "train" or not self.eval_full_tiles else None

    def sampling_options(self, split: str) -> dict[str, Any]:
        """The keywords of :class:`~geofm.data.sampling.SampledDataset` for ``split``'s dataset."""
        return {
            "indexes": self.selection.indexes,
            "mean": self.mean,
            "std": self.std,
            "file_band_count": len(self.file_bands),
            "scale": self.scale,
            "nodata": self.nodata,
            "crop_size": self.split_crop(split),
            "train": split == "train",
            "seed": self.seed,
        }

    def nonzero_std(self, std: Sequence[float]) -> tuple[float, ...]:
        """``std`` with bands constant over the training samples (std 0) normalised with std 1, with a warning."""
        fixed = list(std)
        for i, value in enumerate(fixed):
            if not value > 0:
                warnings.warn(
                    f"band {self.band_names[i]} is constant over the training {self.sample_noun}; "
                    "normalising it with std 1",
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
            self.stats_source = f"computed from {len(self.samples['train'])} training {self.sample_noun}"
            log.info("dataset %s: mean %s std %s (%s)", self.spec.name, self.mean, self.std, self.stats_source)
        if self._datasets:
            return
        datasets = {split: self.make_dataset(split, items) for split, items in self.samples.items()}
        self.check_datasets(datasets)
        self._datasets = datasets

    def check_datasets(self, datasets: Mapping[str, Dataset]) -> None:
        """Refuse split datasets that cannot train or evaluate (default: accept); raise :class:`DataError`."""

    def dataset(self, split: str) -> Dataset:
        """The dataset of ``split`` (after :meth:`setup`); a split the data lacks raises :class:`DataError`."""
        if split not in self.samples:
            hint = f"; {self.missing_split_hint}" if self.missing_split_hint else ""
            raise DataError(f"dataset {self.spec.name} has no {split} split (it has {', '.join(self.splits)}){hint}")
        if not self._datasets:
            self.setup()
        return self._datasets[split]

    def split_loader(self, split: str) -> DataLoader:
        """Batches of ``split``: shuffled (seeded by the run's seed) for ``train``, in order otherwise."""
        train = split == "train"
        return DataLoader(
            self.dataset(split),
            batch_size=self.batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=type(self).collate_fn,
            worker_init_fn=seed_worker,
            generator=self._generator if train else None,
            pin_memory=self.pin_memory,
        )

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
