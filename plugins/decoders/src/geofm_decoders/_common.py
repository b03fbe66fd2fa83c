"""Helpers shared by the decoder modules: input validation and conv-norm-activation blocks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from torch import nn

from geofm.errors import ConfigError, IncompatibleComponentsError

NORMS = ("batchnorm", "groupnorm", "layernorm2d", "none")
"""Values the ``norm`` option of the geofm decoders accepts."""


def check_levels(
    decoder: str, in_channels: Sequence[int], in_reductions: Sequence[int], *, min_levels: int = 1
) -> None:
    """Raise :class:`IncompatibleComponentsError` unless there are ``min_levels`` matching features."""
    if len(in_channels) != len(in_reductions):
        raise IncompatibleComponentsError(
            f"decoder {decoder!r}: got {len(in_channels)} channel counts but {len(in_reductions)} "
            "reductions; the neck in front of it must report one reduction per feature"
        )
    if len(in_channels) < min_levels:
        raise IncompatibleComponentsError(
            f"decoder {decoder!r} needs at least {min_levels} feature levels but got {len(in_channels)}; "
            "add a pyramid neck (e.g. 'interpolate_pyramid') or select more backbone levels"
        )


def check_pyramid(decoder: str, in_reductions: Sequence[int]) -> None:
    """Raise unless each level has twice the reduction of the one before (e.g. 4, 8, 16, 32)."""
    for finer, coarser in itertools.pairwise(in_reductions):
        if finer <= 0 or coarser != 2 * finer:
            raise IncompatibleComponentsError(
                f"decoder {decoder!r} needs a pyramid whose reductions double from level to level "
                f"(e.g. 4, 8, 16, 32) but got {list(in_reductions)}; add the neck 'interpolate_pyramid' "
                "or 'learned_pyramid' in front of it"
            )


def check_norm(decoder: str, norm: str | None) -> str:
    """Validate the ``norm`` option; return it normalised (``None`` -> ``"none"``)."""
    value = (norm or "none").lower()
    if value not in NORMS:
        raise ConfigError(f"decoder {decoder!r}: norm={norm!r} is unknown; use one of {', '.join(NORMS)}")
    return value


def conv_norm_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    norm: str = "batchnorm",
    dilation: int = 1,
    act: str | None = "relu",
) -> nn.Module:
    """Conv (same padding, no bias when normalised) -> norm (``"none"`` skips it) -> activation."""
    from timm.layers import ConvNormAct

    apply_norm = norm != "none"
    return ConvNormAct(
        in_channels,
        out_channels,
        kernel_size,
        dilation=dilation,
        bias=not apply_norm,
        apply_norm=apply_norm,
        apply_act=act is not None,
        norm_layer=norm if apply_norm else "batchnorm",
        act_layer=act or "relu",
    )
