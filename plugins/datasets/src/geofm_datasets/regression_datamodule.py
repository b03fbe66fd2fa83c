"""The Lightning data module of pixel-wise regression data (the generic GeoTIFF one and the demo)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from geofm.data import compute_band_stats, raster_meta, select_bands
from geofm.errors import DataError
from geofm.specs import DatasetSpec
from geofm_datasets.regression_dataset import GeoTiffRegressionDataset, RegressionSample, seed_worker

__all__ = ["GeoTiffRegressionDataModule"]

log = logging.getLogger(__name__)


def _per_selected_band(
    values: Sequence[float] | None, what: str, indexes: Sequence[int], file_count: int
) -> tuple[float, ...] | None:
    """Image statistics per delivered band: given so, or given per file band and then selected."""
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


def _normalisation(
    value: float | Sequence[float] | str, computed: tuple[float, ...] | None, count: int, what: str
) -> tuple[float, ...]:
    """One ``target_offset`` / ``target_scale`` value per target band: given, or ``"auto"`` = ``computed``."""
    if isinstance(value, str):
        if value != "auto" or computed is None:
            raise DataError(f"{what}={value!r}: give a number, one number per target band, or 'auto'")
        return computed
    items = (float(value),) if isinstance(value, int | float) else tuple(float(v) for v in value)
    if len(items) not in (1, count):
        raise DataError(f"{len(items)} {what} values for {count} target bands: give one value, or one per band")
    return items if len(items) == count else items * count


class GeoTiffRegressionDataModule(L.LightningDataModule):
    """Regression batches ``{"image", "target", "valid", "meta"}`` from paired image and target GeoTIFFs.

    ``samples`` maps each split to its samples. ``file_bands`` names the image bands in file order;
    ``bands`` are the canonical bands to deliver (``None`` = all). ``mean``/``std`` are per delivered
    band in the units of ``x * scale`` (computed from the training images when ``None``).
    ``target_indexes`` picks the target bands (``None`` = all ``target_count``); ``target_offset`` and
    ``target_scale`` (numbers, one per target band, or ``"auto"`` = the training targets' mean and std)
    normalise the targets. ``num_outputs`` (= ``num_classes``) is the number of target bands.
    """

    def __init__(
        self,
        *,
        spec: DatasetSpec,
        samples: Mapping[str, Sequence[RegressionSample]],
        file_bands: Sequence[str],
        target_count: int,
        sensor: str | None = None,
        bands: Sequence[str] | None = None,
        target_indexes: Sequence[int] | None = None,
        target_offset: float | Sequence[float] | str = 0.0,
        target_scale: float | Sequence[float] | str = 1.0,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        scale: float = 1.0,
        nodata: float | None = None,
        target_nodata: float | None = None,
        crop_size: int | None = None,
        flips: bool = True,
        cache: bool = False,
        pin_memory: bool = False,
        eval_full_tiles: bool = False,
        gsd: float | None = None,
    ) -> None:
        super().__init__()
        if not samples.get("train"):
            raise DataError(f"dataset {spec.name} has no training samples; check the images, targets and split files")
        self.spec = spec
        self.samples = {split: list(items) for split, items in samples.items() if items}
        self.selection = select_bands(file_bands, bands, sensor=sensor, source=f"dataset {spec.name}")
        self.file_bands = tuple(file_bands)
        self.band_names: tuple[str, ...] = self.selection.names
        self.target_indexes = tuple(int(i) for i in target_indexes) if target_indexes else None
        self.num_outputs = len(self.target_indexes) if self.target_indexes else int(target_count)
        self.num_classes = self.num_outputs
        self.class_names: tuple[str, ...] = ()
        self.ignore_index = None
        self.task_type = "regression"
        self.num_frames = 1
        self.splits: tuple[str, ...] = tuple(s for s in ("train", "val", "test") if s in self.samples)
        self.batch_size, self.num_workers, self.seed = int(batch_size), int(num_workers), int(seed)
        self.scale, self.nodata, self.target_nodata = float(scale), nodata, target_nodata
        self.crop_size = int(crop_size) if crop_size else None
        self.flips, self.cache, self.pin_memory = bool(flips), bool(cache), bool(pin_memory)
        self.eval_full_tiles = bool(eval_full_tiles)
        self.mean = _per_selected_band(mean, "mean", self.selection.indexes, len(self.file_bands))
        self.std = _per_selected_band(std, "std", self.selection.indexes, len(self.file_bands))
        stats = self.target_stats() if "auto" in (target_offset, target_scale) else None
        self.target_offset = _normalisation(target_offset, stats and stats[0], self.num_outputs, "target_offset")
        self.target_scale = _normalisation(target_scale, stats and stats[1], self.num_outputs, "target_scale")
        if gsd is None:
            gsd = raster_meta(self.samples["train"][0].image).gsd
        self.gsd = None if gsd is None or math.isnan(gsd) else float(gsd)
        self._datasets: dict[str, GeoTiffRegressionDataset] = {}
        self._generator = torch.Generator().manual_seed(self.seed)

    def target_stats(self, split: str = "train") -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per target band: mean and std of the raw target values of ``split`` (invalid values excluded)."""
        paths = [s.target for s in self.samples[split] if s.target is not None]
        indexes = self.target_indexes or tuple(range(1, self.num_outputs + 1))
        means, stds = [], []
        for index in indexes:  # one band at a time: a band's nodata does not hide the others
            stats = compute_band_stats(paths, indexes=[index], nodata=self.target_nodata, seed=self.seed)
            means.append(stats.mean[0])
            stds.append(stats.std[0] if stats.std[0] > 0 else 1.0)
        return tuple(means), tuple(stds)

    def setup(self, stage: str | None = None) -> None:
        """Compute missing image mean/std from the training split, then build the split datasets."""
        if self.mean is None or self.std is None:
            stats = compute_band_stats(
                [s.image for s in self.samples["train"]],
                indexes=self.selection.indexes,
                nodata=self.nodata,
                scale=self.scale,
                seed=self.seed,
            )
            self.mean = self.mean or stats.mean
            self.std = self.std or tuple(s if s > 0 else 1.0 for s in stats.std)
            log.info("dataset %s: mean %s std %s (computed)", self.spec.name, self.mean, self.std)
        if self._datasets:
            return
        for split, items in self.samples.items():
            train = split == "train"
            self._datasets[split] = GeoTiffRegressionDataset(
                items,
                indexes=self.selection.indexes,
                mean=self.mean,
                std=self.std,
                target_indexes=self.target_indexes,
                target_offset=self.target_offset,
                target_scale=self.target_scale,
                file_band_count=len(self.file_bands),
                scale=self.scale,
                nodata=self.nodata,
                target_nodata=self.target_nodata,
                crop_size=self.crop_size if train or not self.eval_full_tiles else None,
                train=train,
                flips=self.flips,
                seed=self.seed,
                cache=self.cache,
            )

    def dataset(self, split: str) -> GeoTiffRegressionDataset:
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

    def mean_baseline(self, split: str = "val") -> dict[str, Any]:
        """RMSE, MAE and R² on ``split`` of predicting every valid target as the training mean (scaled units)."""
        offset, scale = np.asarray(self.target_offset), np.asarray(self.target_scale)
        train_mean = (np.asarray(self.target_stats("train")[0]) - offset) / scale
        count, squared, absolute, total, total_sq = 0, 0.0, 0.0, 0.0, 0.0
        for batch in self._loader(split):
            target, valid = batch["target"].numpy(), batch["valid"].numpy()
            prediction = np.broadcast_to(train_mean.reshape(1, -1, 1, 1), target.shape)[valid]
            values = target[valid].astype(np.float64)
            count += values.size
            squared += float(((values - prediction) ** 2).sum())
            absolute += float(np.abs(values - prediction).sum())
            total += float(values.sum())
            total_sq += float((values**2).sum())
        if count == 0:
            return {}
        mse = squared / count
        variance = total_sq / count - (total / count) ** 2
        return {
            "predictor": "training mean",
            "train_mean": [round(float(v), 6) for v in train_mean],
            "rmse": round(math.sqrt(mse), 6),
            "mae": round(absolute / count, 6),
            "r2": round(1 - mse / variance, 6) if variance > 0 else None,
        }

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the normalisation of images and targets and the delivered bands."""
        return {
            "mean": self.mean,
            "std": self.std,
            "band_names": self.band_names,
            "scale": self.scale,
            "target_offset": self.target_offset,
            "target_scale": self.target_scale,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the normalisation saved by :meth:`state_dict`."""
        if state_dict.get("mean") is not None:
            self.mean, self.std = tuple(state_dict["mean"]), tuple(state_dict["std"])
        if state_dict.get("target_offset") is not None:
            self.target_offset = tuple(state_dict["target_offset"])
            self.target_scale = tuple(state_dict["target_scale"])
        self._datasets = {}
