"""UPerNet decoder (Xiao et al., 2018): pyramid pooling on the coarsest level + FPN fusion of all levels.

Follows mmsegmentation's ``UPerHead``: a pyramid pooling module (PPM, pool scales 1, 2, 3, 6) on the last
feature, 1x1 lateral convolutions on the others, top-down fusion by upsampling and adding, a 3x3 conv on
each fused level, and a 3x3 ``fpn_bottleneck`` over all levels resized to the finest one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm_decoders._common import check_levels, check_norm, conv_norm_act

__all__ = ["PyramidPoolingModule", "UPerNetDecoder"]


class PyramidPoolingModule(nn.Module):
    """Average-pool to each scale, 1x1 conv, upsample back, concatenate with the input, 3x3 bottleneck.

    The pool-scale-1 branch has no normalisation (a 1x1 map has no spatial statistics; batch norm on it
    fails for a batch of one), as in segmentation-models-pytorch.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        *,
        norm: str = "batchnorm",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(scale),
                conv_norm_act(in_channels, channels, 1, norm="none" if scale == 1 else norm),
            )
            for scale in pool_scales
        )
        self.bottleneck = conv_norm_act(in_channels + len(pool_scales) * channels, channels, 3, norm=norm)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, h, w) -> (B, channels, h, w)."""
        size = x.shape[-2:]
        pooled = [
            F.interpolate(branch(x), size=size, mode="bilinear", align_corners=self.align_corners)
            for branch in self.branches
        ]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))


class UPerNetDecoder(nn.Module):
    """UPerNet over a feature pyramid (finest level first); output at the finest level's reduction.

    Options: ``channels`` (width of every fused map, default 256), ``pool_scales`` (default 1, 2, 3, 6),
    ``norm`` (``batchnorm``, ``groupnorm``, ``layernorm2d`` or ``none``), ``align_corners``.
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        in_reductions: Sequence[int],
        channels: int = 256,
        pool_scales: Sequence[int] = (1, 2, 3, 6),
        norm: str = "batchnorm",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        check_levels("upernet", in_channels, in_reductions, min_levels=1)
        norm = check_norm("upernet", norm)
        self.align_corners = align_corners
        self.ppm = PyramidPoolingModule(in_channels[-1], channels, pool_scales, norm=norm, align_corners=align_corners)
        self.lateral_convs = nn.ModuleList(conv_norm_act(c, channels, 1, norm=norm) for c in in_channels[:-1])
        self.fpn_convs = nn.ModuleList(conv_norm_act(channels, channels, 3, norm=norm) for _ in in_channels[:-1])
        self.fpn_bottleneck = conv_norm_act(len(in_channels) * channels, channels, 3, norm=norm)
        self.out_channels = channels
        self.out_reduction = in_reductions[0]

    def _resize(self, x: Tensor, size: torch.Size) -> Tensor:
        if x.shape[-2:] == size:
            return x
        return F.interpolate(x, size=size, mode="bilinear", align_corners=self.align_corners)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Features (finest first) -> (B, channels, h0, w0) at the finest level's size."""
        laterals = [conv(f) for conv, f in zip(self.lateral_convs, features[:-1], strict=True)]
        laterals.append(self.ppm(features[-1]))
        for i in range(len(laterals) - 1, 0, -1):  # top-down
            laterals[i - 1] = laterals[i - 1] + self._resize(laterals[i], laterals[i - 1].shape[-2:])
        outs = [conv(lat) for conv, lat in zip(self.fpn_convs, laterals[:-1], strict=True)]
        outs.append(laterals[-1])
        size = outs[0].shape[-2:]
        return self.fpn_bottleneck(torch.cat([self._resize(o, size) for o in outs], dim=1))
