"""What every geofm task shares: the model call, aux losses, logging, optimiser, scheduler and backbone freezing.

A task subclass says how to read its target from a batch, how to compute its loss and metrics and what
``predict_step`` returns; :class:`BaseTask` does the rest. Batches are the dicts the data modules deliver
(``{"image", "mask" | "target", "meta"}``); the model is a ``geofm.compose.ComposedModel`` or anything with
``forward(image, **meta)`` and, optionally, ``forward_with_aux(image, **meta) -> (output, {name: aux})``,
``aux_weights`` and a ``backbone`` attribute.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection

from geofm.errors import ConfigError, DataError

__all__ = ["EVAL_SPLITS", "OPTIMIZERS", "SCHEDULERS", "BaseTask", "ClassWeightedTask", "resolve_class_names"]

SCHEDULERS: tuple[str, ...] = ("plateau", "cosine", "none")
"""Learning-rate schedules a task accepts (``scheduler=``)."""
OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "sgd")
"""Optimisers a task accepts (``optimizer=``)."""
EVAL_SPLITS: tuple[str, ...] = ("val", "test")
"""Splits on which a task computes metrics (each split has its own metric states)."""


def resolve_class_names(class_names: Sequence[str], num_classes: int) -> tuple[str, ...]:
    """The class names, or ``"0"``, ``"1"``, ... when none are given; checks there is one per class."""
    names = tuple(str(name) for name in class_names) or tuple(str(i) for i in range(num_classes))
    if len(names) != num_classes:
        raise ConfigError(f"class_names has {len(names)} names but num_classes is {num_classes}: give one per class")
    return names


class BaseTask(LightningModule, ABC):
    """Base Lightning module of the geofm tasks.

    ``monitor`` / ``monitor_mode`` name the validation metric that a run's early stopping, best checkpoint
    and ``scheduler="plateau"`` follow. The optimiser (``optimizer``: ``"adamw"``, ``"adam"`` with L2 weight
    decay, or ``"sgd"`` with ``momentum``) runs over the trainable parameters with ``lr`` and
    ``weight_decay``; ``scheduler`` is ``"plateau"`` (ReduceLROnPlateau on ``monitor``: ``scheduler_patience``
    epochs, times ``scheduler_factor``), ``"cosine"`` (CosineAnnealingLR over ``trainer.max_epochs``, or over
    the optimiser steps when the run is bounded by steps) or ``"none"``. ``freeze_backbone`` /
    ``freeze_decoder`` stop gradients to ``model.backbone`` / ``model.decoder`` and keep it in eval mode
    (batch-norm statistics and dropout frozen too). Options no task uses are warned about, once.

    The options every task takes arrive here: the model, ``num_classes`` (at least ``min_classes``; for
    regression the number of outputs), ``class_names`` (one per class, else ``"0"``, ``"1"`` ...) and
    ``ignore_index``; a subclass's ``__init__`` names only its own options and passes the rest on. The
    hyperparameters of the whole chain of ``__init__``s are saved in checkpoints (the model excepted).
    """

    monitor: ClassVar[str] = "val/loss"
    monitor_mode: ClassVar[Literal["min", "max"]] = "min"
    target_key: ClassVar[str] = "target"
    min_classes: ClassVar[int] = 1
    """The smallest ``num_classes`` the task accepts."""
    classes_meaning: ClassVar[str] = "classes"
    """What ``num_classes`` counts, for the error message (e.g. "outputs")."""

    def __init__(
        self,
        model: nn.Module,
        num_classes: int = 1,
        class_names: Sequence[str] = (),
        ignore_index: float | None = None,
        *,
        lr: float = 1e-4,
        weight_decay: float = 0.05,
        freeze_backbone: bool = False,
        scheduler: str = "plateau",
        scheduler_patience: int = 5,
        scheduler_factor: float = 0.1,
        optimizer: str = "adamw",
        momentum: float = 0.9,
        freeze_decoder: bool = False,
        **unused_options: Any,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        if int(num_classes) < self.min_classes:
            raise ConfigError(
                f"{type(self).__name__} needs num_classes ({self.classes_meaning}) >= {self.min_classes}, "
                f"got {num_classes}"
            )
        if scheduler not in SCHEDULERS:
            raise ConfigError(f"scheduler {scheduler!r} is unknown; choose one of {', '.join(SCHEDULERS)}")
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer {optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")
        if not 0 < float(scheduler_factor) < 1:
            raise ConfigError(f"scheduler_factor must be between 0 and 1, got {scheduler_factor!r}")
        if not float(lr) > 0:
            raise ConfigError(f"lr must be > 0, got {lr!r}")
        if float(weight_decay) < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {weight_decay!r}")
        if int(scheduler_patience) < 0:
            raise ConfigError(f"scheduler_patience must be >= 0, got {scheduler_patience!r}")
        self.model = model
        self.num_classes = int(num_classes)
        self.class_names = resolve_class_names(class_names, self.num_classes)
        self.ignore_index = ignore_index
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.scheduler = scheduler
        self.scheduler_patience = int(scheduler_patience)
        self.scheduler_factor = float(scheduler_factor)
        self.optimizer_name = optimizer
        self.momentum = float(momentum)
        self.freeze_backbone = bool(freeze_backbone)
        self.freeze_decoder = bool(freeze_decoder)
        if self.freeze_backbone:
            self._freeze_backbone()
        if self.freeze_decoder:
            self._freeze("decoder")
        if unused_options:
            rank_zero_warn(
                f"{type(self).__name__} does not use the option(s) {', '.join(sorted(unused_options))}: ignored"
            )

    # --- what a task subclass provides -------------------------------------------------------------

    @abstractmethod
    def build_metrics(self) -> MetricCollection:
        """A fresh collection of this task's metrics (one per evaluation split)."""

    def get_target(self, batch: Mapping[str, Any]) -> Any:
        """The target of ``batch`` in the form :meth:`compute_loss` and :meth:`update_metrics` take."""
        if self.target_key not in batch:
            raise DataError(
                f"{type(self).__name__} needs the batch key {self.target_key!r} but the batch has "
                f"{', '.join(sorted(batch))}: is the dataset's task type the task's?"
            )
        return batch[self.target_key]

    @abstractmethod
    def compute_loss(self, output: Tensor, target: Any) -> Tensor:
        """The loss of one head's ``output`` against ``target``."""

    @abstractmethod
    def update_metrics(self, metrics: MetricCollection, output: Tensor, target: Any) -> None:
        """Feed one batch into ``metrics``."""

    def expand_metrics(self, values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Turn computed metric values into scalars to log (e.g. one per class); default: as they are."""
        return dict(values)

    def postprocess(self, output: Tensor) -> Tensor:
        """What ``predict_step`` returns for the model output (probabilities, values ...)."""
        return output

    # --- shared machinery --------------------------------------------------------------------------

    def _init_metrics(self) -> None:
        """Create the metric states of every evaluation split (call at the end of a subclass ``__init__``).

        The evaluation loss is a sample-weighted mean metric too, so that under DDP it is the mean over
        every sample of the split, exactly as in a single process.
        """
        self.metrics = nn.ModuleDict({split: self.build_metrics() for split in EVAL_SPLITS})
        self.eval_losses = nn.ModuleDict({split: MeanMetric() for split in EVAL_SPLITS})

    def _freeze_backbone(self) -> None:
        self._freeze("backbone")

    def _freeze(self, part: str) -> None:
        module = getattr(self.model, part, None)
        if not isinstance(module, nn.Module):
            raise ConfigError(
                f"freeze_{part}=True but the model ({type(self.model).__name__}) has no {part!r} module; "
                f"set freeze_{part}=False"
            )
        module.requires_grad_(False)
        module.eval()

    def train(self, mode: bool = True) -> BaseTask:
        """Set training mode, keeping a frozen backbone or decoder in eval mode."""
        super().train(mode)
        for part, frozen in (("backbone", self.freeze_backbone), ("decoder", self.freeze_decoder)):
            if frozen:
                getattr(self.model, part).eval()
        return self

    @staticmethod
    def _inputs(batch: Any) -> tuple[Tensor, dict[str, Any]]:
        if isinstance(batch, Tensor):
            return batch, {}
        if "image" not in batch:
            raise DataError(f"a batch needs the key 'image'; this one has {', '.join(sorted(batch))}")
        return batch["image"], dict(batch.get("meta") or {})

    def forward(self, image: Tensor, **meta: Any) -> Tensor:
        """The model's main output for ``image`` (raw logits or values)."""
        return self.model(image, **meta)

    def _forward_with_aux(self, batch: Any) -> tuple[Tensor, dict[str, Tensor]]:
        image, meta = self._inputs(batch)
        forward_with_aux = getattr(self.model, "forward_with_aux", None)
        if forward_with_aux is None:
            return self.model(image, **meta), {}
        output, aux = forward_with_aux(image, **meta)
        return output, dict(aux or {})

    def _shared_step(self, batch: Mapping[str, Any], split: str) -> tuple[Tensor, Tensor, Any]:
        output, aux = self._forward_with_aux(batch)
        target = self.get_target(batch)
        batch_size = int(self._inputs(batch)[0].shape[0])
        total = self.compute_loss(output, target)
        aux_weights = getattr(self.model, "aux_weights", None) or {}
        for name, aux_output in aux.items():
            aux_loss = self.compute_loss(aux_output, target)
            total = total + float(aux_weights.get(name, 1.0)) * aux_loss
            self.log(
                f"{split}/loss_aux_{name}",
                aux_loss,
                on_step=False,
                on_epoch=True,
                batch_size=batch_size,
                sync_dist=True,
            )
        losses = getattr(self, "eval_losses", None)
        if losses is not None and split in losses:
            losses[split].update(total.detach(), weight=batch_size)
            self.log(f"{split}/loss", losses[split], on_step=False, on_epoch=True, batch_size=batch_size)
        else:
            self.log(
                f"{split}/loss",
                total,
                on_step=False,
                on_epoch=True,
                prog_bar=split == "train",
                batch_size=batch_size,
                sync_dist=True,
            )
        return total, output, target

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        """Loss of one training batch (main head + weighted aux heads)."""
        loss, _, _ = self._shared_step(batch, "train")
        return loss

    def _eval_step(self, batch: Mapping[str, Any], split: str) -> Tensor:
        loss, output, target = self._shared_step(batch, split)
        with torch.no_grad():
            self.update_metrics(self.metrics[split], output.detach(), target)
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Loss of one validation batch; updates the validation metrics."""
        return self._eval_step(batch, "val")

    def test_step(self, batch: Mapping[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """Loss of one test batch; updates the test metrics."""
        return self._eval_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        """The post-processed model output of one batch (a dict with ``image`` or an image tensor)."""
        image, meta = self._inputs(batch)
        return self.postprocess(self.model(image, **meta))

    def _log_epoch_metrics(self, split: str) -> None:
        metrics: MetricCollection = self.metrics[split]
        updated = any(metric.update_called for metric in metrics.values())
        # every process takes the same branch: compute() below is a collective operation under DDP
        if not self.trainer.strategy.reduce_boolean_decision(updated, all=False):
            return
        values = self.expand_metrics(metrics.compute())  # torchmetrics syncs across processes here
        for name, value in values.items():
            key = f"{split}/{name}"
            # the values are already global: sync_dist averages identical numbers (and says so to Lightning)
            self.log(key, value, prog_bar=key == self.monitor, sync_dist=True)
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        """Log the validation metrics of the epoch and reset them."""
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        """Log the test metrics and reset them."""
        self._log_epoch_metrics("test")

    def configure_optimizers(self) -> Any:
        """AdamW over the trainable parameters, with the configured learning-rate schedule."""
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("the model has no trainable parameters (is everything frozen?)")
        if self.optimizer_name == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
        elif self.optimizer_name == "adam":  # weight decay as an L2 term in the gradient (torch's Adam)
            optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        else:
            optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.scheduler == "none":
            return optimizer
        if self.scheduler == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode=self.monitor_mode, patience=self.scheduler_patience, factor=self.scheduler_factor
            )
            # strict=False: a run without validation warns instead of failing on the missing monitor
            config = {"scheduler": plateau, "monitor": self.monitor, "interval": "epoch", "strict": False}
            return {"optimizer": optimizer, "lr_scheduler": config}
        max_epochs = self.trainer.max_epochs
        if max_epochs is not None and max_epochs > 0:
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "epoch"}}
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": cosine, "interval": "step"}}


class ClassWeightedTask(BaseTask):
    """A task whose loss is chosen by name (``loss``) and weighted per class (``class_weights``).

    ``focal_gamma`` is the focusing parameter of a focal loss term. Subclasses build the loss
    (:meth:`build_loss`) and the metrics; ``default_loss`` is the loss when none is named.
    """

    default_loss: ClassVar[str] = "ce"

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        *,
        loss: str | None = None,
        class_weights: Sequence[float] | None = None,
        focal_gamma: float = 2.0,
        **common: Any,
    ) -> None:
        super().__init__(model, num_classes, **common)
        self.loss_fn = self.build_loss(loss or self.default_loss, class_weights, float(focal_gamma))
        self._init_metrics()

    @abstractmethod
    def build_loss(self, loss: str, class_weights: Sequence[float] | None, focal_gamma: float) -> nn.Module:
        """The loss module named by ``loss`` (e.g. ``"ce+0.5*dice"``)."""
