"""The Lightning data module of detection datasets: splits, band selection, statistics, loaders.

Batches are ``{"image", "boxes", "labels", ["masks"], "meta"}`` (:func:`~geofm_detection.detection_dataset.
collate_detection`): the generic ``geotiff_detection``, the generated ``demo_detection`` and the named
datasets all build this module from their samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geofm.data import compute_band_stats
from geofm.data.datamodule import SplitDataModule
from geofm.data.factory import SPLITS
from geofm.errors import DataError
from geofm_detection.detection_dataset import (
    DetectionDataset,
    DetectionSample,
    collate_detection,
    quiet_georeferencing,
)

__all__ = ["SPLITS", "DetectionDataModule"]


class DetectionDataModule(SplitDataModule):
    """Detection batches of chips per split (``samples``: split -> :class:`DetectionSample`; ``train`` required).

    The keywords of :class:`~geofm.data.datamodule.SplitDataModule` (``common``, ``samples``,
    ``file_bands``, ``sensor``, ``scale``, ``nodata``, ``pin_memory``, ``gsd`` ...). ``class_names`` are
    the K classes (labels 0..K-1, no background class); ``ignore_index`` is ``None`` and ``num_frames``
    1. ``common.mean``/``std`` are per delivered band in the units of ``x * scale``; when ``None`` they
    are computed from the training chips at :meth:`setup` (nodata excluded) and kept. Training takes
    random crops of ``crop_size`` (whole chips when ``None``) and random flips with ``augment``; val and
    test deliver whole chips (a batch is padded to its largest chip). ``with_masks`` adds instance masks
    (objects without an outline get their box filled). ``gsd`` (metres) is used for chips whose files
    tell none.
    """

    sample_noun = "chips"
    missing_train_hint = "check its train/ folder or id lists"
    collate_fn = staticmethod(collate_detection)

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        augment: bool = True,
        with_masks: bool = False,
        **options: Any,
    ) -> None:
        self.augment = bool(augment)
        self.with_masks = bool(with_masks)
        super().__init__(eval_full_tiles=True, **options)
        self.class_names = tuple(class_names)
        self.num_classes = len(self.class_names)

    def given_stat(self, values: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
        """A given ``mean`` or ``std``: one value per delivered band."""
        count = len(self.selection.indexes)
        if values is not None and len(values) != count:
            raise DataError(
                f"{len(values)} {what} values were given for the {count} bands {', '.join(self.band_names)} of "
                f"dataset {self.spec.name}; give one per band"
            )
        return None if values is None else tuple(float(v) for v in values)

    def compute_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per delivered band: mean and std of ``x * scale`` over the training chips (nodata excluded).

        A band constant over the training chips (std 0) is normalised with std 1, with a warning.
        """
        paths = [s.image for s in self.samples["train"]]
        with quiet_georeferencing():
            stats = compute_band_stats(paths, indexes=self.selection.indexes, nodata=self.nodata, scale=self.scale)
        return tuple(stats.mean), self.nonzero_std(stats.std)

    def make_dataset(self, split: str, samples: Sequence[DetectionSample]) -> DetectionDataset:
        """Random crops and flips for ``train``; whole chips otherwise."""
        return DetectionDataset(
            samples, augment=self.augment, with_masks=self.with_masks, gsd=self.gsd, **self.sampling_options(split)
        )
