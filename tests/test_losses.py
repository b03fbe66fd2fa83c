from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from geofm.errors import ConfigError
from geofm.tasks.losses import (
    FocalLoss,
    build_classification_loss,
    build_regression_loss,
    build_segmentation_loss,
    parse_loss_spec,
)

SEG = ("ce", "dice", "focal")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ce", [(1.0, "ce")]),
        ("dice", [(1.0, "dice")]),
        ("ce+dice", [(1.0, "ce"), (1.0, "dice")]),
        ("ce+0.5*dice", [(1.0, "ce"), (0.5, "dice")]),
        (" 0.7*focal + 0.3*DICE ", [(0.7, "focal"), (0.3, "dice")]),
        ("ce+ce", [(2.0, "ce")]),
    ],
)
def test_parse_loss_spec(spec: str, expected: list[tuple[float, str]]) -> None:
    assert parse_loss_spec(spec, SEG) == expected


@pytest.mark.parametrize("spec", ["lovasz", "ce+tversky", "0.5*mse"])
def test_unknown_loss_lists_the_valid_ones(spec: str) -> None:
    with pytest.raises(ConfigError, match="valid losses are ce, dice, focal"):
        parse_loss_spec(spec, SEG)


@pytest.mark.parametrize("spec", ["", "   ", "x*ce", "-1*ce", "ce+"])
def test_malformed_loss_spec(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_loss_spec(spec, SEG)


def _tiny() -> tuple[torch.Tensor, torch.Tensor]:
    # 1 image, 2 classes, 1x3 pixels; the last pixel is ignored (255)
    logits = torch.tensor([[[[2.0, 0.0, 1.0]], [[0.0, 1.0, -3.0]]]])
    mask = torch.tensor([[[0, 1, 255]]])
    return logits, mask


def test_dice_matches_hand_computation() -> None:
    logits, mask = _tiny()
    p = logits.softmax(dim=1)[0, :, 0, :2]  # (2 classes, 2 valid pixels)
    onehot = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    dice = 2 * (p * onehot).sum(1) / (p.sum(1) + onehot.sum(1))
    expected = (1 - dice).mean()
    loss = build_segmentation_loss("dice", num_classes=2, ignore_index=255)(logits, mask)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # class weights: weighted mean of the per-class dice losses
    weighted = build_segmentation_loss("dice", num_classes=2, ignore_index=255, class_weights=[1.0, 3.0])
    expected_weighted = ((1 - dice) * torch.tensor([1.0, 3.0])).sum() / 4.0
    assert weighted(logits, mask).item() == pytest.approx(expected_weighted.item(), rel=1e-5)


def test_focal_matches_hand_computation() -> None:
    logits, mask = _tiny()
    gamma = 2.0
    p0 = math.exp(2) / (math.exp(2) + 1)  # pixel 0, true class 0
    p1 = math.exp(1) / (math.exp(1) + 1)  # pixel 1, true class 1
    terms = [-((1 - p0) ** gamma) * math.log(p0), -((1 - p1) ** gamma) * math.log(p1)]
    loss = build_segmentation_loss("focal", num_classes=2, ignore_index=255)(logits, mask)
    assert loss.item() == pytest.approx(sum(terms) / 2, rel=1e-5)
    weighted = build_segmentation_loss("focal", num_classes=2, ignore_index=255, class_weights=[1.0, 3.0])
    assert weighted(logits, mask).item() == pytest.approx((terms[0] + 3 * terms[1]) / 4, rel=1e-5)


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    target[0, :2] = -1
    weight = torch.tensor([1.0, 2.0, 0.5, 1.0])
    focal = FocalLoss(gamma=0.0, weight=weight, ignore_index=-1)(logits, target)
    ce = F.cross_entropy(logits, target, weight=weight, ignore_index=-1)
    assert focal.item() == pytest.approx(ce.item(), rel=1e-5)


def test_weighted_sum() -> None:
    logits, mask = _tiny()
    ce = build_segmentation_loss("ce", num_classes=2, ignore_index=255)(logits, mask)
    dice = build_segmentation_loss("dice", num_classes=2, ignore_index=255)(logits, mask)
    combined = build_segmentation_loss("ce+0.5*dice", num_classes=2, ignore_index=255)(logits, mask)
    assert combined.item() == pytest.approx(ce.item() + 0.5 * dice.item(), rel=1e-6)


@pytest.mark.parametrize("spec", ["ce", "dice", "focal", "0.7*focal+0.3*dice"])
def test_ignored_pixels_do_not_affect_loss(spec: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 6, 6)
    mask = torch.randint(0, 3, (2, 6, 6))
    mask[:, :2] = 255
    loss_fn = build_segmentation_loss(spec, num_classes=3, ignore_index=255)
    altered = logits.clone()
    altered[:, :, :2] = torch.randn(2, 3, 2, 6) * 10
    assert loss_fn(altered, mask).item() == pytest.approx(loss_fn(logits, mask).item(), rel=1e-6)
    # and changing a non-ignored pixel does change it
    altered[:, :, 3] += 5 * torch.randn(2, 3, 6)
    assert loss_fn(altered, mask).item() != pytest.approx(loss_fn(logits, mask).item(), rel=1e-6)


@pytest.mark.parametrize("spec", ["ce", "dice", "focal"])
def test_all_ignored_gives_zero_with_gradient(spec: str) -> None:
    logits = torch.randn(1, 2, 3, 3, requires_grad=True)
    mask = torch.full((1, 3, 3), 255)
    loss = build_segmentation_loss(spec, num_classes=2, ignore_index=255)(logits, mask)
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None


@pytest.mark.parametrize("spec", ["ce", "focal", "dice"])
def test_class_weights_change_the_loss(spec: str) -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 4)
    mask = torch.randint(0, 3, (2, 4, 4))
    plain = build_segmentation_loss(spec, num_classes=3)(logits, mask)
    weighted = build_segmentation_loss(spec, num_classes=3, class_weights=[1.0, 10.0, 0.1])(logits, mask)
    assert weighted.item() != pytest.approx(plain.item(), rel=1e-4)


def test_class_weights_must_match_classes() -> None:
    with pytest.raises(ConfigError, match="one weight per class"):
        build_segmentation_loss("ce", num_classes=3, class_weights=[1.0, 2.0])


def test_regression_losses_skip_invalid() -> None:
    pred = torch.tensor([1.0, 2.0, 100.0])
    target = torch.tensor([0.0, 4.0, float("nan")])
    valid = torch.isfinite(target)
    assert build_regression_loss("mse")(pred, target, valid).item() == pytest.approx((1 + 4) / 2)
    assert build_regression_loss("mae")(pred, target, valid).item() == pytest.approx((1 + 2) / 2)
    # huber (delta 1): 0.5*1^2 for |d|=1, 1*(2-0.5) for |d|=2
    assert build_regression_loss("huber")(pred, target, valid).item() == pytest.approx((0.5 + 1.5) / 2)
    with pytest.raises(ConfigError, match="mse, mae, huber"):
        build_regression_loss("ce")


def test_multilabel_bce() -> None:
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    valid = torch.tensor([[True, True], [True, False]])
    loss = build_classification_loss("bce", num_classes=2, multilabel=True)(logits, target, valid)
    expected = F.binary_cross_entropy_with_logits(logits[valid], target[valid])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ConfigError, match="valid losses are bce"):
        build_classification_loss("ce", num_classes=2, multilabel=True)
