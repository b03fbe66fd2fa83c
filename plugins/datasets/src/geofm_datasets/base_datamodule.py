"""What the Lightning data modules of this plugin share beyond core's: flips, caching, valid-pixel checks.

:class:`GeofmDataModule` is core's :class:`~geofm.data.datamodule.SplitDataModule` (splits, band
selection, statistics, loaders, checkpoint state) with the options of this plugin's datasets (``flips``,
``cache``) and the check that a training or validation split has a pixel to score.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from geofm.data.datamodule import SplitDataModule
from geofm.errors import DataError
from geofm_datasets.base_dataset import WindowedDataset

__all__ = ["GeofmDataModule", "ImageFileDataModule", "no_valid_pixels_message"]


class GeofmDataModule(SplitDataModule):
    """Batches of one dataset per split, from ``samples`` (split -> samples; ``train`` is required).

    The keywords of :class:`~geofm.data.datamodule.SplitDataModule` (``common``, ``samples``,
    ``file_bands``, ``sensor``, ``scale``, ``nodata``, ``gsd`` ...), with random flips of the training
    crops (``flips``) and whole tiles kept in memory (``cache``).
    """

    missing_split_hint = "give split files or a test_fraction / val_fraction"

    def __init__(self, *, flips: bool = True, cache: bool = False, **options: Any) -> None:
        self.flips = bool(flips)
        self.cache = bool(cache)
        super().__init__(**options)

    def sampling_options(self, split: str) -> dict[str, Any]:
        """Core's sampling keywords with ``flips`` and ``cache``."""
        return {**super().sampling_options(split), "flips": self.flips, "cache": self.cache}

    def no_valid_pixel_reason(self) -> str | None:
        """Why a split can have no pixel to score, and what to check (``None``: the task scores no pixels)."""
        return None

    def check_datasets(self, datasets: Mapping[str, Any]) -> None:
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


class ImageFileDataModule(GeofmDataModule):
    """A :class:`GeofmDataModule` whose samples each name their ``image`` file (segmentation, regression).

    Its datasets are ``dataset_class(samples, **sampling_options(split))`` given, besides, the attributes
    ``dataset_keywords`` names under their names.
    """

    dataset_class: ClassVar[Callable[..., WindowedDataset[Any]]]
    """The windowed dataset a split's samples are read through."""

    dataset_keywords: ClassVar[tuple[str, ...]] = ()
    """The attributes passed on to :attr:`dataset_class` as keywords of the same names."""

    def make_dataset(self, split: str, samples: Sequence[Any]) -> WindowedDataset[Any]:
        """Random crops and flips for ``train``; centre crops (or whole tiles) otherwise."""
        options = {name: getattr(self, name) for name in self.dataset_keywords}
        return self.dataset_class(samples, **options, **self.sampling_options(split))

    def default_gsd(self) -> float | None:
        """The ground sample distance of the first training image."""
        from geofm.data import raster_meta

        return raster_meta(self.samples["train"][0].image).gsd


def no_valid_pixels_message(invalid: str, files: str, nodata_option: str, nodata: float | None, options: str) -> str:
    """Why a split has no valid pixel: ``invalid`` (every pixel ...) in the ``files`` or the images, and what to check.

    ``nodata`` (the value of the option ``nodata_option``) is shown when set; ``options`` names the options to check.
    """
    shown = "" if nodata is None else f", {nodata_option} {nodata:g}"
    return (
        f"{invalid} or nodata (in the {files}{shown}, or in the images); check the {files}, the {options} options "
        "and the images' nodata"
    )
