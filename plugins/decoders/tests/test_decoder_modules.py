"""Unit tests of geofm's own decoders on synthetic pyramids: shapes against the attributes, gradients."""

from __future__ import annotations

import pytest
import torch

from geofm.errors import ConfigError, IncompatibleComponentsError
from geofm_decoders.fcn import FCNDecoder
from geofm_decoders.simple import IdentityDecoder, LinearDecoder, MLPDecoder
from geofm_decoders.unet import UNetDecoder
from geofm_decoders.upernet import UPerNetDecoder

SIZE = 64
PYRAMID = ([16, 24, 32, 40], [4, 8, 16, 32])  # a CNN-like pyramid
VIT_PYRAMID = ([32, 32, 32, 32], [2, 4, 8, 16])  # a ViT map after interpolate_pyramid


def _features(channels: list[int], reductions: list[int], batch: int = 2) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [
        torch.randn(batch, c, SIZE // r, SIZE // r, requires_grad=True)
        for c, r in zip(channels, reductions, strict=True)
    ]


def _check(decoder: torch.nn.Module, feats: list[torch.Tensor], used: list[int]) -> torch.Tensor:
    out = decoder(feats)
    side = SIZE // decoder.out_reduction
    assert out.shape == (feats[0].shape[0], decoder.out_channels, side, side)
    out.square().mean().backward()
    for i in used:
        assert feats[i].grad is not None and feats[i].grad.abs().sum() > 0, f"level {i} got no gradient"
    return out


@pytest.mark.parametrize("pyramid", [PYRAMID, VIT_PYRAMID], ids=["cnn", "vit"])
@pytest.mark.parametrize("norm", ["batchnorm", "groupnorm", "layernorm2d", "none"])
def test_upernet_fuses_all_levels(pyramid, norm):
    channels, reductions = pyramid
    decoder = UPerNetDecoder(in_channels=channels, in_reductions=reductions, channels=32, norm=norm)
    assert decoder.out_channels == 32 and decoder.out_reduction == reductions[0]
    _check(decoder, _features(channels, reductions), used=[0, 1, 2, 3])


def test_upernet_default_width_and_pool_scales():
    decoder = UPerNetDecoder(in_channels=PYRAMID[0], in_reductions=PYRAMID[1])
    assert decoder.out_channels == 256
    assert [branch[0].output_size for branch in decoder.ppm.branches] == [1, 2, 3, 6]


def test_upernet_trains_with_batch_of_one():
    decoder = UPerNetDecoder(in_channels=PYRAMID[0], in_reductions=PYRAMID[1], channels=16).train()
    _check(decoder, _features(*PYRAMID, batch=1), used=[0, 3])


def test_upernet_rejects_unknown_norm():
    with pytest.raises(ConfigError, match="norm='sync'"):
        UPerNetDecoder(in_channels=PYRAMID[0], in_reductions=PYRAMID[1], norm="sync")


@pytest.mark.parametrize("num_convs", [0, 1, 3])
def test_fcn_uses_only_the_last_level(num_convs):
    channels, reductions = PYRAMID
    decoder = FCNDecoder(in_channels=channels, in_reductions=reductions, num_convs=num_convs, channels=8)
    assert decoder.out_reduction == 32
    assert decoder.out_channels == (8 if num_convs else channels[-1])
    feats = _features(channels, reductions)
    out = decoder(feats)
    assert out.shape == (2, decoder.out_channels, 2, 2)
    if num_convs == 0:
        assert torch.equal(out, feats[-1])
    out.sum().backward()
    assert feats[0].grad is None and feats[-1].grad is not None


def test_fcn_concat_input_dropout_and_kernel():
    decoder = FCNDecoder(
        in_channels=[12], in_reductions=[8], num_convs=1, channels=8, kernel_size=1, concat_input=True, dropout=0.5
    )
    assert decoder.convs[0].conv.kernel_size == (1, 1)
    _check(decoder, _features([12], [8]), used=[0])
    with pytest.raises(ConfigError, match="num_convs"):
        FCNDecoder(in_channels=[12], in_reductions=[8], num_convs=0, concat_input=True)


@pytest.mark.parametrize("pyramid", [PYRAMID, VIT_PYRAMID], ids=["cnn", "vit"])
def test_unet_stages_and_skips(pyramid):
    channels, reductions = pyramid
    decoder = UNetDecoder(in_channels=channels, in_reductions=reductions, channels=(32, 16, 8))
    assert len(decoder.stages) == 3 and decoder.out_channels == 8 and decoder.out_reduction == reductions[0]
    _check(decoder, _features(channels, reductions), used=[0, 1, 2, 3])


def test_unet_default_channels_and_wrong_count():
    assert UNetDecoder(in_channels=PYRAMID[0], in_reductions=PYRAMID[1]).out_channels == 64
    with pytest.raises(ConfigError, match="4 levels need 3"):
        UNetDecoder(in_channels=PYRAMID[0], in_reductions=PYRAMID[1], channels=(32, 16))


def test_unet_needs_two_levels():
    with pytest.raises(IncompatibleComponentsError, match="interpolate_pyramid"):
        UNetDecoder(in_channels=[8], in_reductions=[16])


def test_linear_is_norm_plus_optional_projection():
    channels, reductions = PYRAMID
    plain = LinearDecoder(in_channels=channels, in_reductions=reductions, norm=False)
    feats = _features(channels, reductions)
    assert torch.equal(plain(feats), feats[-1]) and plain.out_channels == 40
    projected = LinearDecoder(in_channels=channels, in_reductions=reductions, channels=5)
    assert projected.out_channels == 5 and projected.out_reduction == 32
    _check(projected, feats, used=[3])


def test_mlp_per_pixel():
    decoder = MLPDecoder(in_channels=[12], in_reductions=[8], hidden_channels=20, channels=6, dropout=0.1)
    feats = _features([12], [8])
    out = _check(decoder, feats, used=[0])
    # per-pixel: changing one input pixel changes only that output pixel
    decoder.eval()
    bumped = feats[0].detach().clone()
    bumped[:, :, 3, 4] += 1.0
    diff = (decoder([bumped]) - decoder([feats[0].detach()])).abs().sum(dim=1)
    assert diff[:, 3, 4].min() > 0 and diff.sum() == diff[:, 3, 4].sum()
    assert out.shape[1] == 6


def test_identity_passes_maps_and_vectors():
    maps = _features(*PYRAMID)
    decoder = IdentityDecoder(in_channels=PYRAMID[0], in_reductions=PYRAMID[1])
    assert decoder(maps) is maps[-1] and decoder.out_channels == 40 and decoder.out_reduction == 32
    vector = torch.randn(2, 7)
    vec_decoder = IdentityDecoder(in_channels=[7], in_reductions=[0])
    assert vec_decoder([vector]) is vector and vec_decoder.out_reduction == 0


def test_mismatched_channel_and_reduction_lists():
    with pytest.raises(IncompatibleComponentsError, match="one reduction per feature"):
        FCNDecoder(in_channels=[8, 8], in_reductions=[8])
