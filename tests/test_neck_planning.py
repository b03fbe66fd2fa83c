"""Necks are planned from what their specs declare: a plugin's own neck is planned like a built-in one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.compose import build_model, plan_composition
from geofm.errors import IncompatibleComponentsError
from geofm.hookspecs import hookimpl
from geofm.registry import get_registry
from geofm.specs import DecoderSpec, NeckSpec
from geofm.testing import isolated_plugins

CORE = Path(__file__).resolve().parents[1] / "core" / "geofm"


class StridedPyramid(nn.Module):
    """Same-stride maps -> a 3-level pyramid (x2, x1, x0.5) with one learned conv per level."""

    def __init__(self, in_channels: list[int], in_reductions: list[int], scales: tuple[float, ...] = (2, 1, 0.5)):
        super().__init__()
        self.scales = tuple(scales)
        self.convs = nn.ModuleList([nn.Conv2d(in_channels[-1], in_channels[-1], 3, padding=1) for _ in self.scales])
        self.out_channels = [in_channels[-1]] * len(self.scales)
        self.out_reductions = [max(1, round(in_reductions[-1] / s)) for s in self.scales]

    def forward(self, features: list[Tensor], context: object = None) -> list[Tensor]:
        last = features[-1]
        return [
            conv(F.interpolate(last, scale_factor=scale, mode="bilinear", align_corners=False))
            for conv, scale in zip(self.convs, self.scales, strict=True)
        ]


class ThreeLevelHead(nn.Module):
    """Sums a 3-level pyramid at the finest level."""

    def __init__(self, in_channels: list[int], in_reductions: list[int]) -> None:
        super().__init__()
        self.in_reductions = list(in_reductions)
        self.out_channels = in_channels[0]
        self.out_reduction = in_reductions[0]

    def forward(self, features: list[Tensor]) -> Tensor:
        size = features[0].shape[-2:]
        return sum(F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in features)


PYRAMID = NeckSpec(
    name="strided_pyramid",
    summary="test: same-stride maps -> 3-level pyramid",
    factory=f"{__name__}:StridedPyramid",
    consumes="maps",
    produces="maps",
    out_levels=3,
    makes_pyramid=True,
    pyramid_scales=(2, 1, 0.5),
    auto_rank=1,
    options={"scales": "resize factor per level"},
)
HEAD = DecoderSpec(
    name="three_level_head",
    summary="test: a decoder that needs a 3-level pyramid",
    factory=f"{__name__}:ThreeLevelHead",
    num_levels=3,
    needs_pyramid=True,
)


class _PyramidPlugin:
    @hookimpl
    def geofm_necks(self) -> list[NeckSpec]:
        return [PYRAMID]

    @hookimpl
    def geofm_decoders(self) -> list[DecoderSpec]:
        return [HEAD]


def test_a_plugin_neck_that_makes_a_pyramid_is_inserted_automatically() -> None:
    with isolated_plugins(_PyramidPlugin(), include_installed=["geofm"]):
        vit = get_registry("backbones").get("tiny_vit")
        plan = plan_composition(vit, HEAD)
        assert plan == [  # three levels for a three-level pyramid, spread over the blocks
            {"name": "select_levels", "levels": [0, 2, 3]},
            {"name": "tokens_to_map"},
            {"name": "strided_pyramid"},
        ]
        model = build_model("tiny_vit", "three_level_head", weights="none", bands=["B02", "B03", "B04"], img_size=64)
        assert model.neck_plan == plan
        assert model.necks[-1].out_reductions == [4, 8, 16]  # the neck really built, with the planned strides
        out = model(torch.randn(2, 3, 64, 64))
        assert out.shape == (2, 2, 64, 64)


def test_the_pyramid_maker_fits_the_decoder_and_an_unranked_one_is_never_chosen() -> None:
    four_levels = DecoderSpec(
        name="four_fpn", summary="x", factory=f"{__name__}:ThreeLevelHead", num_levels=4, needs_pyramid=True
    )
    with isolated_plugins(_PyramidPlugin(), include_installed=["geofm"]):
        vit = get_registry("backbones").get("tiny_vit")
        # the plugin's 3-level pyramid outranks the built-in one, but a 4-level decoder needs 4 levels
        assert plan_composition(vit, four_levels)[-1] == {"name": "interpolate_pyramid"}
        unranked = NeckSpec(**{**_fields(PYRAMID), "auto_rank": None})
        specs = {spec.name: spec for spec in get_registry("necks")} | {unranked.name: unranked}
        with pytest.raises(IncompatibleComponentsError, match="needs a pyramid"):
            plan_composition(vit, HEAD, neck_specs=specs)


def test_an_explicit_plugin_pyramid_is_followed_stride_by_stride() -> None:
    with isolated_plugins(_PyramidPlugin(), include_installed=["geofm"]):
        vit = get_registry("backbones").get("tiny_vit")
        necks = [{"name": "select_levels", "levels": [3]}, "tokens_to_map", "strided_pyramid"]
        assert plan_composition(vit, HEAD, necks=necks)[-1] == {"name": "strided_pyramid"}
        # two pyramid makers in a row: the second receives a pyramid, and the message says so
        with pytest.raises(IncompatibleComponentsError, match="already form a pyramid"):
            plan_composition(vit, HEAD, necks=[*necks, "strided_pyramid"])


def test_no_core_module_names_a_built_in_neck() -> None:
    names = {spec.name for spec in _builtin_necks()}
    offenders = []
    for path in CORE.rglob("*.py"):
        relative = path.relative_to(CORE).as_posix()
        if relative.startswith(("builtin/", "migrate/")):  # the built-in plugin itself; the peer's names
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{relative}:{node.lineno} {node.value}")
    assert offenders == []


def _builtin_necks() -> list[NeckSpec]:
    from geofm.builtin import plugin

    return list(plugin.geofm_necks())


def _fields(spec: NeckSpec) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.init}
