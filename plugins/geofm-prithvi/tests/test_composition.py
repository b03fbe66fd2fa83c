"""The mission pairings: Prithvi backbones compose with the dense decoders without neck flags."""

from __future__ import annotations

import pytest

from geofm.registry import get_registry
from geofm.testing import planned_levels


@pytest.mark.parametrize("decoder", ["upernet", "unet", "fcn", "smp_deeplabv3plus", "smp_unet"])
@pytest.mark.parametrize("backbone", ["prithvi_eo_v2_300", "prithvi_eo_v2_600_tl", "prithvi_eo_v1_100"])
def test_dense_decoders_compose_without_neck_flags(backbone: str, decoder: str) -> None:
    names, levels, backbone_spec = planned_levels(backbone, decoder)
    assert names[0] == "select_levels" and "tokens_to_map" in names
    assert set(levels) <= set(backbone_spec.default_levels) and levels[-1] == backbone_spec.default_levels[-1]
    if get_registry("decoders").get(decoder).num_levels in (0, 4):
        assert levels == list(backbone_spec.default_levels)


@pytest.mark.parametrize("decoder", ["upernet", "unet", "fcn", "smp_deeplabv3plus"])
def test_small_prithvi_and_decoder_give_a_full_size_map(decoder: str) -> None:
    import torch

    from geofm.compose import build_model

    model = build_model(
        "prithvi_eo_v2_300",
        decoder,
        num_classes=3,
        weights="none",
        img_size=48,
        num_frames=1,
        backbone_options={"embed_dim": 32, "depth": 4, "num_heads": 2},
        levels=(0, 1, 2, 3),
    )
    output = model(torch.randn(2, 6, 50, 46))
    assert output.shape == (2, 3, 50, 46)
    output.mean().backward()
