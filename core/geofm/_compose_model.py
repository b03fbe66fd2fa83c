"""The composed model: backbone -> necks -> decoder -> head, with padding to the patch size and cropping back."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from geofm.contracts import check_features
from geofm.features import FeatureContext
from geofm.vocabulary import DENSE_TASKS

__all__ = ["AuxBranch", "ComposedModel", "DetectionModel"]


def _dense_output(logits: Tensor, padded: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """Resize ``logits`` to the padded input size (bilinear) and crop to the original ``size``."""
    if tuple(logits.shape[-2:]) != padded:
        logits = F.interpolate(logits, size=padded, mode="bilinear", align_corners=False)
    return logits[..., : size[0], : size[1]]


class AuxBranch(nn.Module):
    """An auxiliary head on one backbone feature: its necks, its own decoder and a dense head."""

    def __init__(self, necks: Sequence[nn.Module], decoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.necks = nn.ModuleList(necks)
        self.decoder = decoder
        self.head = head

    def forward(self, features: list[Tensor], context: FeatureContext) -> Tensor:
        """Logits at the decoder's resolution."""
        for neck in self.necks:
            features = neck(features, context)
        return self.head(self.decoder(features))


class ComposedModel(nn.Module):
    """backbone -> necks -> decoder -> head as one module.

    ``forward(image, **meta)`` takes (B, C, H, W) or (B, C, T, H, W) of any H, W: the input is padded with
    zeros to a multiple of the backbone's patch size (tokens) or largest reduction (maps), and dense
    outputs are resized to the padded size and cropped back to (B, K, H, W). Classification gives (B, K).
    ``neck_plan`` records the necks as built (including those inserted automatically).
    """

    def __init__(
        self,
        backbone: nn.Module,
        necks: Sequence[nn.Module],
        decoder: nn.Module,
        head: nn.Module,
        *,
        neck_plan: Sequence[Mapping[str, Any]],
        task_type: str,
        aux_heads: Mapping[str, AuxBranch] | None = None,
        aux_weights: Mapping[str, float] | None = None,
        pad_multiple: int | None = None,
        backbone_name: str = "",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.necks = nn.ModuleList(necks)
        self.decoder = decoder
        self.head = head
        self.aux_heads = nn.ModuleDict(dict(aux_heads or {}))
        self.aux_weights: dict[str, float] = dict(aux_weights or {})
        self.neck_plan: list[dict[str, Any]] = [dict(n) for n in neck_plan]
        self.task_type = task_type
        self.output_kind: str = backbone.output_kind
        tokens = self.output_kind == "tokens"
        self.patch_size: int = int(backbone.patch_size) if tokens else 1
        base = self.patch_size if tokens else max(int(r) for r in backbone.out_reductions)
        self.pad_multiple: int = math.lcm(base, int(pad_multiple or 1))
        self.num_prefix_tokens: int = int(getattr(backbone, "num_prefix_tokens", 0)) if tokens else 0
        self.tubelet_size: int = int(getattr(backbone, "tubelet_size", 1))
        self.backbone_name: str = backbone_name or type(backbone).__name__
        self._features_checked = False

    @property
    def dense(self) -> bool:
        """Whether the output is a map (segmentation, regression) rather than a vector."""
        return self.task_type in DENSE_TASKS

    def _pad(self, image: Tensor) -> tuple[Tensor, tuple[int, int]]:
        height, width = image.shape[-2:]
        multiple = self.pad_multiple
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h))
        return image, (height + pad_h, width + pad_w)

    def _context(self, image: Tensor, padded: tuple[int, int]) -> FeatureContext:
        grid = None
        if self.output_kind == "tokens":
            frames = image.shape[2] if image.ndim == 5 else 1
            grid = (frames // self.tubelet_size, padded[0] // self.patch_size, padded[1] // self.patch_size)
        return FeatureContext(image_size=padded, grid=grid, num_prefix_tokens=self.num_prefix_tokens)

    def _backbone_features(self, image: Tensor, padded: tuple[int, int], meta: Mapping[str, Any]) -> list[Tensor]:
        """The backbone's features; the first call checks them against what the backbone declares."""
        features = self.backbone.forward_features(image, **meta)
        if not self._features_checked:
            frames = int(image.shape[2]) if image.ndim == 5 else 1
            check_features(features, self.backbone, padded, frames=frames, name=f"backbone {self.backbone_name}")
            self._features_checked = True
        return features

    def forward_with_aux(self, image: Tensor, **meta: Any) -> tuple[Tensor, dict[str, Tensor]]:
        """Main output and the auxiliary heads' logits (keyed ``aux_0`` ..., already at input size)."""
        size = (int(image.shape[-2]), int(image.shape[-1]))
        padded_image, padded = self._pad(image)
        features = self._backbone_features(padded_image, padded, meta)
        context = self._context(padded_image, padded)
        outputs = features
        for neck in self.necks:
            outputs = neck(outputs, context)
        result = self.head(self.decoder(outputs))
        if self.dense:
            result = _dense_output(result, padded, size)
        aux = {name: _dense_output(branch(features, context), padded, size) for name, branch in self.aux_heads.items()}
        return result, aux

    def forward(self, image: Tensor, **meta: Any) -> Tensor:
        """Logits (B, K, H, W) for dense tasks, (B, K) for classification."""
        size = (int(image.shape[-2]), int(image.shape[-1]))
        padded_image, padded = self._pad(image)
        features = self._backbone_features(padded_image, padded, meta)
        context = self._context(padded_image, padded)
        for neck in self.necks:
            features = neck(features, context)
        result = self.head(self.decoder(features))
        return _dense_output(result, padded, size) if self.dense else result


class DetectionModel(ComposedModel):
    """backbone -> necks -> detector: the objects in each image (boxes, classes, scores, and masks).

    ``forward(image, targets=None, **meta)`` pads ``image`` (B, C, H, W) at the bottom and right (so box
    coordinates are unchanged), runs the backbone and necks, and hands the features to the detector
    decoder (:class:`geofm.contracts.DetectorModule`). In training mode, with ``targets`` (one dict per
    image: ``boxes`` (N, 4) float x1, y1, x2, y2 in pixels of the chip, ``labels`` (N,) int64 class indices
    of the dataset, and ``masks`` (N, H, W) uint8 for instance segmentation), it returns the detector's
    losses by name; in eval mode one dict per image with ``boxes``, ``labels``, ``scores`` (and ``masks``
    (N, 1, H, W) probabilities), in the same coordinates and class indices.
    """

    def forward(  # type: ignore[override]
        self,
        image: Tensor,
        targets: list[dict[str, Tensor]] | None = None,
        image_sizes: Sequence[Sequence[int]] | Tensor | None = None,
        **meta: Any,
    ) -> Any:
        """Losses (training, with ``targets``) or detections (eval), as the class docstring says.

        ``image_sizes`` (B, 2) are the (height, width) of each image before a batch padded it (the
        ``image_sizes`` of a detection batch); by default every image fills the batch.
        """
        size = (int(image.shape[-2]), int(image.shape[-1]))
        sizes = [size] * int(image.shape[0])
        if image_sizes is not None:
            rows = image_sizes.tolist() if isinstance(image_sizes, Tensor) else image_sizes
            sizes = [(int(h), int(w)) for h, w in rows]
        padded_image, padded = self._pad(image)
        features = self._backbone_features(padded_image, padded, meta)
        context = self._context(padded_image, padded)
        for neck in self.necks:
            features = neck(features, context)
        return self.decoder(features, padded_image, sizes, targets)

    def forward_with_aux(self, image: Tensor, **meta: Any) -> tuple[Any, dict[str, Tensor]]:
        """Detections and no auxiliary outputs (detection runs have no auxiliary heads)."""
        return self(image, **meta), {}
