"""Building a task around a tiny model and running one training step on a synthetic batch of its format.

The tiny models stand in for what :func:`geofm.compose.build_model` composes for the task type (a
:class:`~geofm._compose_model.ComposedModel`, or a ``DetectionModel`` for detection): the check is of the
task, not of a backbone or decoder, so it needs no other plugin's components.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from geofm.contracts import check_built
from geofm.plugin_check._rows import CheckFailed, Rows
from geofm.specs import TaskSpec
from geofm.testing.synthetic import quiet_cpu_trainer, synthetic_batch
from geofm.vocabulary import DENSE_TASKS, DETECTION_TASKS

__all__ = ["TinyDetectionModel", "TinyTaskModel", "check_task"]

_BANDS = 4
_SIZE = 32
_DENSE = DENSE_TASKS


class TinyTaskModel(nn.Module):
    """A stand-in for a composed model: a 1x1 convolution, averaged over time and, for classification, space.

    ``forward(image, **meta)`` returns (B, outputs, H, W) for dense tasks and (B, outputs) otherwise, as
    a composed model of the task would.
    """

    def __init__(self, bands: int, outputs: int, dense: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(bands, outputs, kernel_size=1)
        self.dense = dense

    def forward(self, image: Tensor, **meta: Any) -> Tensor:
        """Logits or values of ``image`` (B, C, H, W) or (B, C, T, H, W); ``meta`` is ignored."""
        if image.ndim == 5:
            image = image.mean(dim=2)
        output = self.conv(image)
        return output if self.dense else output.mean(dim=(-2, -1))


class TinyDetectionModel(nn.Module):
    """A stand-in for a detection model: called as ``DetectionModel`` is, with a loss that reaches its weights.

    ``forward(image, targets=None, **meta)`` returns losses by name in training mode with ``targets``, else
    one dict of detections per image (``boxes``, ``labels``, ``scores``, and ``masks`` (N, 1, H, W) when
    ``with_masks``): one box over the whole image, of class 0.
    """

    def __init__(self, bands: int, with_masks: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(bands, 1, kernel_size=1)
        self.with_masks = with_masks

    def forward(self, image: Tensor, targets: list[dict[str, Tensor]] | None = None, **meta: Any) -> Any:
        """Losses (training, with ``targets``) or detections (eval)."""
        score = self.conv(image).mean(dim=(1, 2, 3)).sigmoid()
        if self.training and targets is not None:
            wanted = torch.tensor([float(len(t["boxes"]) > 0) for t in targets])
            return {"loss_objectness": ((score - wanted) ** 2).mean()}
        height, width = int(image.shape[-2]), int(image.shape[-1])
        detections = []
        for value in score:
            detection = {
                "boxes": torch.tensor([[0.0, 0.0, float(width), float(height)]]),
                "labels": torch.zeros(1, dtype=torch.long),
                "scores": value.reshape(1),
            }
            if self.with_masks:
                detection["masks"] = torch.ones(1, 1, height, width)
            detections.append(detection)
        return detections


def _outputs(spec: TaskSpec) -> int:
    return 1 if spec.task_type == "regression" else 2


def _model(spec: TaskSpec) -> nn.Module:
    if spec.task_type in DETECTION_TASKS:
        return TinyDetectionModel(_BANDS, with_masks=spec.task_type == "instance_segmentation")
    return TinyTaskModel(_BANDS, _outputs(spec), spec.task_type in _DENSE)


def _batch(spec: TaskSpec) -> dict[str, Any]:
    """A synthetic batch of the task type: :func:`~geofm.testing.synthetic.synthetic_batch`, or objects."""
    if spec.task_type not in DETECTION_TASKS:
        return synthetic_batch(spec.task_type, bands=_BANDS, size=_SIZE, num_classes=_outputs(spec))
    generator = torch.Generator().manual_seed(0)
    batch: dict[str, Any] = {
        "image": torch.randn(2, _BANDS, _SIZE, _SIZE, generator=generator),
        "boxes": [torch.tensor([[4.0, 4.0, 20.0, 24.0]]), torch.zeros(0, 4)],
        "labels": [torch.tensor([1]), torch.zeros(0, dtype=torch.long)],
        "meta": {},
    }
    if spec.task_type == "instance_segmentation":
        mask = torch.zeros(1, _SIZE, _SIZE, dtype=torch.uint8)
        mask[:, 4:24, 4:20] = 1
        batch["masks"] = [mask, torch.zeros(0, _SIZE, _SIZE, dtype=torch.uint8)]
    return batch


def _build(spec: TaskSpec) -> tuple[Any, nn.Module]:
    outputs = _outputs(spec)
    model = _model(spec)
    names = () if spec.task_type == "regression" else tuple(f"class_{i}" for i in range(outputs))
    task = spec.load_factory()(model=model, num_classes=outputs, class_names=names, ignore_index=None)
    check_built("tasks", task, spec)
    name = f"task {spec.name}"
    if not isinstance(task, LightningModule):
        raise CheckFailed(f"{name}: its factory returned a {type(task).__name__}, not a LightningModule")
    if task.model is not model:
        raise CheckFailed(f"{name}: 'model' is not the model the factory was given; keep it as self.model")
    if not isinstance(task.monitor, str) or not task.monitor:
        raise CheckFailed(f"{name}: monitor must name a logged metric (a non-empty str), not {task.monitor!r}")
    for attribute in ("monitor", "monitor_mode"):
        declared = getattr(spec, attribute)
        if declared and getattr(task, attribute) != declared:
            raise CheckFailed(f"{name}: {attribute} is {getattr(task, attribute)!r}, the spec declares {declared!r}")
    return task, model


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's informational lines (accelerators found, tips) are not shown while a trainer is made."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _train_step(spec: TaskSpec, task: Any, model: nn.Module) -> str:
    name = f"task {spec.name}"
    batch = _batch(spec)
    task.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a trainer warns and does nothing
        loss = task.training_step(batch, 0)
    if isinstance(loss, dict):
        loss = loss.get("loss")
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise CheckFailed(f"{name}: training_step returned {type(loss).__name__}, not a scalar loss tensor")
    if not torch.isfinite(loss):
        raise CheckFailed(f"{name}: training_step returned a loss of {loss.item()} on a synthetic batch")
    loss.backward()
    if not any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.parameters()):
        raise CheckFailed(f"{name}: the loss of training_step does not reach the model's parameters")
    with _quiet_lightning():  # configure_optimizers may read the trainer (max_epochs, stepping batches)
        trainer = quiet_cpu_trainer()
    task.trainer = trainer
    try:
        optimizers = task.configure_optimizers()
    finally:
        task.trainer = None
    if optimizers is None:
        raise CheckFailed(f"{name}: configure_optimizers returned None")
    return f"loss {loss.item():.3g} on a synthetic {spec.task_type} batch; gradients reach the model"


def check_task(spec: TaskSpec, rows: Rows) -> None:
    """Rows ``build`` and ``training step`` of one task, around a :class:`TinyTaskModel` (or detection model)."""
    built = None
    with rows.check("task", spec.name, "build", "a LightningModule with model, monitor and monitor_mode"):
        built = _build(spec)
    if built is None:
        return
    with rows.check("task", spec.name, "training step") as notes:
        notes.append(_train_step(spec, *built))
