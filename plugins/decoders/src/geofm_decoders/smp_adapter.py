"""Feed geofm's feature pyramid into the decoders of segmentation-models-pytorch (smp).

smp decoders expect the feature list of an smp encoder: ``[input, 1/2, 1/4, 1/8, 1/16, 1/32]`` with
``encoder_channels`` to match. :class:`SmpDecoder` builds each smp decoder class with channels derived from
our pyramid and, at forward time, puts our levels where that decoder reads them, with zero-channel
placeholder maps of the right size in the slots it does not (smp's own convention for encoders that lack a
stage). :mod:`geofm_decoders.smp_table` documents per decoder what happens.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch.nn.functional as F
from segmentation_models_pytorch import decoders as smp_decoders
from torch import Tensor, nn

from geofm.errors import ConfigError, DataError, IncompatibleComponentsError
from geofm_decoders._common import check_levels, check_pyramid
from geofm_decoders.smp_table import SMP_DECODERS

__all__ = ["SmpDecoder", "factories"]


@dataclass
class _Layout:
    """How one built smp decoder is fed and what it produces."""

    decoder: nn.Module
    lead: int
    out_channels: int
    out_reduction: int
    min_last_size: int = 0
    dpt: bool = False
    exact_doubling: bool = False


def _kwargs(
    arch: str, cls: type, derived: dict[str, Any], defaults: dict[str, Any], options: dict[str, Any]
) -> dict[str, Any]:
    """Constructor kwargs for smp: its defaults < user options < values derived from the pyramid."""
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    accepted = sorted(params - set(derived))
    bad = sorted(set(options) - set(accepted))
    if bad:
        raise ConfigError(
            f"decoder 'smp_{arch}': unknown option(s) {', '.join(bad)} for smp's {cls.__name__}; "
            f"accepted: {', '.join(accepted)} (the others are derived from the feature pyramid)"
        )
    return {**defaults, **options, **derived}


def _two_adic(value: int) -> int:
    """How many times 2 divides ``value`` (0 for odd values and for values below 1)."""
    return (value & -value).bit_length() - 1 if value > 0 else 0


def _power_of_two_step(a: int, b: int) -> bool:
    """Whether ``a / b`` is ``2**k`` for an integer ``k`` (possibly negative)."""
    big, small = max(a, b), min(a, b)
    if small <= 0 or big % small:
        return False
    ratio = big // small
    return ratio & (ratio - 1) == 0


def _block_channels(arch: str, options: dict[str, Any], key: str, n_blocks: int) -> tuple[int, ...]:
    channels = tuple(options.get(key, (max(256 >> i, 16) for i in range(n_blocks))))
    if len(channels) != n_blocks:
        raise ConfigError(
            f"decoder 'smp_{arch}': {key}={list(channels)} has {len(channels)} entries but this pyramid "
            f"needs {n_blocks} upsampling blocks (one per entry, coarse to fine)"
        )
    return channels


def _unet_family(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    lead = _two_adic(red[0])  # placeholders from our finest level down to full resolution
    n_blocks = lead + len(ch) - 1
    encoder_channels = [0] * lead + ch
    derived: dict[str, Any] = {"encoder_channels": encoder_channels, "n_blocks": n_blocks}
    if arch == "linknet":
        cls: type = smp_decoders.linknet.decoder.LinknetDecoder
        kwargs = _kwargs(arch, cls, derived, {"prefinal_channels": 32}, options)
        out_channels = kwargs["prefinal_channels"]
    else:
        cls = {
            "unet": smp_decoders.unet.decoder.UnetDecoder,
            "unetplusplus": smp_decoders.unetplusplus.decoder.UnetPlusPlusDecoder,
            "manet": smp_decoders.manet.decoder.MAnetDecoder,
        }[arch]
        derived["decoder_channels"] = _block_channels(arch, options, "decoder_channels", n_blocks)
        kwargs = _kwargs(arch, cls, derived, {}, {k: v for k, v in options.items() if k != "decoder_channels"})
        out_channels = derived["decoder_channels"][-1]
    # smp's U-Net reads target sizes from the features; the others upsample by exactly 2 per block
    return _Layout(cls(**kwargs), lead, out_channels, red[0] >> lead, exact_doubling=arch != "unet")


def _fpn(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    cls = smp_decoders.fpn.decoder.FPNDecoder
    kwargs = _kwargs(arch, cls, {"encoder_channels": ch, "encoder_depth": len(ch) - 1}, {}, options)
    decoder = cls(**kwargs)
    return _Layout(decoder, 0, decoder.out_channels, red[0], exact_doubling=True)


def _pspnet(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    cls = smp_decoders.pspnet.decoder.PSPDecoder
    kwargs = _kwargs(arch, cls, {"encoder_channels": ch}, {"out_channels": 512, "dropout": 0.2}, options)
    return _Layout(cls(**kwargs), 0, kwargs["out_channels"], red[-1])


_ASPP_DEFAULTS = {"out_channels": 256, "atrous_rates": (12, 24, 36), "aspp_dropout": 0.5}


def _deeplabv3(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    cls = smp_decoders.deeplabv3.decoder.DeepLabV3Decoder
    defaults = {**_ASPP_DEFAULTS, "aspp_separable": False}
    kwargs = _kwargs(arch, cls, {"in_channels": ch[-1]}, defaults, options)
    return _Layout(cls(**kwargs), 0, kwargs["out_channels"], red[-1])


def _deeplabv3plus(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    cls = smp_decoders.deeplabv3.decoder.DeepLabV3PlusDecoder
    derived = {"encoder_channels": [0, 0, *ch], "encoder_depth": len(ch) + 1, "output_stride": 16}
    kwargs = _kwargs(arch, cls, derived, {**_ASPP_DEFAULTS, "aspp_separable": True}, options)
    decoder = cls(**kwargs)
    # smp upsamples the ASPP output by a fixed 4 (dilated encoder at 1/16, skip at 1/4); ours is undilated
    decoder.up = nn.Upsample(scale_factor=red[-1] // red[0], mode="bilinear", align_corners=True)
    return _Layout(decoder, 2, kwargs["out_channels"], red[0], exact_doubling=True)


def _quarter_anchored(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    cls, defaults, width = {
        "pan": (smp_decoders.pan.decoder.PANDecoder, {"decoder_channels": 32}, "decoder_channels"),
        "upernet": (smp_decoders.upernet.decoder.UPerNetDecoder, {"decoder_channels": 256}, "decoder_channels"),
        "segformer": (
            smp_decoders.segformer.decoder.SegformerDecoder,
            {"segmentation_channels": 256},
            "segmentation_channels",
        ),
    }[arch]
    derived = {"encoder_channels": [0, 0, *ch], "encoder_depth": len(ch) + 1}
    kwargs = _kwargs(arch, cls, derived, defaults, options)
    return _Layout(cls(**kwargs), 2, kwargs[width], red[0], min_last_size=8 if arch == "pan" else 0)


def _dpt(arch: str, ch: list[int], red: list[int], options: dict[str, Any]) -> _Layout:
    for i, reduction in enumerate(red):
        if not _power_of_two_step(reduction, 2 ** (i + 2)):  # DPT resamples level i to 1/2^(i+2)
            raise IncompatibleComponentsError(
                f"decoder 'smp_dpt' resamples level {i} from reduction {reduction} to {2 ** (i + 2)}, which is "
                f"not a power-of-two step (reductions {red}); use a backbone/neck with power-of-two strides"
            )
    cls = smp_decoders.dpt.decoder.DPTDecoder
    defaults = {"intermediate_channels": tuple(min(256 << i, 1024) for i in range(len(ch)))}
    derived = {
        "encoder_out_channels": ch,
        "encoder_output_strides": red,
        "encoder_has_prefix_tokens": False,
        "readout": "ignore",
    }
    kwargs = _kwargs(arch, cls, derived, {**defaults, "fusion_channels": 256}, options)
    return _Layout(cls(**kwargs), 0, kwargs["fusion_channels"], 2, dpt=True)


_Builder = Callable[[str, list[int], list[int], dict[str, Any]], _Layout]
_BUILDERS: dict[str, _Builder] = {
    "unet": _unet_family,
    "unetplusplus": _unet_family,
    "manet": _unet_family,
    "linknet": _unet_family,
    "fpn": _fpn,
    "pspnet": _pspnet,
    "deeplabv3": _deeplabv3,
    "deeplabv3plus": _deeplabv3plus,
    "pan": _quarter_anchored,
    "upernet": _quarter_anchored,
    "segformer": _quarter_anchored,
    "dpt": _dpt,
}


class SmpDecoder(nn.Module):
    """An smp decoder (``arch`` = smp's lower-case class name, e.g. ``"unet"``) fed from our features.

    Takes the last ``num_levels`` features of the spec (finest first). ``options`` are the keyword
    arguments of smp's decoder class except those derived from the pyramid (channels, depth, strides);
    an unknown option raises :class:`~geofm.errors.ConfigError` listing the accepted ones.
    """

    def __init__(self, arch: str, *, in_channels: Sequence[int], in_reductions: Sequence[int], **options: Any):
        super().__init__()
        info = SMP_DECODERS[arch]
        check_levels(info.name, in_channels, in_reductions, min_levels=info.num_levels)
        channels = [int(c) for c in in_channels[-info.num_levels :]]
        reductions = [int(r) for r in in_reductions[-info.num_levels :]]
        if info.needs_pyramid:
            check_pyramid(info.name, reductions)
        layout = _BUILDERS[arch](arch, channels, reductions, dict(options))
        self.arch = arch
        self.num_levels = info.num_levels
        self.decoder = layout.decoder
        self.lead = layout.lead
        self.min_last_size = layout.min_last_size
        self.dpt = layout.dpt
        self.exact_doubling = layout.exact_doubling
        self.out_channels = layout.out_channels
        self.out_reduction = layout.out_reduction

    def forward(self, features: list[Tensor]) -> Tensor:
        """Features (finest first) -> (B, out_channels, H / out_reduction, W / out_reduction)."""
        feats = list(features[-self.num_levels :])
        if self.min_last_size:
            h, w = feats[-1].shape[-2:]
            if min(h, w) < self.min_last_size:
                size = (max(h, self.min_last_size), max(w, self.min_last_size))
                feats[-1] = F.interpolate(feats[-1], size=size, mode="bilinear", align_corners=False)
        if self.dpt:
            return self.decoder(feats, [None] * len(feats))
        if self.exact_doubling:
            self._check_doubling(feats)
        first = feats[0]
        batch, _, h, w = first.shape
        placeholders = [first.new_zeros(batch, 0, h << (self.lead - j), w << (self.lead - j)) for j in range(self.lead)]
        return self.decoder([*placeholders, *feats])

    def _check_doubling(self, feats: list[Tensor]) -> None:
        sizes = [tuple(f.shape[-2:]) for f in feats]
        for fine, coarse in itertools.pairwise(sizes):
            if fine != (2 * coarse[0], 2 * coarse[1]):
                raise DataError(
                    f"decoder 'smp_{self.arch}' upsamples by exactly 2 per level but got feature maps of sizes "
                    f"{sizes}; use an input size that is a multiple of the coarsest level's reduction "
                    "(e.g. a crop_size divisible by 32)"
                )


def _factory(arch: str) -> Callable[..., SmpDecoder]:
    def build(*, in_channels: Sequence[int], in_reductions: Sequence[int], **options: Any) -> SmpDecoder:
        return SmpDecoder(arch, in_channels=in_channels, in_reductions=in_reductions, **options)

    build.__name__ = build.__qualname__ = arch
    build.__doc__ = f"Build smp's {SMP_DECODERS[arch].class_name} decoder fed from geofm features."
    return build


factories = SimpleNamespace(**{arch: _factory(arch) for arch in SMP_DECODERS})
"""One factory per smp architecture; specs name them as ``geofm_decoders.smp_adapter:factories.<arch>``."""
