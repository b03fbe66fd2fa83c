"""Hook implementations of geofm-decoders: decoder specs only (no torch, timm or smp import here).

The smp decoders come from the static table in :mod:`geofm_decoders.smp_table`, so listing them never
imports segmentation-models-pytorch.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.hookspecs import hookimpl
from geofm.specs import DecoderSpec
from geofm_decoders.smp_table import SMP_DECODERS

_DENSE = ("segmentation", "regression")
_ALL_TASKS = ("segmentation", "regression", "classification", "multilabel_classification")
_NORM = "batchnorm (default), groupnorm, layernorm2d or none"


@hookimpl
def geofm_decoders() -> Iterable[DecoderSpec]:
    """UPerNet, FCN, UNet, linear, MLP, identity and every decoder of segmentation-models-pytorch."""
    package = "geofm_decoders"
    yield DecoderSpec(
        name="upernet",
        summary="UPerNet: pyramid pooling (1, 2, 3, 6) on the coarsest level + FPN fusion of 4 levels",
        factory=f"{package}.upernet:UPerNetDecoder",
        consumes="maps",
        num_levels=4,
        needs_pyramid=True,
        tasks=_DENSE,
        options={
            "channels": "width of the fused maps (default 256)",
            "pool_scales": "pyramid pooling output sizes (default 1, 2, 3, 6)",
            "norm": _NORM,
            "align_corners": "bilinear resizing flag (default False)",
        },
    )
    yield DecoderSpec(
        name="fcn",
        summary="FCN: a stack of conv-norm-ReLU layers on the last level",
        factory=f"{package}.fcn:FCNDecoder",
        consumes="maps",
        num_levels=1,
        tasks=_DENSE,
        options={
            "num_convs": "number of convolutions (default 2)",
            "channels": "width (default 256)",
            "kernel_size": "default 3",
            "dilation": "default 1",
            "concat_input": "concatenate the input and fuse with one more conv (default False)",
            "dropout": "Dropout2d at the end (default 0)",
            "norm": _NORM,
        },
    )
    yield DecoderSpec(
        name="unet",
        summary="UNet decoder over a 4-level pyramid: upsample, concatenate the skip, two convs per stage",
        factory=f"{package}.unet:UNetDecoder",
        consumes="maps",
        num_levels=4,
        needs_pyramid=True,
        tasks=_DENSE,
        options={
            "channels": "width per stage, coarse to fine (default 256, 128, 64)",
            "norm": _NORM,
            "interpolation": "bilinear (default) or nearest",
        },
    )
    yield DecoderSpec(
        name="linear",
        summary="Linear probe: batch norm on the last level (the head's 1x1 conv is the classifier)",
        factory=f"{package}.simple:LinearDecoder",
        consumes="maps",
        num_levels=1,
        tasks=_DENSE,
        options={"norm": "batch norm first (default True)", "channels": "optional 1x1 projection width"},
    )
    yield DecoderSpec(
        name="mlp",
        summary="Per-pixel MLP (two 1x1 convs with GELU) on the last level",
        factory=f"{package}.simple:MLPDecoder",
        consumes="maps",
        num_levels=1,
        tasks=_DENSE,
        options={
            "hidden_channels": "default 256",
            "channels": "output width (default 256)",
            "dropout": "default 0",
        },
    )
    yield DecoderSpec(
        name="identity",
        summary="Pass the last feature through (maps or pooled vectors), e.g. for a classification head",
        factory=f"{package}.simple:IdentityDecoder",
        consumes="any",
        num_levels=1,
        tasks=_ALL_TASKS,
    )
    for info in SMP_DECODERS.values():
        yield DecoderSpec(
            name=info.name,
            summary=info.summary,
            factory=f"{package}.smp_adapter:factories.{info.arch}",
            consumes="maps",
            num_levels=info.num_levels,
            needs_pyramid=info.needs_pyramid,
            tasks=_DENSE,
            options=dict(info.options),
        )
