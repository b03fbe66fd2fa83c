"""Image classification: one class per image (multi-class) or a set of labels per image (multi-label).

The model outputs logits (B, K). Multi-class batches have ``"target"`` int64 (B,), with ``ignore_index``
samples skipped; metrics ``accuracy`` (micro, i.e. the fraction of correct images) and ``f1`` (macro).
Multi-label batches have ``"target"`` multi-hot (B, K) (float or int), with NaN or ``ignore_index``
entries skipped; metrics ``f1`` (macro, threshold 0.5) and ``map`` (macro average precision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MultilabelAveragePrecision,
    MultilabelF1Score,
)

from geofm.errors import DataError
from geofm.tasks.base import ClassWeightedTask
from geofm.tasks.losses import build_classification_loss

__all__ = ["ClassificationTask", "MultiLabelClassificationTask"]

_METRIC_IGNORE = -1  # multi-label entries that are NaN / ignore_index, as torchmetrics sees them


def _check_logits(output: Tensor, num_classes: int) -> Tensor:
    if output.ndim != 2 or output.shape[1] != num_classes:
        raise DataError(f"classification model outputs must be (B, {num_classes}); got shape {tuple(output.shape)}")
    return output


class _ClassificationBase(ClassWeightedTask):
    """The loss set-up both classification tasks share; ``multilabel`` picks their loss family."""

    min_classes: ClassVar[int] = 2
    multilabel: ClassVar[bool] = False

    def build_loss(self, loss: str, class_weights: Sequence[float] | None, focal_gamma: float) -> nn.Module:
        """Ce or focal (multi-class), bce (multi-label), or a weighted sum, over the classes."""
        return build_classification_loss(
            loss,
            num_classes=self.num_classes,
            multilabel=self.multilabel,
            ignore_index=self.ignore_index,
            class_weights=class_weights,
            focal_gamma=focal_gamma,
        )


class ClassificationTask(_ClassificationBase):
    """Lightning module for multi-class image classification (batches ``{"image", "target", "meta"}``).

    ``loss`` is ``"ce"``, ``"focal"`` or a weighted sum; ``class_weights`` (one per class) weight it.
    Logs ``train/loss``, ``val/loss``, ``val/accuracy``, ``val/f1`` and the same under ``test/``; monitors
    ``val/accuracy`` (max). ``predict_step`` returns class probabilities (B, K).
    """

    monitor: ClassVar[str] = "val/accuracy"
    monitor_mode: ClassVar[Literal["min", "max"]] = "max"
    target_key: ClassVar[str] = "target"

    def build_metrics(self) -> MetricCollection:
        """Accuracy (micro) and macro F1."""
        common: dict[str, Any] = {"num_classes": self.num_classes, "ignore_index": self.ignore_index}
        return MetricCollection(
            {
                "accuracy": MulticlassAccuracy(average="micro", **common),
                "f1": MulticlassF1Score(average="macro", **common),
            }
        )

    def get_target(self, batch: Mapping[str, Any]) -> Tensor:
        """The class index (B,) of each image."""
        target = super().get_target(batch)
        if target.ndim == 2 and target.shape[1] == 1:
            target = target[:, 0]
        if target.ndim != 1 or target.is_floating_point():
            raise DataError(
                f"multi-class targets must be integer class indices (B,); got {target.dtype} of shape "
                f"{tuple(target.shape)} (multi-hot targets need the 'multilabel_classification' task)"
            )
        return target.long()

    def compute_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The configured loss of logits (B, K) against class indices (B,)."""
        return self.loss_fn(_check_logits(output, self.num_classes), target)

    def update_metrics(self, metrics: MetricCollection, output: Tensor, target: Tensor) -> None:
        """Update the metrics with the logits (arg-max class)."""
        metrics.update(_check_logits(output, self.num_classes).float(), target)

    def postprocess(self, output: Tensor) -> Tensor:
        """Class probabilities (softmax, float32)."""
        return output.float().softmax(dim=1)


class MultiLabelClassificationTask(_ClassificationBase):
    """Lightning module for multi-label image classification (``"target"`` multi-hot (B, K)).

    ``loss`` is ``"bce"`` (binary cross-entropy with logits); ``class_weights`` (one per label) weight it.
    Logs ``train/loss``, ``val/loss``, ``val/f1``, ``val/map`` and the same under ``test/``; monitors
    ``val/map`` (max). ``predict_step`` returns per-label probabilities (sigmoid, (B, K)).
    """

    monitor: ClassVar[str] = "val/map"
    monitor_mode: ClassVar[Literal["min", "max"]] = "max"
    target_key: ClassVar[str] = "target"

    multilabel: ClassVar[bool] = True
    default_loss: ClassVar[str] = "bce"

    def build_metrics(self) -> MetricCollection:
        """Macro F1 (threshold 0.5) and mean average precision over labels."""
        common: dict[str, Any] = {"num_labels": self.num_classes, "ignore_index": _METRIC_IGNORE}
        return MetricCollection(
            {
                "f1": MultilabelF1Score(average="macro", **common),
                "map": MultilabelAveragePrecision(average="macro", **common),
            }
        )

    def get_target(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """``(target, valid)``: the multi-hot target (B, K) as float and where it is known."""
        target = super().get_target(batch)
        if target.ndim != 2 or target.shape[1] != self.num_classes:
            raise DataError(
                f"multi-label targets must be multi-hot (B, {self.num_classes}); got shape {tuple(target.shape)}"
            )
        target = target.float()
        valid = torch.isfinite(target)
        if self.ignore_index is not None:
            valid &= target != self.ignore_index
        return target, valid

    def compute_loss(self, output: Tensor, target: tuple[Tensor, Tensor]) -> Tensor:
        """Binary cross-entropy over the known labels."""
        values, valid = target
        return self.loss_fn(_check_logits(output, self.num_classes), values, valid)

    def update_metrics(self, metrics: MetricCollection, output: Tensor, target: tuple[Tensor, Tensor]) -> None:
        """Update the metrics with per-label probabilities; unknown labels are ignored."""
        values, valid = target
        labels = torch.where(valid, values.round(), torch.full_like(values, _METRIC_IGNORE)).long()
        metrics.update(_check_logits(output, self.num_classes).float().sigmoid(), labels)

    def postprocess(self, output: Tensor) -> Tensor:
        """Per-label probabilities (sigmoid, float32)."""
        return output.float().sigmoid()
