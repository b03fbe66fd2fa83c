"""Hook implementations of geofm-decoders: decoder specs only (no torch, timm or smp import here).

The smp decoders come from the static table in :mod:`geofm_decoders.smp_table`, so listing them never
imports segmentation-models-pytorch.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.hookspecs import hookimpl
from geofm.specs import DecoderSpec
from geofm.vocabulary import CLASSIFICATION_TASKS, DENSE_TASKS
from geofm_decoders.smp_table import SMP_DECODERS

_NORM = "batchnorm (default), groupnorm, layernorm2d or none"
_PYRAMID = {"consumes": "maps", "num_levels": 4, "needs_pyramid": True, "tasks": DENSE_TASKS}
_LAST_MAP = {"consumes": "maps", "num_levels": 1, "tasks": DENSE_TASKS}

_DECODERS: tuple[tuple[str, str, str, dict[str, object], dict[str, str]], ...] = (
    # (name, factory in geofm_decoders, summary, what it consumes, documented options)
    (
        "upernet",
        "upernet:UPerNetDecoder",
        "UPerNet: pyramid pooling (1, 2, 3, 6) on the coarsest level + FPN fusion of 4 levels",
        _PYRAMID,
        {
            "channels": "width of the fused maps (default 256)",
            "pool_scales": "pyramid pooling output sizes (default 1, 2, 3, 6)",
            "norm": _NORM,
            "align_corners": "bilinear resizing flag (default False)",
        },
    ),
    (
        "fcn",
        "fcn:FCNDecoder",
        "FCN: a stack of conv-norm-ReLU layers on the last level",
        _LAST_MAP,
        {
            "num_convs": "number of convolutions (default 2)",
            "channels": "width (default 256)",
            "kernel_size": "default 3",
            "dilation": "default 1",
            "concat_input": "concatenate the input and fuse with one more conv (default False)",
            "dropout": "Dropout2d at the end (default 0)",
            "norm": _NORM,
        },
    ),
    (
        "unet",
        "unet:UNetDecoder",
        "UNet decoder over a 4-level pyramid: upsample, concatenate the skip, two convs per stage",
        _PYRAMID,
        {
            "channels": "width per stage, coarse to fine (default 256, 128, 64)",
            "norm": _NORM,
            "interpolation": "bilinear (default) or nearest",
        },
    ),
    (
        "linear",
        "simple:LinearDecoder",
        "Linear probe: batch norm on the last level (the head's 1x1 conv is the classifier)",
        _LAST_MAP,
        {"norm": "batch norm first (default True)", "channels": "optional 1x1 projection width"},
    ),
    (
        "mlp",
        "simple:MLPDecoder",
        "Per-pixel MLP (two 1x1 convs with GELU) on the last level",
        _LAST_MAP,
        {"hidden_channels": "default 256", "channels": "output width (default 256)", "dropout": "default 0"},
    ),
    (
        "identity",
        "simple:IdentityDecoder",
        "Pass the last feature through (maps or pooled vectors), e.g. for a classification head",
        {"consumes": "any", "num_levels": 1, "tasks": DENSE_TASKS + CLASSIFICATION_TASKS},
        {},
    ),
)


@hookimpl
def geofm_decoders() -> Iterable[DecoderSpec]:
    """UPerNet, FCN, UNet, linear, MLP, identity and every decoder of segmentation-models-pytorch."""
    for name, factory, summary, consumes, options in _DECODERS:
        yield DecoderSpec(name=name, summary=summary, factory=f"geofm_decoders.{factory}", options=options, **consumes)  # type: ignore[arg-type]
    for info in SMP_DECODERS.values():
        yield DecoderSpec(
            name=info.name,
            summary=info.summary,
            factory=f"geofm_decoders.smp_adapter:factories.{info.arch}",
            num_levels=info.num_levels,
            needs_pyramid=info.needs_pyramid,
            consumes="maps",
            tasks=DENSE_TASKS,
            options=dict(info.options),
        )
