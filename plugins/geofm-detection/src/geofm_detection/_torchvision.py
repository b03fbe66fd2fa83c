"""Running a torchvision detection model on features that a geofm backbone and necks already computed.

torchvision's detectors take images: they resize and normalise them (``GeneralizedRCNNTransform``), run
their backbone, then compute anchors, losses, proposals, NMS and post-processing. Here the images are
already normalised and padded by geofm and the features already exist, so :class:`GivenFeatures` (the
torchvision model's backbone) returns a feature pyramid of the features it is handed for one call, and
:class:`ChipTransform` (its transform) batches the padded images as they are, with each chip's true size.
Everything else is torchvision's own code, called through the model's public ``forward``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from geofm.errors import ConfigError, DataError

__all__ = ["ChipBatch", "ChipTransform", "GivenFeatures", "TorchvisionDetector", "check_inputs"]


def check_inputs(name: str, in_channels: Sequence[int], in_reductions: Sequence[int], num_classes: int) -> None:
    """Raise a ConfigError unless the decoder ``name`` got one reduction per channel entry and classes >= 1."""
    if not in_channels or len(in_channels) != len(in_reductions):
        raise ConfigError(
            f"decoder {name} needs one reduction per input level; got in_channels={list(in_channels)} and "
            f"in_reductions={list(in_reductions)}"
        )
    if any(int(r) <= 0 for r in in_reductions):
        raise ConfigError(f"decoder {name} needs maps (reductions > 0), got in_reductions={list(in_reductions)}")
    if int(num_classes) < 1:
        raise ConfigError(f"decoder {name} needs num_classes >= 1 (the dataset's classes), got {num_classes}")


class GivenFeatures(nn.Module):
    """The torchvision model's backbone: an FPN (plus a max-pooled extra level) over the features handed to it.

    ``forward(tensors)`` ignores the image tensor and returns the pyramid of the features held by
    :meth:`holding`, keyed ``"0"``, ``"1"`` ... (input levels, finest first) and ``"pool"``;
    ``out_channels`` is the pyramid's width, as torchvision reads it.
    """

    def __init__(self, in_channels: Sequence[int], fpn_channels: int) -> None:
        super().__init__()
        if int(fpn_channels) < 1:
            raise ConfigError(f"fpn_channels must be >= 1, got {fpn_channels}")
        self.names = [str(index) for index in range(len(in_channels))]
        self.fpn = FeaturePyramidNetwork([int(c) for c in in_channels], int(fpn_channels), LastLevelMaxPool())
        self.out_channels = int(fpn_channels)
        self._held: list[Tensor] | None = None

    @contextmanager
    def holding(self, features: Sequence[Tensor]) -> Iterator[None]:
        """Hand ``features`` (one map per input level) to the next ``forward`` calls inside the block."""
        if len(features) != len(self.names):
            raise DataError(f"the detector was built for {len(self.names)} feature levels but got {len(features)}")
        self._held = list(features)
        try:
            yield
        finally:
            self._held = None

    def forward(self, tensors: Tensor) -> OrderedDict[str, Tensor]:
        """The feature pyramid of the held features (``tensors``, the padded images, only sets the call)."""
        if self._held is None:
            raise RuntimeError("GivenFeatures runs inside GivenFeatures.holding(features); call the detector instead")
        return self.fpn(OrderedDict(zip(self.names, self._held, strict=True)))


class ChipBatch(list):  # type: ignore[type-arg]
    """The images of a batch, each cropped to its true size, and the padded batch ``padded`` (B, C, H, W)."""

    def __init__(self, padded: Tensor, image_sizes: Sequence[tuple[int, int]]) -> None:
        super().__init__(image[:, : int(h), : int(w)] for image, (h, w) in zip(padded, image_sizes, strict=True))
        self.padded = padded


class ChipTransform(GeneralizedRCNNTransform):
    """torchvision's transform without resizing or normalisation: the padded batch as it is.

    ``forward`` returns an ``ImageList`` of a :class:`ChipBatch`'s padded tensor and each chip's size (a
    plain list of images is padded at the bottom and right to a multiple of ``size_divisible``);
    ``postprocess`` (inherited) keeps boxes where they are and pastes Mask R-CNN's masks into the chip.
    """

    def __init__(self) -> None:
        super().__init__(min_size=1, max_size=1, image_mean=[0.0], image_std=[1.0])

    def forward(  # type: ignore[override]
        self, images: Sequence[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> tuple[ImageList, list[dict[str, Tensor]] | None]:
        """The batch (B, C, H, W) and the true image sizes; ``targets`` unchanged."""
        sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        padded = getattr(images, "padded", None)
        if padded is None:
            padded = self.batch_images(list(images), size_divisible=self.size_divisible)
        return ImageList(padded, sizes), targets

    def __repr__(self) -> str:
        return f"{type(self).__name__}(no resizing, no normalisation)"


class TorchvisionDetector(nn.Module):
    """A torchvision detection model on geofm features: geofm's detector contract around torchvision's own.

    ``detector`` is the torchvision model, built with a :class:`GivenFeatures` backbone and a
    :class:`ChipTransform`. ``label_offset`` is 1 for the R-CNNs (torchvision's class 0 is background) and
    0 for RetinaNet and FCOS (sigmoid classifiers over the classes themselves); geofm's labels are always
    the dataset's class indices 0 .. ``num_classes`` - 1. ``masks``: targets carry instance masks.
    ``forward(features, images, image_sizes, targets)`` follows :class:`geofm.contracts.DetectorModule`;
    the detector runs in float32 whatever the autocast precision of the backbone.
    """

    def __init__(self, detector: nn.Module, *, num_classes: int, label_offset: int, masks: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self.num_classes = int(num_classes)
        self.label_offset = int(label_offset)
        self.masks = bool(masks)

    def _target(self, target: dict[str, Tensor], index: int, size: tuple[int, int]) -> dict[str, Tensor]:
        boxes, labels = target.get("boxes"), target.get("labels")
        if boxes is None or labels is None:
            raise DataError(f"target {index} needs 'boxes' (N, 4) and 'labels' (N,); it has {', '.join(target)}")
        boxes = boxes.reshape(-1, 4).float() if boxes.numel() == 0 else boxes.float()
        labels = labels.reshape(-1).long()
        if boxes.ndim != 2 or boxes.shape[1] != 4 or len(labels) != len(boxes):
            raise DataError(
                f"target {index}: boxes must be (N, 4) and labels (N,); got {tuple(boxes.shape)} and "
                f"{tuple(labels.shape)}"
            )
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise DataError(
                f"target {index}: labels must be class indices 0..{self.num_classes - 1}; got "
                f"{sorted(set(labels.tolist()))}. Is num_classes the dataset's?"
            )
        converted = {"boxes": boxes, "labels": labels + self.label_offset}
        if self.masks:
            masks = target.get("masks")
            if masks is None:
                raise DataError(f"target {index} needs 'masks' (N, H, W) for instance segmentation")
            if masks.numel() == 0:
                masks = masks.new_zeros((0, *size), dtype=torch.uint8)
            if masks.ndim != 3 or len(masks) != len(boxes):
                raise DataError(
                    f"target {index}: masks must be (N, H, W) with N = {len(boxes)}; got {tuple(masks.shape)}"
                )
            converted["masks"] = masks.to(torch.uint8)
        return converted

    def _detections(self, detection: dict[str, Tensor]) -> dict[str, Tensor]:
        result = {
            "boxes": detection["boxes"],
            "labels": detection["labels"] - self.label_offset,
            "scores": detection["scores"],
        }
        if "masks" in detection:
            result["masks"] = detection["masks"]
        return result

    def forward(
        self,
        features: list[Tensor],
        images: Tensor,
        image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> Any:
        """Losses by name (training mode, ``targets`` required) or one dict of detections per image (eval)."""
        if len(image_sizes) != len(images):
            raise DataError(f"{len(images)} images but {len(image_sizes)} image sizes")
        converted = None
        if targets is not None:
            if len(targets) != len(images):
                raise DataError(f"{len(images)} images but {len(targets)} targets: give one target dict per image")
            converted = [
                self._target(t, i, (int(s[0]), int(s[1])))
                for i, (t, s) in enumerate(zip(targets, image_sizes, strict=True))
            ]
        elif self.training:
            raise DataError(
                "a detector in training mode needs targets (one dict of boxes and labels per image); "
                "call .eval() for detections"
            )
        # float32 without autocast: anchors, box codes and decoded boxes take the maps' dtype, and bf16 is
        # 2 px coarse beyond 256 px; the backbone before this keeps the run's precision
        with (
            torch.autocast(images.device.type, enabled=False),
            self.detector.backbone.holding([feature.float() for feature in features]),
        ):
            output = self.detector(ChipBatch(images.float(), image_sizes), converted)
        if self.training:
            return dict(output)
        return [self._detections(detection) for detection in output]
