"""Every smp decoder fed from synthetic pyramids: output shape against the attributes, which levels it uses."""

from __future__ import annotations

import pytest
import torch

from geofm.errors import ConfigError, DataError, IncompatibleComponentsError
from geofm_decoders.smp_adapter import SmpDecoder, factories
from geofm_decoders.smp_table import SMP_DECODERS

SIZE = 64
PYRAMIDS = {
    "cnn": ([8, 16, 24, 32], [4, 8, 16, 32]),  # a CNN's last four stages
    "vit_pyramid": ([16, 16, 16, 16], [2, 4, 8, 16]),  # a patch-8 ViT after interpolate_pyramid
    "vit_maps": ([16, 16, 16, 16], [8, 8, 8, 8]),  # same-stride ViT maps (non-pyramid decoders only)
}
SMALL = {  # keep the tests tiny; every option name is smp's own
    "unet": {"decoder_channels": None},
    "unetplusplus": {"decoder_channels": None},
    "manet": {"decoder_channels": None, "pab_channels": 8},
    "linknet": {"prefinal_channels": 8},
    "fpn": {"pyramid_channels": 32, "segmentation_channels": 32},
    "pspnet": {"out_channels": 16},
    "deeplabv3": {"out_channels": 16},
    "deeplabv3plus": {"out_channels": 16},
    "pan": {"decoder_channels": 16},
    "upernet": {"decoder_channels": 16},
    "segformer": {"segmentation_channels": 16},
    "dpt": {"intermediate_channels": (8, 8, 8, 8), "fusion_channels": 8},
}
# which of the 4 given levels each decoder reads (the rest are documented as unused)
USED = {"pspnet": [3], "deeplabv3": [3], "deeplabv3plus": [0, 3]}


def _options(arch: str, reductions: list[int]) -> dict:
    options = dict(SMALL[arch])
    if "decoder_channels" in options and options["decoder_channels"] is None:
        # one block per stage down to full resolution: log2(finest reduction) + 3
        n_blocks = reductions[0].bit_length() - 1 + 3
        options["decoder_channels"] = tuple(max(32 >> i, 4) for i in range(n_blocks))
    return options


def _cases():
    for arch, info in SMP_DECODERS.items():
        for name in PYRAMIDS:
            if name == "vit_maps" and info.needs_pyramid:
                continue
            yield pytest.param(arch, name, id=f"{arch}-{name}")


@pytest.mark.parametrize(("arch", "pyramid"), list(_cases()))
def test_smp_decoder_shapes_and_gradients(arch, pyramid):
    channels, reductions = PYRAMIDS[pyramid]
    decoder = getattr(factories, arch)(in_channels=channels, in_reductions=reductions, **_options(arch, reductions))
    assert isinstance(decoder, SmpDecoder)
    torch.manual_seed(0)
    feats = [
        torch.randn(2, c, SIZE // r, SIZE // r, requires_grad=True) for c, r in zip(channels, reductions, strict=True)
    ]
    out = decoder(feats)
    side = SIZE // decoder.out_reduction
    assert out.shape == (2, decoder.out_channels, side, side)
    out.square().mean().backward()
    for i in USED.get(arch, [0, 1, 2, 3]):
        assert feats[i].grad is not None and feats[i].grad.abs().sum() > 0, f"level {i} unused"


def test_unet_family_reaches_full_resolution_with_smp_default_widths():
    decoder = factories.unet(in_channels=[8, 16, 24, 32], in_reductions=[4, 8, 16, 32])
    assert decoder.out_reduction == 1 and decoder.out_channels == 16  # smp default (256, ..., 16)
    assert len(decoder.decoder.blocks) == 5


def test_options_reach_smp_and_change_the_output():
    cat = factories.fpn(in_channels=[8, 16, 24, 32], in_reductions=[4, 8, 16, 32], merge_policy="cat")
    assert cat.out_channels == 4 * 128


def test_unknown_option_names_the_accepted_ones():
    with pytest.raises(ConfigError, match=r"unknown option\(s\) channels.*accepted:.*pyramid_channels"):
        factories.fpn(in_channels=[8, 16, 24, 32], in_reductions=[4, 8, 16, 32], channels=3)


def test_derived_option_cannot_be_overridden():
    with pytest.raises(ConfigError, match="encoder_channels"):
        factories.upernet(in_channels=[8, 16, 24, 32], in_reductions=[4, 8, 16, 32], encoder_channels=[1])


def test_wrong_decoder_channels_length():
    with pytest.raises(ConfigError, match="needs 5 upsampling blocks"):
        factories.unet(in_channels=[8, 16, 24, 32], in_reductions=[4, 8, 16, 32], decoder_channels=(8, 4))


def test_pyramid_decoders_refuse_same_stride_maps():
    with pytest.raises(IncompatibleComponentsError, match="interpolate_pyramid"):
        factories.upernet(in_channels=[16] * 4, in_reductions=[16] * 4)


def test_too_few_levels():
    with pytest.raises(IncompatibleComponentsError, match="at least 4"):
        factories.segformer(in_channels=[16, 16], in_reductions=[8, 16])


def test_dpt_refuses_non_power_of_two_strides():
    with pytest.raises(IncompatibleComponentsError, match="power-of-two"):
        factories.dpt(in_channels=[16] * 4, in_reductions=[14] * 4)


def test_pan_upsamples_a_tiny_deepest_map():
    decoder = factories.pan(in_channels=[8, 8, 8, 8], in_reductions=[4, 8, 16, 32], decoder_channels=8)
    feats = [torch.randn(2, 8, 32 // r, 32 // r) for r in (4, 8, 16, 32)]  # deepest is 1x1
    assert decoder(feats).shape == (2, 8, 8, 8)


def test_sizes_that_do_not_double_are_a_clear_error():
    decoder = factories.fpn(in_channels=[8] * 4, in_reductions=[4, 8, 16, 32], pyramid_channels=8)
    feats = [torch.randn(2, 8, s, s) for s in (30, 15, 7, 4)]  # a 120-px input with a 15-px level
    with pytest.raises(DataError, match="multiple of the coarsest"):
        decoder(feats)
    assert factories.unet(in_channels=[8] * 4, in_reductions=[4, 8, 16, 32])(feats).shape[-1] == 120
