"""Per-pixel decoders on the last level (linear probe, MLP) and the identity (for classification heads)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from geofm_decoders._common import check_levels

__all__ = ["IdentityDecoder", "LinearDecoder", "MLPDecoder"]


class LinearDecoder(nn.Module):
    """Linear probe: batch norm (optional) and an optional 1x1 linear projection of the last feature.

    Followed by the segmentation head's 1x1 classifier this is a per-pixel linear classifier (the DINOv2
    linear-probe recipe). Options: ``norm`` (default True), ``channels`` (project to this width; default
    none, keep the feature width).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        in_reductions: Sequence[int],
        norm: bool = True,
        channels: int | None = None,
    ) -> None:
        super().__init__()
        check_levels("linear", in_channels, in_reductions)
        in_ch = in_channels[-1]
        self.norm = nn.BatchNorm2d(in_ch) if norm else nn.Identity()
        self.proj = nn.Conv2d(in_ch, channels, 1) if channels else nn.Identity()
        self.out_channels = channels or in_ch
        self.out_reduction = in_reductions[-1]

    def forward(self, features: list[Tensor]) -> Tensor:
        """Last feature (B, C, h, w) -> (B, out_channels, h, w)."""
        return self.proj(self.norm(features[-1]))


class MLPDecoder(nn.Module):
    """A per-pixel MLP (timm ``Mlp`` with 1x1 convolutions) on the last feature.

    Options: ``hidden_channels`` (default 256), ``channels`` (output width, default 256), ``dropout``
    (default 0).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        in_reductions: Sequence[int],
        hidden_channels: int = 256,
        channels: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        from timm.layers import Mlp

        check_levels("mlp", in_channels, in_reductions)
        self.mlp = Mlp(in_channels[-1], hidden_channels, channels, drop=dropout, use_conv=True)
        self.out_channels = channels
        self.out_reduction = in_reductions[-1]

    def forward(self, features: list[Tensor]) -> Tensor:
        """Last feature (B, C, h, w) -> (B, channels, h, w)."""
        return self.mlp(features[-1])


class IdentityDecoder(nn.Module):
    """Pass the last feature through unchanged (maps or vectors), e.g. for a classification head."""

    def __init__(self, *, in_channels: Sequence[int], in_reductions: Sequence[int]) -> None:
        super().__init__()
        check_levels("identity", in_channels, in_reductions)
        self.out_channels = in_channels[-1]
        self.out_reduction = in_reductions[-1]

    def forward(self, features: list[Tensor]) -> Tensor:
        """Return the last feature."""
        return features[-1]
