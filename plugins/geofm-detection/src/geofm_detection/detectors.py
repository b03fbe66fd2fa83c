"""The detection decoders: torchvision's Faster R-CNN, Mask R-CNN, RetinaNet and FCOS on geofm features.

Each factory takes the features the composed model hands it (``in_channels`` / ``in_reductions`` per
level, finest first: a CNN's stages or a ViT's interpolated pyramid) and builds a torchvision
``FeaturePyramidNetwork`` over them, plus one max-pooled level on top (torchvision's
``LastLevelMaxPool``), anchors sized from the levels' reductions, and the torchvision model with its own
heads, losses, proposal sampling, NMS and post-processing. Images are not resized or normalised again:
geofm's data pipeline has done that for any number of bands.

Default anchors follow the reductions, so they suit small objects in 64-512 px chips whatever the
backbone: a base size of 4 x the level's reduction (16, 32, 64, 128, 256 px on reductions 4 .. 64),
aspect ratios 0.5, 1, 2; RetinaNet adds its three octave scales per level; FCOS places one point per
location of the size of the level's reduction, as torchvision's FCOS does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, MaskRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops import MultiScaleRoIAlign

from geofm.errors import ConfigError
from geofm_detection._torchvision import ChipTransform, GivenFeatures, TorchvisionDetector, check_inputs

__all__ = [
    "DEFAULT_ANCHOR_SCALE",
    "AnchorDetectorOptions",
    "anchor_sizes_for",
    "build_faster_rcnn",
    "build_fcos",
    "build_mask_rcnn",
    "build_rcnn",
    "build_retinanet",
]

DEFAULT_ANCHOR_SCALE = 4.0
"""Base anchor size of a level, as a multiple of its reduction (torchvision's COCO models use 8)."""
_OCTAVES = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))  # RetinaNet's three anchor scales per level


def _level_reductions(in_reductions: Sequence[int]) -> list[int]:
    """The reductions of the pyramid's levels: the inputs' and the max-pooled extra level (twice the last)."""
    reductions = [int(r) for r in in_reductions]
    return [*reductions, 2 * reductions[-1]]


def anchor_sizes_for(
    name: str,
    in_reductions: Sequence[int],
    anchor_sizes: Sequence[float | Sequence[float]] | None,
    *,
    scale: float = DEFAULT_ANCHOR_SCALE,
    octaves: Sequence[float] = (1.0,),
) -> tuple[tuple[int, ...], ...]:
    """The anchor sizes per pyramid level (the input levels, then the extra level), in pixels.

    ``anchor_sizes`` gives one base size (a number, multiplied by each of ``octaves``) or a sequence of
    sizes per level; ``None`` takes ``scale`` x each level's reduction.
    """
    reductions = _level_reductions(in_reductions)
    if anchor_sizes is None:
        anchor_sizes = [scale * r for r in reductions]
    if len(anchor_sizes) != len(reductions):
        raise ConfigError(
            f"decoder {name}: anchor_sizes has {len(anchor_sizes)} entries but the pyramid has {len(reductions)} "
            f"levels (reductions {reductions}: the inputs and one max-pooled level); give one per level"
        )
    sizes: list[tuple[int, ...]] = []
    for entry in anchor_sizes:
        values = [float(v) for v in entry] if isinstance(entry, Sequence) else [float(entry) * o for o in octaves]
        if not values or any(v <= 0 for v in values):
            raise ConfigError(f"decoder {name}: anchor sizes must be positive numbers, got {list(anchor_sizes)}")
        sizes.append(tuple(max(1, round(v)) for v in values))
    return tuple(sizes)


@dataclass(frozen=True)
class AnchorDetectorOptions:
    """The options Faster R-CNN, Mask R-CNN and RetinaNet share (a decoder's ``--set decoder.KEY=...``).

    ``fpn_channels``: width of the feature pyramid. ``anchor_sizes``: one base size per pyramid level (the
    inputs, then the max-pooled level), default 4 x the level's reduction; ``aspect_ratios`` (height /
    width) apply on every level. ``min_score``, ``nms_iou`` (per class) and ``detections_per_image`` shape
    the detections returned in eval mode.
    """

    fpn_channels: int = 256
    anchor_sizes: Sequence[float | Sequence[float]] | None = None
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0)
    min_score: float = 0.05
    nms_iou: float = 0.5
    detections_per_image: int = 100


def _anchors(sizes: tuple[tuple[int, ...], ...], aspect_ratios: Sequence[float]) -> AnchorGenerator:
    ratios = tuple(float(r) for r in aspect_ratios)
    if not ratios or any(r <= 0 for r in ratios):
        raise ConfigError(f"aspect_ratios must be positive numbers (height / width), got {list(aspect_ratios)}")
    return AnchorGenerator(sizes, (ratios,) * len(sizes))


def _rcnn_kwargs(backbone: GivenFeatures, anchors: AnchorGenerator, options: AnchorDetectorOptions) -> dict[str, Any]:
    return {
        "rpn_anchor_generator": anchors,
        "box_roi_pool": MultiScaleRoIAlign(backbone.names, output_size=7, sampling_ratio=2),
        "box_score_thresh": float(options.min_score),
        "box_nms_thresh": float(options.nms_iou),
        "box_detections_per_img": int(options.detections_per_image),
    }


def build_faster_rcnn(
    in_channels: Sequence[int], in_reductions: Sequence[int], num_classes: int, **options: Any
) -> TorchvisionDetector:
    """Faster R-CNN (torchvision): FPN, region proposal network on every level, RoIAlign box head.

    ``options``: the fields of :class:`AnchorDetectorOptions`.
    """
    return build_rcnn(in_channels, in_reductions, num_classes, AnchorDetectorOptions(**options), masks=False)


