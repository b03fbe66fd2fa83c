"""Loss functions of the tasks and the parser of loss specifications such as ``"ce+0.5*dice"``.

A loss specification is a ``+``-separated sum of terms, each a loss name with an optional weight
(``"ce"``, ``"ce+dice"``, ``"0.7*focal+0.3*dice"``). Which names are valid depends on the task:
:data:`SEGMENTATION_LOSSES`, :data:`CLASSIFICATION_LOSSES`, :data:`MULTILABEL_LOSSES`,
:data:`REGRESSION_LOSSES`.

Every loss is computed in float32 (safe under bf16 autocast), skips ignored pixels / samples, and is
zero (with a gradient path) when a batch has nothing left to learn from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss
from torch import Tensor, nn

from geofm.errors import ConfigError

__all__ = [
    "CLASSIFICATION_LOSSES",
    "MULTILABEL_LOSSES",
    "REGRESSION_LOSSES",
    "SEGMENTATION_LOSSES",
    "CrossEntropyLoss",
    "FocalLoss",
    "MaskedBCELoss",
    "MaskedRegressionLoss",
    "WeightedSumLoss",
    "build_classification_loss",
    "build_regression_loss",
    "build_segmentation_loss",
    "class_weight_tensor",
    "parse_loss_spec",
]

SEGMENTATION_LOSSES: tuple[str, ...] = ("ce", "dice", "focal")
"""Loss names a segmentation task accepts."""
CLASSIFICATION_LOSSES: tuple[str, ...] = ("ce", "focal")
"""Loss names a multi-class classification task accepts."""
MULTILABEL_LOSSES: tuple[str, ...] = ("bce",)
"""Loss names a multi-label classification task accepts."""
REGRESSION_LOSSES: tuple[str, ...] = ("mse", "mae", "huber")
"""Loss names a regression task accepts."""


def parse_loss_spec(spec: str, valid: Sequence[str]) -> list[tuple[float, str]]:
    """Parse ``"0.7*focal+0.3*dice"`` into ``[(0.7, "focal"), (0.3, "dice")]``.

    Names are case-insensitive; a term without a weight has weight 1. A name repeated adds its weights.
    Raises :class:`~geofm.errors.ConfigError` for an unknown name, a malformed or negative weight, or an
    empty specification; the message lists the valid names.
    """
    listing = ", ".join(valid)
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"loss {spec!r} is empty: give one of {listing}, or a weighted sum like 'ce+0.5*dice'")
    weights: dict[str, float] = {}
    for raw in spec.split("+"):
        term = raw.strip().lower()
        weight_text, star, name = term.rpartition("*")
        name = name.strip()
        weight = 1.0
        if star:
            try:
                weight = float(weight_text)
            except ValueError:
                raise ConfigError(
                    f"loss {spec!r}: term {raw.strip()!r} needs the form 'WEIGHT*NAME' with a number as WEIGHT "
                    f"(e.g. 'ce+0.5*dice')"
                ) from None
        if name not in valid:
            raise ConfigError(f"loss {spec!r}: unknown loss {name!r}; valid losses are {listing}")
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"loss {spec!r}: weight {weight_text.strip()!r} of {name!r} must be a number >= 0")
        weights[name] = weights.get(name, 0.0) + weight
    return [(weight, name) for name, weight in weights.items()]


def class_weight_tensor(class_weights: Sequence[float] | None, num_classes: int) -> Tensor | None:
    """Check per-class loss weights (one non-negative number per class) and return them as a tensor."""
    if class_weights is None:
        return None
    values = [float(w) for w in class_weights]
    if len(values) != num_classes:
        raise ConfigError(
            f"class_weights has {len(values)} values but the task has {num_classes} classes: give one weight per class"
        )
    if any(not math.isfinite(w) or w < 0 for w in values) or not any(values):
        raise ConfigError(f"class_weights {values} must be finite, >= 0 and not all zero")
    return torch.tensor(values, dtype=torch.float32)


def _zero(prediction: Tensor) -> Tensor:
    """A zero loss that keeps the graph (for batches whose targets are all ignored)."""
    return prediction.sum() * 0.0


class WeightedSumLoss(nn.Module):
    """A weighted sum of loss terms, each called with the same arguments.

    ``terms`` maps loss names to modules and ``weights`` the names to their weights.
    """

    def __init__(self, terms: dict[str, nn.Module], weights: dict[str, float]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(terms)
        self.weights = dict(weights)

    def forward(self, *inputs: Any) -> Tensor:
        """The weighted sum of every term evaluated on ``inputs``."""
        total: Tensor | None = None
        for name, term in self.terms.items():
            value = self.weights[name] * term(*inputs)
            total = value if total is None else total + value
        assert total is not None
        return total


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy over dim 1 with optional class weights and ignore index.

    Reduction: the class-weighted mean over non-ignored targets (as :func:`torch.nn.functional.cross_entropy`);
    zero when every target is ignored.
    """

    def __init__(self, weight: Tensor | None = None, ignore_index: int | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight, persistent=False)
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of ``logits`` (B, K, ...) against integer ``target`` (B, ...)."""
        if self.ignore_index is not None and not bool((target != self.ignore_index).any()):
            return _zero(logits)
        ignore = -100 if self.ignore_index is None else self.ignore_index
        return F.cross_entropy(logits.float(), target.long(), weight=self.weight, ignore_index=ignore)


class FocalLoss(nn.Module):
    """Softmax focal loss (Lin et al. 2017) over dim 1: ``-w_t (1 - p_t)^gamma log p_t``.

    Reduced like weighted cross-entropy: summed over non-ignored targets and divided by the sum of their
    class weights, so ``gamma=0`` gives exactly :class:`CrossEntropyLoss`. (segmentation_models_pytorch's
    focal loss is a one-vs-rest sigmoid loss, which does not match a softmax head; hence this class.)
    """

    def __init__(self, gamma: float = 2.0, weight: Tensor | None = None, ignore_index: int | None = None) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.register_buffer("weight", weight, persistent=False)
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of ``logits`` (B, K, ...) against integer ``target`` (B, ...)."""
        target = target.long()
        valid = torch.ones_like(target, dtype=torch.bool)
        if self.ignore_index is not None:
            valid = target != self.ignore_index
        if not bool(valid.any()):
            return _zero(logits)
        safe_target = torch.where(valid, target, torch.zeros_like(target))
        log_p = F.log_softmax(logits.float(), dim=1)
        log_pt = log_p.gather(1, safe_target.unsqueeze(1)).squeeze(1)
        class_weight = self.weight[safe_target] if self.weight is not None else torch.ones_like(log_pt)
        class_weight = class_weight * valid
        focal = (1.0 - log_pt.exp()).clamp_min(0.0).pow(self.gamma)
        return -(class_weight * focal * log_pt).sum() / class_weight.sum().clamp_min(1e-12)


