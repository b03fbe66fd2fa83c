"""The ``detection`` and ``instance_segmentation`` tasks: Lightning modules around a detection model.

Batches are ``{"image" (B, C, H, W) float, "boxes": B x (N_i, 4) float x1, y1, x2, y2 in pixels,
"labels": B x (N_i,) int64 class indices, "masks": B x (N_i, H, W) uint8 (instance segmentation), "meta"}``.
The model is a :class:`geofm._compose_model.DetectionModel` (or anything with its call): in training it
returns the detector's losses, in eval one dict of detections per image. Metrics are COCO's
(torchmetrics ``MeanAveragePrecision`` with pycocotools): ``map`` (IoU 0.50:0.95), ``map_50``,
``map_75``, ``map_small`` / ``_medium`` / ``_large``, ``mar_1`` / ``_10`` / ``_100`` and per class
``ap/<class>``; instance segmentation adds the same for masks as ``segm_map`` ... and ``segm_ap/<class>``.
As in torchmetrics, -1 means undefined (no object of that size or class in the split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.detection import MeanAveragePrecision

from geofm.errors import DataError
from geofm.tasks.base import BaseTask
from geofm.tasks.segmentation import metric_safe_name

__all__ = ["DetectionTask", "InstanceSegmentationTask"]

Targets = list[dict[str, Tensor]]
Detections = list[dict[str, Tensor]]


def _per_class(values: Tensor) -> list[float]:
    return [float(v) for v in values.reshape(-1)]


class DetectionTask(BaseTask):
    """Lightning module for object detection (batches ``{"image", "boxes", "labels", "meta"}``).

    The loss is the sum of the detector's own losses (torchvision's: classification, box regression and,
    for the R-CNNs, the proposal network's); boxes of zero width or height are dropped from the targets
    (e.g. objects cut by a crop). Logs ``train/loss`` and ``train/<loss name>`` per epoch, and the COCO
    metrics of the module docstring under ``val/`` and ``test/`` (no ``val/loss``: torchvision's detectors
    compute losses in training mode only); monitors ``val/map`` (max).
    ``predict_step`` returns the detections (one dict per image). Optimiser, scheduler and
    ``freeze_backbone``: see :class:`geofm.tasks.base.BaseTask`; ``ignore_index`` is not used.
    """

    monitor: ClassVar[str] = "val/map"
    monitor_mode: ClassVar[Literal["min", "max"]] = "max"
    target_key: ClassVar[str] = "boxes"
    with_masks: ClassVar[bool] = False

    classes_meaning: ClassVar[str] = "object classes, no background"

    def __init__(self, model: nn.Module, num_classes: int, **common: Any) -> None:
        super().__init__(model, num_classes, **common)
        self._init_metrics()

    # --- targets and outputs -----------------------------------------------------------------------

    def get_target(self, batch: Mapping[str, Any]) -> Targets:
        """One dict per image: ``boxes`` (N, 4) float, ``labels`` (N,) int64 (and ``masks`` (N, H, W) uint8)."""
        keys = ("boxes", "labels", "masks") if self.with_masks else ("boxes", "labels")
        missing = [key for key in keys if key not in batch]
        if missing:
            raise DataError(
                f"{type(self).__name__} needs the batch keys {', '.join(keys)} but the batch lacks "
                f"{', '.join(missing)} (it has {', '.join(sorted(batch))}): is the dataset a detection dataset"
                f"{' with instance masks' if self.with_masks else ''}?"
            )
        count = len(batch["image"])
        targets = []
        for index in range(count):
            target = {key: batch[key][index] for key in keys}
            boxes = target["boxes"].reshape(-1, 4).float()
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            target["boxes"] = boxes[keep]
            target["labels"] = target["labels"].reshape(-1).long()[keep]
            if self.with_masks:
                target["masks"] = target["masks"].to(torch.uint8)[keep]
            targets.append(target)
        return targets

    def compute_loss(self, output: Mapping[str, Tensor], target: Any) -> Tensor:
        """The sum of the detector's losses (``output``: losses by name)."""
        if not isinstance(output, Mapping) or not output:
            raise DataError(f"a detection model in training mode must return its losses by name, not {type(output)}")
        return torch.stack([value.reshape(()) for value in output.values()]).sum()

    def _metric_inputs(self, output: Detections, target: Targets) -> tuple[Detections, Targets]:
        preds, truths = [], []
        for detection, truth in zip(output, target, strict=True):
            pred = {key: detection[key].detach() for key in ("boxes", "scores", "labels")}
            gt = {"boxes": truth["boxes"], "labels": truth["labels"]}
            if self.with_masks:
                size = tuple(truth["masks"].shape[-2:])
                masks = detection["masks"].detach().float().reshape(-1, *detection["masks"].shape[-2:])
                if tuple(masks.shape[-2:]) != size:  # pad or crop to the target's size (bottom and right)
                    masks = F.pad(masks, (0, size[1] - masks.shape[-1], 0, size[0] - masks.shape[-2]))
                pred["masks"] = masks > 0.5
                gt["masks"] = truth["masks"].bool()
            preds.append(pred)
            truths.append(gt)
        return preds, truths

    def update_metrics(self, metrics: MetricCollection, output: Detections, target: Targets) -> None:
        """Feed one batch of detections and targets into the mean average precision."""
        if not isinstance(output, list) or len(output) != len(target):
            raise DataError(
                f"a detection model in eval mode must return one dict of detections per image; got {type(output)}"
            )
        metrics.update(*self._metric_inputs(output, target))

    # --- metrics -----------------------------------------------------------------------------------

    def build_metrics(self) -> MetricCollection:
        """COCO mean average precision (boxes, and masks for instance segmentation), per class too."""
        iou_type: Any = ("bbox", "segm") if self.with_masks else "bbox"
        return MetricCollection(
            {"map": MeanAveragePrecision(iou_type=iou_type, class_metrics=True, backend="pycocotools")}
        )

    def expand_metrics(self, values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Scalars to log: box metrics as ``map`` ..., mask metrics as ``segm_map`` ..., ``ap/<class>`` per class."""
        classes = [int(c) for c in values["classes"].reshape(-1)] if "classes" in values else []
        # torchmetrics names the values bbox_map, segm_map ... with two IoU types and map ... with one
        sources = (("bbox_", ""), ("segm_", "segm_")) if self.with_masks else (("", ""),)
        expanded: dict[str, Tensor] = {}
        for source, prefix in sources:
            for key, value in values.items():
                name = key.removeprefix(source)
                if key == "classes" or not key.startswith(source) or name.endswith("_per_class"):
                    continue
                expanded[f"{prefix}{name}"] = value.float()
            scores = dict(zip(classes, _per_class(values[f"{source}map_per_class"]), strict=False))
            for index, class_name in enumerate(self.class_names):
                expanded[f"{prefix}ap/{metric_safe_name(class_name)}"] = torch.tensor(scores.get(index, -1.0))
        # on the module's device, as the other tasks' metrics (pycocotools computes on the CPU)
        return {key: value.reshape(()).to(self.device) for key, value in expanded.items()}

    # --- steps -------------------------------------------------------------------------------------

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        """The summed detector losses of one training batch; logs each loss."""
        image, meta = self._inputs(batch)
        losses = self.model(image, self.get_target(batch), image_sizes=batch.get("image_sizes"), **meta)
        total = self.compute_loss(losses, None)
        batch_size = int(image.shape[0])
        log = {"sync_dist": True, "on_step": False, "on_epoch": True, "batch_size": batch_size}
        self.log("train/loss", total, prog_bar=True, **log)
        for name, value in losses.items():
            self.log(f"train/{name}", value.detach(), **log)
        return total

    def _eval_step(self, batch: Mapping[str, Any], split: str) -> None:  # type: ignore[override]
        image, meta = self._inputs(batch)
        with torch.no_grad():
            detections = self.model(image, image_sizes=batch.get("image_sizes"), **meta)
            self.update_metrics(self.metrics[split], detections, self.get_target(batch))

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Detections:
        """One dict of detections per image: ``boxes``, ``labels`` (0..K-1), ``scores`` (and ``masks``)."""
        image, meta = self._inputs(batch)
        return self.model(image, image_sizes=batch.get("image_sizes"), **meta)


class InstanceSegmentationTask(DetectionTask):
    """Lightning module for instance segmentation (batches with ``masks`` (N, H, W) uint8 per image).

    As :class:`DetectionTask`, with Mask R-CNN's mask loss among the losses and COCO mask metrics
    (``segm_map``, ``segm_map_50``, ``segm_map_75`` ..., ``segm_ap/<class>``) beside the box metrics;
    predicted masks count where their probability exceeds 0.5. Monitors ``val/map`` (boxes, max).
    """

    with_masks: ClassVar[bool] = True
