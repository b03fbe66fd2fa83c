"""UNet decoder (Ronneberger et al., 2015) over a feature pyramid: upsample, concatenate the skip, two convs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.errors import ConfigError
from geofm_decoders._common import check_levels, check_norm, conv_norm_act

__all__ = ["UNetDecoder", "UNetStage"]


class UNetStage(nn.Module):
    """Upsample to the skip's size, concatenate the skip, then two 3x3 conv-norm-ReLU blocks."""

    def __init__(
        self, in_channels: int, skip_channels: int, out_channels: int, *, norm: str, interpolation: str
    ) -> None:
        super().__init__()
        self.interpolation = interpolation
        self.convs = nn.Sequential(
            conv_norm_act(in_channels + skip_channels, out_channels, 3, norm=norm),
            conv_norm_act(out_channels, out_channels, 3, norm=norm),
        )

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """(B, in, h, w), skip (B, skip, H, W) -> (B, out, H, W)."""
        align = False if self.interpolation in ("bilinear", "bicubic") else None
        x = F.interpolate(x, size=skip.shape[-2:], mode=self.interpolation, align_corners=align)
        return self.convs(torch.cat([x, skip], dim=1))


class UNetDecoder(nn.Module):
    """A UNet decoder: from the coarsest level, one :class:`UNetStage` per finer level.

    Output at the finest level's reduction. Options: ``channels`` (output width of each stage, coarse to
    fine; default 256, 128, 64 for four levels), ``norm`` (``batchnorm``, ``groupnorm``, ``layernorm2d`` or
    ``none``), ``interpolation`` (``bilinear`` default, or ``nearest``).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        in_reductions: Sequence[int],
        channels: Sequence[int] | None = None,
        norm: str = "batchnorm",
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        check_levels("unet", in_channels, in_reductions, min_levels=2)
        norm = check_norm("unet", norm)
        num_stages = len(in_channels) - 1
        stage_channels = list(channels) if channels is not None else [max(256 >> i, 16) for i in range(num_stages)]
        if len(stage_channels) != num_stages:
            raise ConfigError(
                f"decoder 'unet': channels={list(stage_channels)} has {len(stage_channels)} entries but "
                f"{len(in_channels)} levels need {num_stages} (one per upsampling stage, coarse to fine)"
            )
        skips = list(in_channels[:-1])[::-1]
        previous = [in_channels[-1], *stage_channels[:-1]]
        self.stages = nn.ModuleList(
            UNetStage(prev, skip, out, norm=norm, interpolation=interpolation)
            for prev, skip, out in zip(previous, skips, stage_channels, strict=True)
        )
        self.out_channels = stage_channels[-1]
        self.out_reduction = in_reductions[0]

    def forward(self, features: list[Tensor]) -> Tensor:
        """Features (finest first) -> (B, channels[-1], h0, w0)."""
        x = features[-1]
        for stage, skip in zip(self.stages, features[-2::-1], strict=True):
            x = stage(x, skip)
        return x
