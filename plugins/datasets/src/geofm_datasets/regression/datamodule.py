"""The Lightning data module of pixel-wise regression data (the generic GeoTIFF one and the demo)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from geofm.data import compute_band_stats
from geofm.errors import DataError
from geofm_datasets.base_datamodule import ImageFileDataModule, no_valid_pixels_message
from geofm_datasets.regression.dataset import GeoTiffRegressionDataset, RegressionSample

__all__ = ["GeoTiffRegressionDataModule"]


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


class GeoTiffRegressionDataModule(ImageFileDataModule):
    """Regression batches ``{"image", "target", "valid", "meta"}`` from paired image and target GeoTIFFs.

    ``samples`` maps each split to its samples. ``file_bands`` names the image bands in file order;
    ``bands`` are the canonical bands to deliver (``None`` = all). ``mean``/``std`` are per delivered
    band in the units of ``x * scale`` (computed from the training images when ``None``).
    ``target_nodata`` (default: the target files' nodata) and NaN targets are not scored.
    ``target_indexes`` picks the target bands (``None`` = all ``target_count``); ``target_offset`` and
    ``target_scale`` (numbers, one per target band, or ``"auto"`` = the training targets' mean and std)
    normalise the targets. ``num_outputs`` (= ``num_classes``) is the number of target bands. The
    other keywords are :class:`~geofm_datasets.base_datamodule.GeofmDataModule`'s.
    """

    task_type = "regression"
    missing_train_hint = "check the images, targets and split files"

    def __init__(
        self,
        *,
        samples: Mapping[str, Sequence[RegressionSample]],
        target_count: int,
        target_indexes: Sequence[int] | None = None,
        target_offset: float | Sequence[float] | str = 0.0,
        target_scale: float | Sequence[float] | str = 1.0,
        target_nodata: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples=samples, **options)
        self.target_indexes = tuple(int(i) for i in target_indexes) if target_indexes else None
        self.num_outputs = len(self.target_indexes) if self.target_indexes else int(target_count)
        self.num_classes = self.num_outputs
        self.target_nodata = target_nodata
        stats = self.target_stats() if "auto" in (target_offset, target_scale) else None
        self.target_offset = _normalisation(target_offset, stats and stats[0], self.num_outputs, "target_offset")
        self.target_scale = _normalisation(target_scale, stats and stats[1], self.num_outputs, "target_scale")

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

    def no_valid_pixel_reason(self) -> str | None:
        """What a split without valid pixel means here: every target value is NaN or nodata."""
        invalid, options = "every target value is NaN", "target_nodata / target_bands"
        return no_valid_pixels_message(invalid, "targets", "target_nodata", self.target_nodata, options)

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per delivered band: mean and std of ``x * scale`` over the training images (nodata excluded)."""
        stats = compute_band_stats(
            [s.image for s in self.samples["train"]],
            indexes=self.selection.indexes,
            nodata=self.nodata,
            scale=self.scale,
            seed=self.seed,
        )
        return tuple(stats.mean), self.nonzero_std(stats.std)

    dataset_class = GeoTiffRegressionDataset

    dataset_keywords = ("target_indexes", "target_offset", "target_scale", "target_nodata")

    def mean_baseline(self, split: str = "val") -> dict[str, Any]:
        """RMSE, MAE and R² on ``split`` of predicting every valid target as the training mean (scaled units)."""
        offset, scale = np.asarray(self.target_offset), np.asarray(self.target_scale)
        train_mean = (np.asarray(self.target_stats("train")[0]) - offset) / scale
        count, squared, absolute, total, total_sq = 0, 0.0, 0.0, 0.0, 0.0
        for batch in self.split_loader(split):
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
        return {**super().state_dict(), "target_offset": self.target_offset, "target_scale": self.target_scale}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the normalisation of images and targets saved by :meth:`state_dict`."""
        super().load_state_dict(state_dict)
        if state_dict.get("target_offset") is not None:
            self.target_offset = tuple(state_dict["target_offset"])
            self.target_scale = tuple(state_dict["target_scale"])
        self._datasets = {}
