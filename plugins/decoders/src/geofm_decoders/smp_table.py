"""The segmentation-models-pytorch decoders geofm registers, as plain data (no torch, no smp import).

``plugin.py`` builds the ``smp_<arch>`` specs from this table so that listings never import smp; a test
compares the table with the installed smp's ``MODEL_ARCHITECTURES_MAPPING`` so that an smp release that
adds or removes an architecture fails loudly instead of being silently missing.

How our pyramid is fed (levels finest first, each twice the reduction of the one before):

- *U-Net family* (unet, unetplusplus, manet, linknet): smp expects ``[input, 1/2, 1/4, ...]`` and drops the
  first entry. Our levels become the deepest entries; the finer entries down to the input resolution are
  zero-channel placeholders of the right size (smp's own convention for encoders without a 1/2 stage),
  so the decoder upsamples all the way back to full resolution (reduction 1) without skips there.
- *1/4-anchored* (fpn, pan, upernet, segformer, deeplabv3plus): smp treats the third entry as 1/4 and the
  last as the deepest; our finest level takes the 1/4 slot (two zero-channel placeholders in front) and the
  output is at our finest level's reduction.
- *Single level* (pspnet, deeplabv3): only the deepest level, as smp's decoders only read ``features[-1]``.
- *dpt*: smp's DPT reassembles ViT block outputs of one stride into 1/4..1/32 maps; it gets our maps with
  their real strides (same-stride ViT maps or a CNN pyramid) and ``readout="ignore"`` (our necks already
  dropped the cls token).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SMP_DECODERS", "SMP_EXCLUDED", "SmpDecoderInfo"]


@dataclass(frozen=True)
class SmpDecoderInfo:
    """One smp architecture: its smp class, what it consumes and how geofm feeds it."""

    arch: str
    class_name: str
    summary: str
    num_levels: int
    needs_pyramid: bool
    feeding: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The geofm component name, ``smp_<arch>``."""
        return f"smp_{self.arch}"


_UNET_OPTS = {
    "decoder_channels": "width per upsampling block, coarse to fine (default 256, 128, 64, ... one per block)",
    "use_norm": "batchnorm (default), identity, layernorm, instancenorm, inplace",
    "interpolation_mode": "nearest (default) or bilinear",
}
_FEED_UNET = "pyramid as the deepest stages, zero-channel stages up to full resolution; output at reduction 1"
_FEED_QUARTER = "finest level in smp's 1/4 slot, two zero-channel stages before it; output at the finest level"

_ENTRIES = (
    SmpDecoderInfo(
        "unet",
        "Unet",
        "smp U-Net decoder fed from the pyramid, upsampling to full resolution",
        4,
        True,
        _FEED_UNET,
        {**_UNET_OPTS, "attention_type": "None or 'scse'", "add_center_block": "bool"},
    ),
    SmpDecoderInfo(
        "unetplusplus",
        "UnetPlusPlus",
        "smp U-Net++ (nested dense skips) decoder fed from the pyramid",
        4,
        True,
        _FEED_UNET,
        {**_UNET_OPTS, "attention_type": "None or 'scse'"},
    ),
    SmpDecoderInfo(
        "manet",
        "MAnet",
        "smp MA-Net decoder (position + multi-scale fusion attention) fed from the pyramid",
        4,
        True,
        _FEED_UNET,
        {**_UNET_OPTS, "pab_channels": "position attention width (default 64)"},
    ),
    SmpDecoderInfo(
        "linknet",
        "Linknet",
        "smp LinkNet decoder (residual transposed-conv blocks) fed from the pyramid",
        4,
        True,
        _FEED_UNET,
        {"prefinal_channels": "output width (default 32)", "use_norm": _UNET_OPTS["use_norm"]},
    ),
    SmpDecoderInfo(
        "fpn",
        "FPN",
        "smp FPN decoder (Kirillov et al. panoptic FPN) on the 4-level pyramid",
        4,
        True,
        "the four levels as smp's c2..c5; output at the finest level",
        {
            "pyramid_channels": "default 256",
            "segmentation_channels": "default 128",
            "merge_policy": "add (default) or cat",
            "dropout": "default 0.2",
            "interpolation_mode": "nearest (default) or bilinear",
        },
    ),
    SmpDecoderInfo(
        "pspnet",
        "PSPNet",
        "smp PSPNet decoder (pyramid pooling) on the last level",
        1,
        False,
        "the last level only (smp reads features[-1]); output at its reduction",
        {"out_channels": "default 512", "dropout": "default 0.2", "use_norm": _UNET_OPTS["use_norm"]},
    ),
    SmpDecoderInfo(
        "deeplabv3",
        "DeepLabV3",
        "smp DeepLabV3 decoder (ASPP) on the last level",
        1,
        False,
        "the last level only (smp reads features[-1]); output at its reduction",
        {
            "out_channels": "default 256",
            "atrous_rates": "default (12, 24, 36)",
            "aspp_separable": "default False",
            "aspp_dropout": "default 0.5",
        },
    ),
    SmpDecoderInfo(
        "deeplabv3plus",
        "DeepLabV3Plus",
        "smp DeepLabV3+ decoder: ASPP on the deepest level + low-level skip from the finest",
        4,
        True,
        _FEED_QUARTER + "; the ASPP output is upsampled by the deepest/finest stride ratio (smp: fixed 4)",
        {
            "out_channels": "default 256",
            "atrous_rates": "default (12, 24, 36)",
            "aspp_separable": "default True",
            "aspp_dropout": "default 0.5",
        },
    ),
    SmpDecoderInfo(
        "pan",
        "PAN",
        "smp PAN decoder (feature pyramid attention + global attention upsampling)",
        4,
        True,
        _FEED_QUARTER + "; a deepest map under 8x8 is upsampled to 8x8 (the attention halves it 3 times)",
        {"decoder_channels": "default 32", "interpolation_mode": "bilinear (default) or nearest"},
    ),
    SmpDecoderInfo(
        "upernet",
        "UPerNet",
        "smp UPerNet decoder (per-level LayerNorm, PSP + FPN fusion)",
        4,
        True,
        _FEED_QUARTER,
        {"decoder_channels": "default 256", "use_norm": _UNET_OPTS["use_norm"]},
    ),
    SmpDecoderInfo(
        "segformer",
        "Segformer",
        "smp SegFormer all-MLP decoder on the 4-level pyramid",
        4,
        True,
        _FEED_QUARTER,
        {"segmentation_channels": "default 256"},
    ),
    SmpDecoderInfo(
        "dpt",
        "DPT",
        "smp DPT decoder (reassemble + residual fusion), for same-stride ViT maps or a pyramid",
        4,
        False,
        "our maps with their real strides (each reassembled to 1/4..1/32), readout 'ignore'; output at 1/2",
        {
            "intermediate_channels": "per level (default 256, 512, 1024, 1024)",
            "fusion_channels": "default 256",
        },
    ),
)

SMP_DECODERS: dict[str, SmpDecoderInfo] = {entry.arch: entry for entry in _ENTRIES}
"""smp architecture key (lower-case class name, as in ``smp.MODEL_ARCHITECTURES_MAPPING``) -> info."""

SMP_EXCLUDED: dict[str, str] = {}
"""smp architectures deliberately not registered, with the reason (none for smp 0.5 / 0.6)."""
