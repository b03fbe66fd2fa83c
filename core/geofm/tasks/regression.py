"""Regression: per-pixel values (dense maps) or per-image values, with nodata masked out.

A batch's ``"target"`` is float (B, H, W), (B, 1, H, W) or (B, K, H, W) for a dense model output
(B, K, H, W), or (B,) / (B, K) for a vector output (B, K). Target entries that are NaN, equal to
``ignore_index`` (a nodata value), or where the optional boolean batch key ``"valid"`` is false count in
neither loss nor metrics. Metrics (torchmetrics, over every valid entry of the epoch): ``rmse``, ``mae``
and ``r2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from geofm.errors import ConfigError, DataError
from geofm.tasks.base import BaseTask
from geofm.tasks.losses import build_regression_loss

__all__ = ["RegressionTask"]


def _align(target: Tensor, output: Tensor, what: str) -> Tensor:
    """``target`` reshaped to ``output``'s shape (adding the channel axis of a single output)."""
    if target.ndim == output.ndim - 1 and output.shape[1] == 1:
        target = target.unsqueeze(1)
    if target.shape != output.shape:
        raise DataError(
            f"regression {what} has shape {tuple(target.shape)} but the model output has shape {tuple(output.shape)}"
        )
    return target


class RegressionTask(BaseTask):
    """Lightning module for pixel-wise or image-level regression (batches ``{"image", "target", "meta"}``).

    ``num_classes`` is the number of output values per pixel or image. ``loss`` is ``"mse"``, ``"mae"``,
    ``"huber"`` (with ``huber_delta``) or a weighted sum such as ``"mse+0.1*mae"``. Logs ``train/loss``,
    ``val/loss``, ``val/rmse``, ``val/mae``, ``val/r2`` and the same under ``test/``; monitors
    ``val/rmse`` (min). ``predict_step`` returns the predicted values. Optimiser, scheduler and
    ``freeze_backbone``: see :class:`~geofm.tasks.base.BaseTask`.
    """

    monitor: ClassVar[str] = "val/rmse"
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"
    target_key: ClassVar[str] = "target"

    classes_meaning: ClassVar[str] = "outputs"

    def __init__(
        self, model: nn.Module, num_classes: int = 1, *, loss: str = "mse", huber_delta: float = 1.0, **common: Any
    ) -> None:
        super().__init__(model, num_classes, **{**common, "class_names": ()})  # outputs have no class names
        if not float(huber_delta) > 0:
            raise ConfigError(f"huber_delta must be > 0, got {huber_delta!r}")
        self.num_outputs = self.num_classes
        self.loss_fn = build_regression_loss(loss, huber_delta=huber_delta)
        self._init_metrics()

    def build_metrics(self) -> MetricCollection:
        """RMSE, MAE and R² over the valid entries."""
        return MetricCollection({"rmse": MeanSquaredError(squared=False), "mae": MeanAbsoluteError(), "r2": R2Score()})

    def get_target(self, batch: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
        """``(target, valid)``: the float target and where it is valid (finite, not nodata, ``"valid"``)."""
        target = super().get_target(batch).float()
        valid = torch.isfinite(target)
        if self.ignore_index is not None:
            valid &= target != self.ignore_index
        if "valid" in batch:
            extra = batch["valid"].bool()
            if extra.shape != target.shape:
                if extra.numel() != target.numel():
                    raise DataError(
                        f"batch key 'valid' has shape {tuple(extra.shape)} but 'target' has "
                        f"{tuple(target.shape)}: they must match"
                    )
                extra = extra.reshape(target.shape)
            valid &= extra
        return target, valid

    def _prepare(self, output: Tensor, target: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        values, valid = target
        if output.ndim == 4 and values.ndim >= 3 and output.shape[-2:] != values.shape[-2:]:
            output = F.interpolate(output, size=values.shape[-2:], mode="bilinear", align_corners=False)
        values, valid = _align(values, output, "target"), _align(valid, output, "valid mask")
        return output, values, valid

    def compute_loss(self, output: Tensor, target: tuple[Tensor, Tensor]) -> Tensor:
        """The configured loss over the valid entries."""
        output, values, valid = self._prepare(output, target)
        return self.loss_fn(output, values, valid)

    def update_metrics(self, metrics: MetricCollection, output: Tensor, target: tuple[Tensor, Tensor]) -> None:
        """Update the metrics with the valid entries (all outputs pooled)."""
        output, values, valid = self._prepare(output, target)
        if bool(valid.any()):
            metrics.update(output.float()[valid], values[valid])

    def postprocess(self, output: Tensor) -> Tensor:
        """The predicted values (float32)."""
        return output.float()
