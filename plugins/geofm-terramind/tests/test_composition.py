"""TerraMind composes with every dense decoder and with classification through core's necks, no neck flags."""

from __future__ import annotations

import pytest
import torch

from geofm.compose import build_model
from geofm.testing import planned_levels

S1F = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12", "VV", "VH")
SMALL = {"dim": 32, "depth": 4, "num_heads": 2}
DENSE = ["upernet", "unet", "fcn", "smp_unet", "smp_deeplabv3plus"]


@pytest.mark.parametrize("decoder", DENSE)
@pytest.mark.parametrize("backbone", ["terramind_v1_tiny", "terramind_v1_base", "terramind_v1_large"])
def test_dense_decoders_compose_without_neck_flags(backbone: str, decoder: str) -> None:
    names, levels, backbone_spec = planned_levels(backbone, decoder)
    assert "tokens_to_map" in names
    if names[0] == "select_levels":
        assert set(levels) <= set(backbone_spec.default_levels)


@pytest.mark.parametrize("merge", ["mean", "concat"])
@pytest.mark.parametrize("decoder", DENSE)
def test_small_terramind_and_decoder_give_a_full_size_map(decoder: str, merge: str) -> None:
    model = build_model(
        "terramind_v1_tiny",
        decoder,
        num_classes=3,
        weights="none",
        bands=S1F,
        backbone_options={**SMALL, "merge_method": merge},
        levels=(0, 1, 2, 3),
    )
    assert model.backbone.modalities == ("S2L1C", "S1GRD")
    output = model(torch.randn(2, 15, 50, 46), timestamps=torch.zeros(2, 1))
    assert output.shape == (2, 3, 50, 46)
    output.mean().backward()
    assert model.backbone.encoder_embeddings["untok_sen1grd@224"].proj.weight.grad is not None


@pytest.mark.parametrize("merge", ["mean", "concat"])
def test_classification_pools_the_tokens(merge: str) -> None:
    model = build_model(
        "terramind_v1_tiny",
        "identity",
        task="classification",
        num_classes=5,
        weights="none",
        bands=S1F,
        backbone_options={**SMALL, "merge_method": merge},
    )
    assert [n["name"] for n in model.neck_plan] == ["token_pool"]
    logits = model(torch.randn(2, 15, 40, 40))
    assert logits.shape == (2, 5)
    logits.sum().backward()