def build_mask_rcnn(
    in_channels: Sequence[int], in_reductions: Sequence[int], num_classes: int, **options: Any
) -> TorchvisionDetector:
    """Mask R-CNN (torchvision): Faster R-CNN plus a RoIAlign mask head; masks (N, 1, H, W) probabilities.

    Targets carry ``masks`` (N, H, W) uint8 in the chip. ``options``: the fields of
    :class:`AnchorDetectorOptions`.
    """
    return build_rcnn(in_channels, in_reductions, num_classes, AnchorDetectorOptions(**options), masks=True)


def build_rcnn(
    in_channels: Sequence[int],
    in_reductions: Sequence[int],
    num_classes: int,
    options: AnchorDetectorOptions,
    *,
    masks: bool,
) -> TorchvisionDetector:
    """A two-stage R-CNN (torchvision): Faster R-CNN, with Mask R-CNN's RoIAlign mask head when ``masks``."""
    name = "mask_rcnn" if masks else "faster_rcnn"
    check_inputs(name, in_channels, in_reductions, num_classes)
    backbone = GivenFeatures(in_channels, options.fpn_channels)
    anchors = _anchors(anchor_sizes_for(name, in_reductions, options.anchor_sizes), options.aspect_ratios)
    heads = _rcnn_kwargs(backbone, anchors, options)
    if masks:
        heads["mask_roi_pool"] = MultiScaleRoIAlign(backbone.names, output_size=14, sampling_ratio=2)
    model = (MaskRCNN if masks else FasterRCNN)(backbone, num_classes=int(num_classes) + 1, **heads)
    model.transform = ChipTransform()
    return TorchvisionDetector(model, num_classes=num_classes, label_offset=1, masks=masks)


def _check_group_norm(name: str, fpn_channels: int) -> None:
    # GroupNorm of one channel per group cannot normalise the 1 x 1 top level of a small chip
    if int(fpn_channels) % 32 or int(fpn_channels) < 64:
        raise ConfigError(
            f"decoder {name}: fpn_channels must be a multiple of 32 and at least 64 (its head uses GroupNorm "
            f"with 32 groups, and the top level of a small chip is 1 x 1), got {fpn_channels}"
        )


def build_retinanet(
    in_channels: Sequence[int], in_reductions: Sequence[int], num_classes: int, **options: Any
) -> TorchvisionDetector:
    """RetinaNet (torchvision): dense anchors, focal loss; its head with GroupNorm (as torchvision's v2).

    ``options``: the fields of :class:`AnchorDetectorOptions`; here each ``anchor_sizes`` base size is
    taken at three octave scales (1, 2^1/3, 2^2/3), or an explicit sequence of sizes per level is given,
    and ``fpn_channels`` must be a multiple of 32, at least 64.
    """
    settings = AnchorDetectorOptions(**options)
    check_inputs("retinanet", in_channels, in_reductions, num_classes)
    _check_group_norm("retinanet", settings.fpn_channels)
    backbone = GivenFeatures(in_channels, settings.fpn_channels)
    sizes = anchor_sizes_for("retinanet", in_reductions, settings.anchor_sizes, octaves=_OCTAVES)
    anchors = _anchors(sizes, settings.aspect_ratios)
    head = RetinaNetHead(
        backbone.out_channels,
        anchors.num_anchors_per_location()[0],
        int(num_classes),
        norm_layer=partial(nn.GroupNorm, 32),
    )
    model = RetinaNet(
        backbone,
        num_classes=int(num_classes),
        anchor_generator=anchors,
        head=head,
        score_thresh=float(settings.min_score),
        nms_thresh=float(settings.nms_iou),
        detections_per_img=int(settings.detections_per_image),
    )
    model.transform = ChipTransform()
    return TorchvisionDetector(model, num_classes=num_classes, label_offset=0)


def build_fcos(
    in_channels: Sequence[int],
    in_reductions: Sequence[int],
    num_classes: int,
    *,
    fpn_channels: int = 256,
    center_sampling_radius: float = 1.5,
    min_score: float = 0.05,
    nms_iou: float = 0.6,
    detections_per_image: int = 100,
) -> TorchvisionDetector:
    """FCOS (torchvision): anchor-free, one point per location; objects go to levels by size.

    A level of reduction r takes objects whose largest distance from a point to a box side lies between
    4r and 8r (the finest level everything below, the coarsest everything above), as torchvision's FCOS.
    ``fpn_channels`` must be a multiple of 32, at least 64. Other options as :func:`build_faster_rcnn`.
    """
    check_inputs("fcos", in_channels, in_reductions, num_classes)
    _check_group_norm("fcos", fpn_channels)
    backbone = GivenFeatures(in_channels, fpn_channels)
    anchors = _anchors(anchor_sizes_for("fcos", in_reductions, None, scale=1.0), (1.0,))
    model = FCOS(
        backbone,
        num_classes=int(num_classes),
        anchor_generator=anchors,
        center_sampling_radius=float(center_sampling_radius),
        score_thresh=float(min_score),
        nms_thresh=float(nms_iou),
        detections_per_img=int(detections_per_image),
    )
    # torchvision starts the box sides at relu(~0): on a backbone without pretrained weights, whose features
    # barely differ between locations, a side can start (and stay) dead everywhere. Start each side one
    # stride from its point instead, so every side trains.
    nn.init.constant_(model.head.regression_head.bbox_reg.bias, 1.0)
    model.transform = ChipTransform()
    return TorchvisionDetector(model, num_classes=num_classes, label_offset=0)
