"""Building a detection decoder (a detector) on a synthetic pyramid and running it in training and eval mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from geofm.contracts import DetectorModule, check_built
from geofm.plugin_check._models import synthetic_features
from geofm.plugin_check._rows import CheckFailed, Rows
from geofm.specs import DecoderSpec

__all__ = ["check_detector"]

_SIZE = 64
_CHANNELS = [32] * 4
_REDUCTIONS = [4, 8, 16, 32]
_CLASSES = 2


def _targets(with_masks: bool) -> list[dict[str, Tensor]]:
    target = {"boxes": torch.tensor([[8.0, 8.0, 40.0, 48.0]]), "labels": torch.tensor([1])}
    if with_masks:
        mask = torch.zeros(1, _SIZE, _SIZE, dtype=torch.uint8)
        mask[:, 8:48, 8:40] = 1
        target["masks"] = mask
    return [target]


def _check_losses(name: str, losses: Any) -> str:
    if not isinstance(losses, Mapping) or not losses:
        raise CheckFailed(
            f"{name}: in training mode with targets it must return its losses by name, not {type(losses)}"
        )
    for key, value in losses.items():
        if not isinstance(value, Tensor) or value.numel() != 1 or not torch.isfinite(value):
            raise CheckFailed(f"{name}: loss {key!r} is {value!r}, not a finite scalar tensor")
    return f"losses {', '.join(losses)} in training"


def _check_detections(name: str, detections: Any, with_masks: bool) -> None:
    if not isinstance(detections, list | tuple) or len(detections) != 1:
        raise CheckFailed(
            f"{name}: in eval mode it must return one dict of detections per image, not {type(detections)}"
        )
    [found] = detections
    keys = ("boxes", "labels", "scores", "masks") if with_masks else ("boxes", "labels", "scores")
    missing = [key for key in keys if not isinstance(found, Mapping) or key not in found]
    if missing:
        raise CheckFailed(f"{name}: its detections lack {', '.join(missing)}")
    count = int(found["boxes"].shape[0])
    if tuple(found["boxes"].shape) != (count, 4):
        raise CheckFailed(f"{name}: detected boxes must be (N, 4), not {tuple(found['boxes'].shape)}")
    for key in ("labels", "scores"):
        if tuple(found[key].shape) != (count,):
            raise CheckFailed(f"{name}: detected {key} must be (N,) = ({count},), not {tuple(found[key].shape)}")


def check_detector(spec: DecoderSpec, rows: Rows) -> None:
    """Rows ``build`` and ``forward`` of a decoder for detection or instance segmentation.

    Built with ``num_classes`` on a four-level pyramid and checked against
    :class:`geofm.contracts.DetectorModule`; run in training mode with one object (losses by name) and in
    eval mode (one dict of boxes, labels and scores, and masks for instance segmentation, per image).
    """
    name = f"decoder {spec.name}"
    with_masks = "instance_segmentation" in spec.tasks
    module = None
    with rows.check("decoder", spec.name, "build") as notes:
        built = spec.load_factory()(in_channels=list(_CHANNELS), in_reductions=list(_REDUCTIONS), num_classes=_CLASSES)
        check_built("decoders", built, spec, contract=DetectorModule)
        notes.append(f"a detector of {_CLASSES} classes on 4 map features, reductions {_REDUCTIONS}")
        module = built
    if module is None:
        return
    with rows.check("decoder", spec.name, "forward") as notes:
        features, _ = synthetic_features("maps", len(_CHANNELS), _REDUCTIONS)
        images = torch.randn(1, 3, _SIZE, _SIZE, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            module.train()
            notes.append(_check_losses(name, module(features, images, [(_SIZE, _SIZE)], _targets(with_masks))))
            module.eval()
            _check_detections(name, module(features, images, [(_SIZE, _SIZE)], None), with_masks)
        notes.append("one dict of detections per image in eval")
