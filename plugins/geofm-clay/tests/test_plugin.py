"""The plugin is installed, discovered, light to import, and its specs describe the built modules."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

from geofm.testing import check_plugin_module, check_spec_factories, import_is_light
from geofm_clay import plugin
from geofm_clay.sensors import SENSORS

TINY = {"dim": 64, "depth": 2, "heads": 2, "dim_head": 16}


def test_entry_point_is_installed() -> None:
    entries = [e for e in metadata.entry_points(group="geofm") if e.name == "clay"]
    assert [e.value for e in entries] == ["geofm_clay.plugin"]
    assert entries[0].dist is not None and entries[0].dist.name == "geofm-clay"


def test_registry_discovers_the_backbones() -> None:
    import geofm

    names = {spec.name for spec in geofm.list_components("backbones", "clay_*")}
    assert {"clay_v1_base", "clay_v1_5_large"} <= names
    assert geofm.get_spec("backbones", "clay_v1_base").distribution == "geofm-clay"


def test_plugin_module_does_not_import_torch() -> None:
    assert import_is_light("geofm_clay.plugin") == []


def test_specs_validate_and_factories_resolve() -> None:
    specs = check_plugin_module(plugin)
    assert {s.name for s in specs} == {"clay_v1_base", "clay_v1_5_large"}
    check_spec_factories(specs)


def test_spec_metadata() -> None:
    specs = {s.name: s for s in plugin.geofm_backbones()}
    base, large = specs["clay_v1_base"], specs["clay_v1_5_large"]
    assert (base.embed_dim, base.depth, base.img_size) == (768, 12, 224)
    assert (large.embed_dim, large.depth, large.img_size) == (1024, 24, 256)
    for spec in specs.values():
        assert spec.input_bands == "any"
        assert set(spec.accepts) == {"time", "location", "wavelengths", "gsd"}
        assert spec.feature_channels == (spec.embed_dim,) * spec.depth
        assert spec.feature_reductions == (8,) * spec.depth
        weights = spec.weights["default"]
        assert weights.hf_repo == "made-with-clay/Clay"
        assert spec.bands == SENSORS["sentinel-2-l2a"].canonical
        assert weights.mean[0] == 1105.0 and weights.std[-1] == 1379.0
    assert base.weights["default"].hf_file == "clay-v1-base.ckpt"
    assert large.weights["default"].hf_file == "v1.5/clay-v1.5.ckpt"
    sensors = json.loads(json.dumps(base.to_dict()))["extra"]["sensors"]
    assert set(sensors) == {"sentinel-2-l2a", "landsat-c2l2-sr", "naip", "linz", "sentinel-1-rtc"}
    assert sensors["sentinel-1-rtc"]["wavelengths_um"] == [3.5, 4.0]
    assert sensors["landsat-c2l2-sr"]["gsd_m"] == 30.0


@pytest.mark.parametrize("name", ["clay_v1_base", "clay_v1_5_large"])
def test_built_module_matches_its_spec(name: str) -> None:
    torch = pytest.importorskip("torch")
    spec = {s.name: s for s in plugin.geofm_backbones()}[name]
    depth = 3
    module = spec.load_factory()(
        checkpoint=None, bands=None, num_frames=None, img_size=None, **{**TINY, "depth": depth}
    )
    assert module.output_kind == spec.output_kind
    assert module.num_prefix_tokens == spec.num_prefix_tokens
    assert module.patch_size == spec.patch_size and module.tubelet_size == 1
    assert module.out_reductions == list(spec.feature_reductions[:depth])
    assert module.img_size == spec.img_size
    features = module.forward_features(torch.randn(1, 10, 32, 32))
    assert [tuple(f.shape) for f in features] == [(1, 1 + 16, 64)] * depth
    assert module.out_channels == [f.shape[-1] for f in features]


def test_geofm_build_backbone_loads_the_fixture_and_feeds_core_necks() -> None:
    """Through core: weights by path, bands by any vocabulary name, features folded to maps by a core neck."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("geofm.compose", reason="geofm.compose is not available in this checkout")
    from pathlib import Path

    import geofm
    from geofm.features import FeatureContext
    from geofm.registry import get_registry

    fixture = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "clay" / "clay_small.ckpt"
    if not fixture.is_file():
        pytest.skip(f"Clay fixture not found at {fixture}")
    module = geofm.build_backbone("clay_v1_base", weights=str(fixture), bands=["B02", "B03", "B04", "VV"], **TINY)
    assert module.resolved_weights.pretrained
    assert module.band_names == ("BLUE", "GREEN", "RED", "VV")
    features = module.forward_features(torch.randn(2, 4, 32, 48), center_latlon=torch.tensor([[1.0, 2.0]] * 2))
    neck = (
        get_registry("necks")
        .get("tokens_to_map")
        .load_factory()(in_channels=module.out_channels, in_reductions=module.out_reductions)
    )
    maps = neck(features, FeatureContext(image_size=(32, 48), grid=(1, 4, 6), num_prefix_tokens=1))
    assert [tuple(m.shape) for m in maps] == [(2, 64, 4, 6)] * 2