class _Dice(nn.Module):
    """segmentation_models_pytorch's multi-class soft Dice loss, computed in float32.

    Per class over the whole batch, ``1 - 2|P∩T| / (|P| + |T|)`` on softmax probabilities with ignored
    pixels removed; classes absent from the batch's target contribute 0; classes are averaged (weighted by
    ``class_weights`` when given, normalised by their sum).
    """

    def __init__(self, weight: Tensor | None, ignore_index: int | None) -> None:
        super().__init__()
        self.dice = DiceLoss(
            mode="multiclass",
            from_logits=True,
            ignore_index=ignore_index,
            class_weights=None if weight is None else weight.tolist(),
        )

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Dice loss of ``logits`` (B, K, H, W) against integer ``target`` (B, H, W)."""
        return self.dice(logits.float(), target.long())


def build_segmentation_loss(
    spec: str,
    *,
    num_classes: int,
    ignore_index: int | None = None,
    class_weights: Sequence[float] | None = None,
    focal_gamma: float = 2.0,
) -> WeightedSumLoss:
    """Build the loss of a segmentation task from ``spec`` (names from :data:`SEGMENTATION_LOSSES`).

    The result is called as ``loss(logits (B, K, H, W), mask (B, H, W) int64)``.
    """
    weight = class_weight_tensor(class_weights, num_classes)
    terms: dict[str, nn.Module] = {}
    parsed = parse_loss_spec(spec, SEGMENTATION_LOSSES)
    for _, name in parsed:
        if name == "ce":
            terms[name] = CrossEntropyLoss(weight, ignore_index)
        elif name == "focal":
            terms[name] = FocalLoss(focal_gamma, weight, ignore_index)
        else:
            terms[name] = _Dice(weight, ignore_index)
    return WeightedSumLoss(terms, {name: w for w, name in parsed})


class MaskedBCELoss(nn.Module):
    """Binary cross-entropy with logits for multi-hot targets, skipping masked-out entries.

    ``weight`` (one per label) scales each label's terms; the reduction is the weighted mean over valid
    entries.
    """

    def __init__(self, weight: Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """Loss of ``logits`` (B, K) against ``target`` (B, K) in [0, 1] where ``valid`` (B, K) is true."""
        if not bool(valid.any()):
            return _zero(logits)
        safe_target = torch.where(valid, target.float(), torch.zeros_like(logits, dtype=torch.float32))
        per_entry = F.binary_cross_entropy_with_logits(logits.float(), safe_target, reduction="none")
        scale = valid.float()
        if self.weight is not None:
            scale = scale * self.weight
        return (per_entry * scale).sum() / scale.sum().clamp_min(1e-12)


def build_classification_loss(
    spec: str,
    *,
    num_classes: int,
    multilabel: bool = False,
    ignore_index: int | None = None,
    class_weights: Sequence[float] | None = None,
    focal_gamma: float = 2.0,
) -> WeightedSumLoss:
    """Build the loss of a classification task from ``spec``.

    Multi-class (names from :data:`CLASSIFICATION_LOSSES`): called as ``loss(logits (B, K), target (B,))``.
    Multi-label (names from :data:`MULTILABEL_LOSSES`): called as ``loss(logits, target, valid)`` with
    ``target`` and ``valid`` (B, K).
    """
    weight = class_weight_tensor(class_weights, num_classes)
    parsed = parse_loss_spec(spec, MULTILABEL_LOSSES if multilabel else CLASSIFICATION_LOSSES)
    terms: dict[str, nn.Module] = {}
    for _, name in parsed:
        if name == "bce":
            terms[name] = MaskedBCELoss(weight)
        elif name == "ce":
            terms[name] = CrossEntropyLoss(weight, ignore_index)
        else:
            terms[name] = FocalLoss(focal_gamma, weight, ignore_index)
    return WeightedSumLoss(terms, {name: w for w, name in parsed})


class MaskedRegressionLoss(nn.Module):
    """Mean squared error (``"mse"``), mean absolute error (``"mae"``) or Huber (``"huber"``) over valid entries."""

    def __init__(self, kind: str, huber_delta: float = 1.0) -> None:
        super().__init__()
        if kind not in REGRESSION_LOSSES:
            raise ConfigError(f"unknown regression loss {kind!r}; valid losses are {', '.join(REGRESSION_LOSSES)}")
        self.kind = kind
        self.huber_delta = float(huber_delta)

    def forward(self, prediction: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        """Loss of ``prediction`` against ``target`` where ``valid`` is true (all three the same shape)."""
        if not bool(valid.any()):
            return _zero(prediction)
        pred, true = prediction.float()[valid], target.float()[valid]
        if self.kind == "mse":
            return F.mse_loss(pred, true)
        if self.kind == "mae":
            return F.l1_loss(pred, true)
        return F.huber_loss(pred, true, delta=self.huber_delta)


def build_regression_loss(spec: str, *, huber_delta: float = 1.0) -> WeightedSumLoss:
    """Build the loss of a regression task from ``spec`` (names from :data:`REGRESSION_LOSSES`).

    The result is called as ``loss(prediction, target, valid)``, all three tensors of one shape.
    """
    parsed = parse_loss_spec(spec, REGRESSION_LOSSES)
    terms: dict[str, nn.Module] = {name: MaskedRegressionLoss(name, huber_delta) for _, name in parsed}
    return WeightedSumLoss(terms, {name: w for w, name in parsed})
