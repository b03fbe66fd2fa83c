"""The built-in heads: decoder output -> logits (segmentation), values (regression) or class scores.

Dense heads keep the decoder's resolution; the composed model resizes their output to the input size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from torch import Tensor, nn

from geofm.errors import DataError, IncompatibleComponentsError

__all__ = ["ClassificationHead", "RegressionHead", "SegmentationHead"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
}


class SegmentationHead(nn.Module):
    """Maps (B, C, h, w) -> class logits (B, K, h, w): optional 3x3 conv block, dropout, 1x1 conv."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1, extra_conv: bool = False) -> None:
        super().__init__()
        if num_classes < 1:
            raise IncompatibleComponentsError(f"segmentation head: num_classes must be >= 1, got {num_classes}")
        layers: list[nn.Module] = []
        if extra_conv:
            layers += [
                nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.Dropout2d(dropout), nn.Conv2d(in_channels, num_classes, kernel_size=1)]
        self.layers = nn.Sequential(*layers)
        self.out_channels = num_classes

    def forward(self, x: Tensor) -> Tensor:
        """Logits at the decoder's resolution."""
        return self.layers(x)


class RegressionHead(nn.Module):
    """Maps (B, C, h, w) -> values (B, num_outputs, h', w').

    ``learned_upsample`` stride-2 transposed convolutions come first (each doubles h and w); ``activation``
    (``relu``, ``sigmoid``, ``softplus``, ``tanh`` or ``None``) bounds the output.
    """

    def __init__(
        self,
        in_channels: int,
        num_outputs: int = 1,
        learned_upsample: int = 0,
        activation: Literal["relu", "sigmoid", "softplus", "tanh"] | None = None,
    ) -> None:
        super().__init__()
        if activation is not None and activation not in _ACTIVATIONS:
            raise IncompatibleComponentsError(
                f"regression head: activation {activation!r} is not one of {', '.join(_ACTIVATIONS)} or None"
            )
        layers: list[nn.Module] = []
        for _ in range(learned_upsample):
            layers += [nn.ConvTranspose2d(in_channels, in_channels, kernel_size=2, stride=2), nn.GELU()]
        layers.append(nn.Conv2d(in_channels, num_outputs, kernel_size=1))
        if activation is not None:
            layers.append(_ACTIVATIONS[activation]())
        self.layers = nn.Sequential(*layers)
        self.out_channels = num_outputs
        self.upsample = 2**learned_upsample

    def forward(self, x: Tensor) -> Tensor:
        """Values at the decoder's resolution times ``2 ** learned_upsample``."""
        return self.layers(x)


class ClassificationHead(nn.Module):
    """Vectors (B, F) -> class scores (B, K) through an MLP with ``hidden`` widths.

    ``pool`` (``"mean"`` or ``"max"``) first pools maps (B, F, h, w) globally; without it the input must
    already be a vector.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
        pool: Literal["mean", "max"] | None = None,
    ) -> None:
        super().__init__()
        if pool not in (None, "mean", "max"):
            raise IncompatibleComponentsError(f"classification head: pool {pool!r} is not one of mean, max or None")
        self.pool = pool
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.GELU(), nn.Dropout(dropout)]
            width = size
        layers += [nn.Dropout(dropout), nn.Linear(width, num_classes)]
        self.layers = nn.Sequential(*layers)
        self.out_channels = num_classes

    def forward(self, x: Tensor) -> Tensor:
        """Class scores (logits)."""
        if x.ndim == 4:
            if self.pool is None:
                raise DataError("classification head received maps (B, C, h, w); build it with pool='mean' or 'max'")
            x = x.mean(dim=(-2, -1)) if self.pool == "mean" else x.amax(dim=(-2, -1))
        return self.layers(x)
