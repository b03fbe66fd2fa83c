"""DOFA composes with every dense decoder and with classification through the core necks, no neck flags."""

from __future__ import annotations

from typing import Any

import pytest

import geofm
from geofm.compose import plan_composition
from geofm.registry import get_registry
from geofm.testing import planned_levels

NAMES = ("dofa_small", "dofa_base_patch16_224", "dofa_large_patch16_224")
TINY: dict[str, Any] = {"embed_dim": 32, "depth": 4, "num_heads": 2, "patch_size": 8}


def _dense_decoders() -> list[str]:
    return sorted(d.name for d in get_registry("decoders") if "segmentation" in d.tasks and d.consumes != "vector")


@pytest.mark.parametrize("decoder", _dense_decoders())
@pytest.mark.parametrize("backbone", NAMES)
def test_every_dense_decoder_plans_without_neck_flags(backbone: str, decoder: str) -> None:
    names, levels, backbone_spec = planned_levels(backbone, decoder)
    assert "tokens_to_map" in names
    assert levels[-1] == backbone_spec.default_levels[-1]
    if get_registry("decoders").get(decoder).num_levels == 4:
        assert levels == list(backbone_spec.default_levels)


ODD = (50, 46)  # padded by the composed model, cropped back
SIZES = {"smp_dpt": (64, 96)}
"""smp_dpt fails unless the token grid is a multiple of 4, with any ViT (Prithvi too): the composed model
pads to the patch only, so it gets a size that is already right."""


@pytest.mark.parametrize(
    "decoder", ["upernet", "unet", "fcn", "smp_unet", "smp_deeplabv3plus", "smp_segformer", "smp_dpt", "linear"]
)
def test_small_dofa_and_decoder_give_a_full_size_map(decoder: str) -> None:
    size = SIZES.get(decoder, ODD)
    torch = pytest.importorskip("torch")
    model = geofm.build_model(
        "dofa_base_patch16_224",
        decoder,
        num_classes=3,
        weights="none",
        bands=["B2", "B3", "B4", "B8A", "B11", "B12"],
        img_size=48,
        backbone_options=TINY,
        levels=(0, 1, 2, 3),
    )
    output = model(torch.randn(2, 6, *size))
    assert output.shape == (2, 3, *size)
    output.mean().backward()
    assert model.backbone.patch_embed.weight_generator.fc_weight.weight.grad is not None


@pytest.mark.parametrize("task", ["classification", "multilabel_classification"])
def test_classification_pools_the_tokens(task: str) -> None:
    torch = pytest.importorskip("torch")
    spec = get_registry("backbones").get("dofa_base_patch16_224")
    plan = plan_composition(spec, get_registry("decoders").get("identity"), task_type=task)
    assert [n["name"] for n in plan] == ["token_pool"]
    model = geofm.build_model(
        "dofa_base_patch16_224",
        "identity",
        task=task,
        num_classes=5,
        weights="none",
        bands=["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12", "VV", "VH"],
        img_size=32,
        backbone_options=TINY,
    )
    logits = model(torch.randn(2, 15, 32, 32))
    assert logits.shape == (2, 5)
