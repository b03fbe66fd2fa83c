"""Semantic segmentation: per-pixel classes from a ``"mask"`` of integer labels.

Metrics (torchmetrics, all skipping ``ignore_index`` pixels, accumulated over the epoch):

- ``miou``: ``MulticlassJaccardIndex(average="macro")``, the mean IoU over the classes that occur in the
  epoch's targets or predictions; a class absent from both has no defined IoU and is left out of the mean
  (torchmetrics' behaviour), so a split without, say, clouds is not penalised for them.
- ``iou_<class>``: the IoU of each class (``average=None``); NaN for a class absent from both targets and
  predictions.
- ``f1``: ``MulticlassF1Score(average="macro")`` (absent classes left out as for mIoU).
- ``accuracy``: ``MulticlassAccuracy(average="micro")``, the overall pixel accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from geofm.errors import DataError
from geofm.tasks.base import ClassWeightedTask, resolve_class_names
from geofm.tasks.losses import build_segmentation_loss

__all__ = ["SegmentationTask", "metric_safe_name", "resolve_class_names"]


def metric_safe_name(name: str) -> str:
    """A class name as it appears in a metric key (``"Cloud shadow"`` -> ``"Cloud_shadow"``)."""
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", name).strip("_") or "class"


class SegmentationTask(ClassWeightedTask):
    """Lightning module for semantic segmentation (batches ``{"image", "mask", "meta"}``).

    ``loss`` is ``"ce"``, ``"dice"``, ``"focal"`` or a weighted sum such as ``"ce+0.5*dice"``;
    ``class_weights`` (one per class) weight ce, focal and dice; pixels equal to ``ignore_index`` count in
    neither loss nor metrics. Logs ``train/loss``, ``val/loss``, ``val/miou``, ``val/accuracy``,
    ``val/f1``, ``val/iou_<class>`` and the same under ``test/``. ``predict_step`` returns class
    probabilities (B, K, H, W). Optimiser, scheduler and ``freeze_backbone``: see :class:`BaseTask`.
    """

    monitor: ClassVar[str] = "val/miou"
    monitor_mode: ClassVar[Literal["min", "max"]] = "max"
    target_key: ClassVar[str] = "mask"

    min_classes: ClassVar[int] = 2
    classes_meaning: ClassVar[str] = "classes, background counting as one"

    def build_loss(self, loss: str, class_weights: Sequence[float] | None, focal_gamma: float) -> nn.Module:
        """ce, dice, focal or a weighted sum of them, over the classes (``ignore_index`` left out)."""
        return build_segmentation_loss(
            loss,
            num_classes=self.num_classes,
            ignore_index=self.ignore_index,
            class_weights=class_weights,
            focal_gamma=focal_gamma,
        )

    def build_metrics(self) -> MetricCollection:
        """mIoU, per-class IoU, macro F1 and pixel accuracy (see the module docstring)."""
        common: dict[str, Any] = {"num_classes": self.num_classes, "ignore_index": self.ignore_index}
        return MetricCollection(
            {
                "miou": MulticlassJaccardIndex(average="macro", **common),
                "iou": MulticlassJaccardIndex(average=None, zero_division=float("nan"), **common),
                "f1": MulticlassF1Score(average="macro", **common),
                "accuracy": MulticlassAccuracy(average="micro", **common),
            }
        )

    def get_target(self, batch: Mapping[str, Any]) -> Tensor:
        """The integer mask (B, H, W) of ``batch`` (a (B, 1, H, W) mask is squeezed)."""
        mask = super().get_target(batch)
        if mask.ndim == 4 and mask.shape[1] == 1:
            mask = mask[:, 0]
        if mask.ndim != 3:
            raise DataError(f"segmentation masks must be (B, H, W); got shape {tuple(mask.shape)}")
        if mask.is_floating_point():
            raise DataError(f"segmentation masks must hold integer class labels; got dtype {mask.dtype}")
        return mask.long()

    @staticmethod
    def _match_size(logits: Tensor, mask: Tensor) -> Tensor:
        if logits.ndim != 4:
            raise DataError(f"segmentation model outputs must be (B, K, H, W); got shape {tuple(logits.shape)}")
        if logits.shape[-2:] != mask.shape[-2:]:
            logits = F.interpolate(logits, size=mask.shape[-2:], mode="bilinear", align_corners=False)
        return logits

    def compute_loss(self, output: Tensor, target: Tensor) -> Tensor:
        """The configured loss of logits (B, K, h, w) against the mask (resized to the mask if needed)."""
        return self.loss_fn(self._match_size(output, target), target)

    def update_metrics(self, metrics: MetricCollection, output: Tensor, target: Tensor) -> None:
        """Update the metrics with the arg-max class of each pixel."""
        metrics.update(self._match_size(output, target).argmax(dim=1), target)

    def expand_metrics(self, values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Split the per-class IoU vector into ``iou_<class>`` scalars."""
        expanded = {name: value for name, value in values.items() if name != "iou"}
        for name, value in zip(self.class_names, values["iou"], strict=True):
            expanded[f"iou_{metric_safe_name(name)}"] = value
        return expanded

    def postprocess(self, output: Tensor) -> Tensor:
        """Class probabilities (softmax over dim 1, float32)."""
        return output.float().softmax(dim=1)
