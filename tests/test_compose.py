"""Composition: planning from specs, and composed models of the built-in backbones with test decoders."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.compose import build_model, plan_composition
from geofm.errors import ConfigError, IncompatibleComponentsError
from geofm.hookspecs import hookimpl
from geofm.registry import get_registry
from geofm.specs import DecoderSpec
from geofm.testing import isolated_plugins

# --- test decoders, registered through a test-only plugin -------------------------------------------


class TinyFPN(nn.Module):
    """Lateral 1x1 convs + top-down sum; output at the finest level."""

    def __init__(self, in_channels: list[int], in_reductions: list[int], channels: int = 16) -> None:
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(c, channels, 1) for c in in_channels])
        self.out_channels = channels
        self.out_reduction = in_reductions[0]

    def forward(self, features: list[Tensor]) -> Tensor:
        maps = [conv(x) for conv, x in zip(self.lateral, features, strict=True)]
        out = maps[-1]
        for x in reversed(maps[:-1]):
            out = x + F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out


class OneConv(nn.Module):
    """A 3x3 conv on the last map."""

    def __init__(self, in_channels: list[int], in_reductions: list[int], channels: int = 16) -> None:
        super().__init__()
        self.in_channels = list(in_channels)
        self.conv = nn.Conv2d(in_channels[-1], channels, 3, padding=1)
        self.out_channels = channels
        self.out_reduction = in_reductions[-1]

    def forward(self, features: list[Tensor]) -> Tensor:
        return self.conv(features[-1])


class Mlp(nn.Module):
    """Linear + GELU on a vector."""

    def __init__(self, in_channels: list[int], in_reductions: list[int], channels: int = 16) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_channels[-1], channels), nn.GELU())
        self.out_channels = channels
        self.out_reduction = 0

    def forward(self, features: list[Tensor]) -> Tensor:
        return self.layers(features[-1])


FPN = DecoderSpec(name="test_fpn", summary="test FPN", factory=f"{__name__}:TinyFPN", num_levels=4, needs_pyramid=True)
CONV = DecoderSpec(name="test_conv", summary="test conv", factory=f"{__name__}:OneConv", num_levels=1)
MLP = DecoderSpec(
    name="test_mlp",
    summary="test mlp",
    factory=f"{__name__}:Mlp",
    consumes="vector",
    tasks=("classification",),
)


class _TestDecoders:
    @hookimpl
    def geofm_decoders(self) -> list[DecoderSpec]:
        return [FPN, CONV, MLP]


@pytest.fixture
def test_decoders() -> Iterator[None]:
    with isolated_plugins(_TestDecoders()):
        yield


def _backbone(name: str):
    return get_registry("backbones").get(name)


# --- planning (pure) -----------------------------------------------------------------------------------


def test_plan_inserts_necks_for_token_backbone() -> None:
    vit = _backbone("tiny_vit")
    assert plan_composition(vit, FPN) == [{"name": "tokens_to_map"}, {"name": "interpolate_pyramid"}]
    assert plan_composition(vit, CONV) == [{"name": "select_levels", "levels": [3]}, {"name": "tokens_to_map"}]
    assert plan_composition(vit, FPN, levels=[1]) == [
        {"name": "select_levels", "levels": [1]},
        {"name": "tokens_to_map"},
        {"name": "interpolate_pyramid"},
    ]
    assert plan_composition(vit, MLP, task_type="classification") == [{"name": "token_pool"}]


def test_plan_for_cnn_backbone() -> None:
    resnet = _backbone("timm_resnet18")
    assert plan_composition(resnet, FPN) == [{"name": "select_levels", "levels": [1, 2, 3, 4]}]
    assert plan_composition(resnet, CONV) == [{"name": "select_levels", "levels": [4]}]
    assert plan_composition(resnet, MLP, task_type="classification") == [{"name": "global_pool"}]


def test_plan_error_names_missing_necks() -> None:
    vit = _backbone("tiny_vit")
    with pytest.raises(IncompatibleComponentsError, match="add --neck tokens_to_map --neck interpolate_pyramid"):
        plan_composition(vit, FPN, necks=[])
    with pytest.raises(IncompatibleComponentsError, match="add --neck tokens_to_map before --neck learned_pyramid"):
        plan_composition(vit, FPN, necks=["learned_pyramid"])
    with pytest.raises(IncompatibleComponentsError, match="add --neck interpolate_pyramid"):
        plan_composition(vit, FPN, necks=["tokens_to_map"])
    with pytest.raises(IncompatibleComponentsError, match="select_levels"):
        plan_composition(vit, CONV, necks=["tokens_to_map"])
    with pytest.raises(IncompatibleComponentsError, match="suits classification, not segmentation"):
        plan_composition(vit, MLP)


def test_plan_checks_explicit_necks_and_fills_levels() -> None:
    vit = _backbone("tiny_vit")
    plan = plan_composition(vit, FPN, necks=["select_levels", "tokens_to_map", {"name": "learned_pyramid"}])
    assert plan[0] == {"name": "select_levels", "levels": [0, 1, 2, 3]}
    with pytest.raises(IncompatibleComponentsError, match="out of range"):
        plan_composition(vit, FPN, necks=[{"name": "select_levels", "levels": [9]}, "tokens_to_map"])
    with pytest.raises(IncompatibleComponentsError, match="1 or 4"):
        plan_composition(
            vit, FPN, necks=[{"name": "select_levels", "levels": [1, 3]}, "tokens_to_map", "interpolate_pyramid"]
        )
    resnet = _backbone("timm_resnet18")
    with pytest.raises(IncompatibleComponentsError, match="already form a pyramid"):
        plan_composition(resnet, FPN, necks=["interpolate_pyramid"])


def test_importing_compose_does_not_import_torch() -> None:
    code = "import sys, geofm.compose; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- composed models -----------------------------------------------------------------------------------

BANDS = ("BLUE", "GREEN", "RED", "NIR_NARROW")


@pytest.mark.usefixtures("test_decoders")
@pytest.mark.parametrize("backbone", ["tiny_vit", "timm_resnet18"])
@pytest.mark.parametrize("decoder", ["test_fpn", "test_conv"])
def test_segmentation_output_at_input_size(backbone: str, decoder: str) -> None:
    model = build_model(backbone, decoder, num_classes=3, weights="none", bands=BANDS)
    for size in [(64, 64), (50, 70)]:  # 50 x 70 is not a multiple of the patch size or of the reductions
        image = torch.randn(2, len(BANDS), *size)
        out = model(image)
        assert out.shape == (2, 3, *size)
        logits, aux = model.forward_with_aux(image)
        assert logits.shape == out.shape and aux == {}


@pytest.mark.usefixtures("test_decoders")
def test_padding_is_cropped_back() -> None:
    torch.manual_seed(0)
    model = build_model("tiny_vit", "test_fpn", num_classes=2, weights="none").eval()
    image = torch.randn(1, 6, 50, 70)
    with torch.no_grad():
        cropped = model(image)
        padded = model(F.pad(image, (0, 2, 0, 6)))[..., :50, :70]
    torch.testing.assert_close(cropped, padded)


@pytest.mark.usefixtures("test_decoders")
def test_backward_reaches_every_part() -> None:
    model = build_model(
        "tiny_vit", "test_fpn", num_classes=2, weights="none", necks=["tokens_to_map", "learned_pyramid"]
    )
    model(torch.randn(2, 6, 32, 32)).square().mean().backward()
    for part in (model.backbone.patch_embed, model.necks[-1], model.decoder, model.head):
        grads = [p.grad for p in part.parameters()]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.neck_plan == [{"name": "tokens_to_map"}, {"name": "learned_pyramid"}]


@pytest.mark.usefixtures("test_decoders")
@pytest.mark.parametrize("backbone", ["tiny_vit", "timm_resnet18"])
def test_classification(backbone: str) -> None:
    model = build_model(backbone, "test_mlp", task="classification", num_classes=5, weights="none")
    assert model.neck_plan[0]["name"] == ("token_pool" if backbone == "tiny_vit" else "global_pool")
    assert model(torch.randn(3, 6, 40, 40)).shape == (3, 5)


@pytest.mark.usefixtures("test_decoders")
def test_classification_with_cls_token() -> None:
    model = build_model(
        "tiny_vit",
        "test_mlp",
        task="multilabel_classification",
        num_classes=4,
        weights="none",
        necks=[{"name": "token_pool", "mode": "cls"}],
    )
    assert model(torch.randn(2, 6, 16, 16)).shape == (2, 4)


@pytest.mark.usefixtures("test_decoders")
def test_time_series_folds_frames_into_channels() -> None:
    model = build_model("tiny_vit", "test_conv", num_classes=2, weights="none", num_frames=3)
    assert model.necks[-1].out_channels == [3 * 64]
    assert model.decoder.in_channels == [3 * 64]
    assert model(torch.randn(2, 6, 3, 24, 20)).shape == (2, 2, 24, 20)


@pytest.mark.usefixtures("test_decoders")
def test_aux_heads() -> None:
    model = build_model(
        "tiny_vit",
        "test_fpn",
        num_classes=3,
        weights="none",
        aux_heads=[{"decoder": "test_conv", "level": 1, "weight": 0.4, "channels": 8}],
    )
    assert model.aux_weights == {"aux_0": 0.4}
    logits, aux = model.forward_with_aux(torch.randn(2, 6, 36, 44))
    assert logits.shape == (2, 3, 36, 44)
    assert set(aux) == {"aux_0"} and aux["aux_0"].shape == (2, 3, 36, 44)
    assert model.aux_heads["aux_0"].decoder.conv.out_channels == 8


@pytest.mark.usefixtures("test_decoders")
def test_regression_task_type_and_task_name() -> None:
    model = build_model("timm_resnet18", "test_conv", task="regression", num_classes=1, weights="none")
    assert model.task_type == "regression"
    assert model(torch.randn(1, 6, 40, 40)).shape == (1, 1, 40, 40)
    model = build_model("tiny_vit", "test_conv", task="regression", weights="none", head_options={"num_outputs": 3})
    assert model(torch.randn(1, 6, 40, 40)).shape == (1, 3, 40, 40)
    assert build_model("tiny_vit", "test_conv", task="segmentation", weights="none").task_type == "segmentation"


@pytest.mark.usefixtures("test_decoders")
def test_bad_options_and_tasks_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown task 'segmentashun'"):
        build_model("tiny_vit", "test_conv", task="segmentashun", weights="none")
    with pytest.raises(ConfigError, match="decoder test_conv"):
        build_model("tiny_vit", "test_conv", weights="none", decoder_options={"bogus": 1})
    with pytest.raises(IncompatibleComponentsError, match="aux_heads\\[0\\]"):
        build_model("tiny_vit", "test_conv", weights="none", aux_heads=[{"decoder": "test_fpn", "level": 0}])
