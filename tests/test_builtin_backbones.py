"""The built-in backbones (tiny ViT, timm CNNs): real forward shapes against their spec metadata."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from geofm.builtin.tiny_vit import sincos_3d
from geofm.compose import build_backbone
from geofm.errors import DataError, WeightsError
from geofm.registry import get_registry

BUILTIN = sorted(spec.name for spec in get_registry("backbones") if spec.factory.startswith("geofm.builtin."))


def test_builtin_backbones_are_registered() -> None:
    assert {"tiny_vit", "timm_resnet18", "timm_resnet50", "timm_convnext_tiny", "timm_efficientnet_b0"} <= set(BUILTIN)


@pytest.mark.parametrize("name", BUILTIN)
def test_forward_matches_spec(name: str) -> None:
    spec = get_registry("backbones").get(name)
    model = build_backbone(name, weights="none", bands=("RED", "GREEN", "BLUE")).eval()
    assert model.resolved_weights.pretrained is False
    assert list(model.out_channels) == list(spec.feature_channels)
    assert list(model.out_reductions) == list(spec.feature_reductions)
    assert model.output_kind == spec.output_kind
    assert model.num_prefix_tokens == spec.num_prefix_tokens
    assert model.patch_size == spec.patch_size
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 3, 64, 64))
    assert len(features) == len(spec.feature_channels)
    for feature, channels, reduction in zip(features, spec.feature_channels, spec.feature_reductions, strict=True):
        side = 64 // reduction
        if spec.output_kind == "tokens":
            assert feature.shape == (1, spec.num_prefix_tokens + side * side, channels)
        else:
            assert feature.shape == (1, channels, side, side)


def test_tiny_vit_frames_and_sizes() -> None:
    model = build_backbone("tiny_vit", weights="none")
    assert model.patch_embed.in_channels == 6  # no bands: 6 channels
    features = model.forward_features(torch.randn(1, 6, 3, 16, 24), timestamps=torch.zeros(1, 3))
    assert [f.shape for f in features] == [torch.Size([1, 1 + 3 * 2 * 3, 64])] * 4
    # the last feature is layer-normalised
    torch.testing.assert_close(features[-1].mean(-1), torch.zeros(1, 19), atol=1e-5, rtol=0)
    with pytest.raises(DataError, match="multiple of the patch size"):
        model.forward_features(torch.randn(1, 6, 20, 24))
    with pytest.raises(DataError, match="expects"):
        model.forward_features(torch.randn(1, 4, 16, 16))


def test_sincos_position_embedding_is_distinct_per_position() -> None:
    embedding = sincos_3d(64, 2, 3, 4)
    assert embedding.shape == (24, 64)
    assert torch.cdist(embedding, embedding).add(torch.eye(24)).min() > 0.1


def test_tiny_vit_checkpoint_round_trip(tmp_path: Path) -> None:
    source = build_backbone("tiny_vit", weights="none", bands=("RED", "GREEN"), depth=2)
    path = tmp_path / "tiny.pt"
    torch.save(source.state_dict(), path)
    loaded = build_backbone("tiny_vit", weights=path, bands=("B4", "B3"), depth=2)
    assert loaded.resolved_weights.path == path
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    with pytest.raises(WeightsError, match=r"missing keys: blocks\.2"):
        build_backbone("tiny_vit", weights=path, bands=("RED", "GREEN"), depth=3)
    state = source.state_dict()
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"unexpected keys: extra\.weight"):
        build_backbone("tiny_vit", weights=path, bands=("RED", "GREEN"), depth=2)


def test_timm_backbone_frames_and_checkpoint(tmp_path: Path) -> None:
    model = build_backbone("timm_resnet18", weights="none").eval()
    assert model.model.conv1.in_channels == 6
    assert len(model.forward_features(torch.randn(1, 6, 1, 32, 32))) == 5
    with pytest.raises(DataError, match="single images"):
        model.forward_features(torch.randn(1, 6, 2, 32, 32))
    path = tmp_path / "resnet.pt"
    torch.save(model.model.state_dict(), path)
    loaded = build_backbone("timm_resnet18", weights=path)
    torch.testing.assert_close(loaded.model.conv1.weight, model.model.conv1.weight)
    with pytest.raises(WeightsError, match="does not fit"):
        build_backbone("timm_resnet18", weights=path, bands=("RED", "GREEN", "BLUE"))
