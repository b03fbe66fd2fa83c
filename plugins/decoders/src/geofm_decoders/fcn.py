"""FCN decoder (Long et al., 2015, as mmsegmentation's ``FCNHead``): a stack of convolutions on one level."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from geofm.errors import ConfigError
from geofm_decoders._common import check_levels, check_norm, conv_norm_act

__all__ = ["FCNDecoder"]


class FCNDecoder(nn.Module):
    """``num_convs`` conv-norm-ReLU layers on the last feature it is given; output at that feature's size.

    Options: ``norm`` of every conv (``batchnorm``, ``groupnorm``, ``layernorm2d`` or ``none``),
    ``num_convs`` (default 2; 0 passes the feature through), ``channels`` (default 256), ``kernel_size``
    (default 3), ``dilation`` (default 1), ``concat_input`` (concatenate the input with the conv output and
    fuse with one more conv, default False), ``dropout`` (Dropout2d at the end, default 0).
    """

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        in_reductions: Sequence[int],
        norm: str = "batchnorm",
        num_convs: int = 2,
        channels: int = 256,
        kernel_size: int = 3,
        dilation: int = 1,
        concat_input: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_levels("fcn", in_channels, in_reductions, min_levels=1)
        norm = check_norm("fcn", norm)
        if num_convs < 0 or (num_convs == 0 and concat_input):
            raise ConfigError(
                f"decoder 'fcn': num_convs={num_convs} is invalid; use num_convs >= 1 "
                "(or num_convs=0 with concat_input=False to pass the feature through)"
            )
        in_ch = in_channels[-1]
        layers: list[nn.Module] = []
        for i in range(num_convs):
            layers.append(
                conv_norm_act(in_ch if i == 0 else channels, channels, kernel_size, norm=norm, dilation=dilation)
            )
        self.convs = nn.Sequential(*layers)
        self.concat_input = concat_input
        self.fuse = conv_norm_act(in_ch + channels, channels, kernel_size, norm=norm) if concat_input else None
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.out_channels = channels if num_convs > 0 else in_ch
        self.out_reduction = in_reductions[-1]

    def forward(self, features: list[Tensor]) -> Tensor:
        """Last feature (B, C, h, w) -> (B, out_channels, h, w)."""
        x = features[-1]
        out = self.convs(x)
        if self.fuse is not None:
            out = self.fuse(torch.cat([x, out], dim=1))
        return self.dropout(out)
