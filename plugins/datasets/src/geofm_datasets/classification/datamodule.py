"""The Lightning data module of image classification datasets (BigEarthNet and the generic ones)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from geofm.data import compute_band_stats
from geofm_datasets.base_datamodule import GeofmDataModule
from geofm_datasets.classification.dataset import ClassificationDataset, ClassificationSample
from geofm_datasets.options import SPLITS

__all__ = ["SPLITS", "ClassificationDataModule"]


class ClassificationDataModule(GeofmDataModule):
    """Classification batches ``{"image", "target", "meta"}`` from GeoTIFFs.

    ``samples`` maps each split to its :class:`ClassificationSample` s. ``file_bands`` names the bands
    in file order (of the one file of a sample, or of its band files); ``bands`` are the canonical bands
    to deliver (``None`` = all). ``multilabel`` makes targets multi-hot (``num_classes``,). ``mean`` /
    ``std`` are per delivered band (or per file band) in the units of ``x * scale``; when ``None`` they
    are computed from the training split at :meth:`setup`. ``image_size`` resamples every image on
    read. ``dataset_class`` reads the samples, given ``dataset_options`` besides the module's. The other
    keywords are :class:`~geofm_datasets.base_datamodule.GeofmDataModule`'s.
    """

    missing_train_hint = "check the files, labels and split lists"

    def __init__(
        self,
        *,
        samples: Mapping[str, Sequence[ClassificationSample]],
        classes: Sequence[str],
        multilabel: bool,
        image_size: int | None = None,
        dataset_class: type[ClassificationDataset] = ClassificationDataset,
        dataset_options: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(samples=samples, **options)
        self.class_names = tuple(classes)
        self.num_classes = len(self.class_names)
        self.multilabel = bool(multilabel)
        self.task_type = "multilabel_classification" if self.multilabel else "classification"
        self.image_size = int(image_size) if image_size else None
        self.dataset_class = dataset_class
        self.dataset_options = dict(dataset_options or {})

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
        return tuple(v for s in stats for v in s.mean), self.nonzero_std([v for s in stats for v in s.std])

    def make_dataset(self, split: str, samples: Sequence[ClassificationSample]) -> ClassificationDataset:
        """A ``dataset_class`` reading ``samples`` (random crops and flips for ``train``)."""
        return self.dataset_class(
            samples,
            num_classes=self.num_classes,
            multilabel=self.multilabel,
            image_size=self.image_size,
            **self.sampling_options(split),
            **self.dataset_options,
        )
