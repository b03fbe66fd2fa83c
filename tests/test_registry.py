import types

import pytest

import geofm
from geofm.errors import PluginLoadError, UnknownComponentError
from geofm.hookspecs import hookimpl
from geofm.plugins import PluginWarning
from geofm.registry import get_registry
from geofm.specs import BackboneSpec, NeckSpec
from geofm.testing import check_plugin_module, isolated_plugins


def _backbone(name: str) -> BackboneSpec:
    return BackboneSpec(name=name, summary="test", factory="geofm.builtin.tiny_vit:build_tiny_vit")


def _plugin(name: str, *specs: BackboneSpec) -> types.SimpleNamespace:
    @hookimpl
    def geofm_backbones():
        return list(specs)

    return types.SimpleNamespace(__name__=name, geofm_backbones=geofm_backbones)


def test_builtin_components_are_registered_with_their_distribution():
    spec = geofm.get_spec("backbones", "tiny_vit")
    assert spec.distribution == "geofm"
    assert spec.version == geofm.__version__
    assert "tokens_to_map" in get_registry("necks")
    assert "segmentation" in get_registry("tasks")


def test_unknown_name_gives_close_matches_and_listing_command():
    with pytest.raises(UnknownComponentError) as info:
        get_registry("backbones").get("tiny_vt")
    message = str(info.value)
    assert "tiny_vit" in message
    assert "geofm backbones list" in message


def test_unknown_kind_is_an_error():
    with pytest.raises(UnknownComponentError, match="backbones"):
        get_registry("backbone")


def test_search_by_glob_and_substring():
    names = [s.name for s in get_registry("backbones").search("timm_res*")]
    assert names == sorted(names) and names and all(n.startswith("timm_res") for n in names)
    substring_hits = [s.name for s in get_registry("backbones").search("tiny")]
    assert {"timm_convnext_tiny", "tiny_vit"} <= set(substring_hits)
    assert all("tiny" in name for name in substring_hits) and substring_hits == sorted(substring_hits)


def test_duplicate_name_skips_the_later_plugin_naming_both():
    first = _plugin("alpha", _backbone("twin"))
    second = _plugin("beta", _backbone("twin"), _backbone("only_in_beta"))
    with isolated_plugins(first, second, include_installed=False):
        with pytest.warns(PluginWarning, match=r"test-beta 0 .*backbone 'twin' is already registered by test-alpha"):
            registry = get_registry("backbones")
        assert registry.names() == ["twin"]  # beta is skipped as a whole, alpha's twin stays
        assert registry.get("twin").distribution == "test-alpha"
        from geofm.plugins import plugin_records

        records = {r.name: r for r in plugin_records()}
        assert records["beta"].status == "failed" and "GEOFM_BLOCK_PLUGINS=beta" in records["beta"].error
        assert records["alpha"].status == "loaded"


def test_duplicate_name_is_fatal_when_strict(monkeypatch):
    monkeypatch.setenv("GEOFM_STRICT_PLUGINS", "1")
    first, second = _plugin("alpha", _backbone("twin")), _plugin("beta", _backbone("twin"))
    with isolated_plugins(first, second, include_installed=False), pytest.raises(PluginLoadError, match="twin"):
        get_registry("backbones")


def test_hook_that_raises_is_skipped_with_a_warning_and_recorded():
    @hookimpl
    def geofm_backbones():
        raise RuntimeError("boom")

    broken = types.SimpleNamespace(__name__="broken", geofm_backbones=geofm_backbones)
    good = _plugin("good", _backbone("fine_model"))
    with isolated_plugins(broken, good, include_installed=False):
        with pytest.warns(PluginWarning, match="test-broken.*boom"):
            registry = get_registry("backbones")
        assert registry.names() == ["fine_model"]
        from geofm.plugins import plugin_records

        record = {r.name: r for r in plugin_records()}["broken"]
        assert record.status == "failed" and "boom" in record.error
        with pytest.raises(UnknownComponentError, match="test-broken"):
            registry.get("missing_model")


def test_strict_plugins_makes_hook_errors_fatal(monkeypatch):
    @hookimpl
    def geofm_necks():
        raise ValueError("bad neck")

    monkeypatch.setenv("GEOFM_STRICT_PLUGINS", "1")
    broken = types.SimpleNamespace(__name__="strict_broken", geofm_necks=geofm_necks)
    with (
        isolated_plugins(broken, include_installed=False),
        pytest.raises(geofm.GeofmError, match="GEOFM_STRICT_PLUGINS"),
    ):
        get_registry("necks")


def test_wrong_spec_type_is_a_plugin_error():
    @hookimpl
    def geofm_necks():
        return [_backbone("not_a_neck")]

    broken = types.SimpleNamespace(__name__="wrong_type", geofm_necks=geofm_necks)
    with isolated_plugins(broken, include_installed=False), pytest.warns(PluginWarning, match="NeckSpec"):
        assert len(get_registry("necks")) == 0


def test_core_plugin_passes_the_conformance_checks():
    from geofm.builtin import plugin

    specs = check_plugin_module(plugin)
    assert {s.name for s in specs} >= {"tiny_vit", "select_levels", "segmentation"}
    assert all(isinstance(s, BackboneSpec | NeckSpec) or s.kind == "tasks" for s in specs)


def test_spec_validation_rejects_bad_metadata():
    with pytest.raises(ValueError, match="lower-case"):
        _backbone("Bad Name")
    with pytest.raises(ValueError, match="module:attr"):
        BackboneSpec(name="x", summary="", factory="no_colon")
    with pytest.raises(ValueError, match="out of range"):
        BackboneSpec(
            name="x", summary="", factory="a:b", feature_channels=(1,), feature_reductions=(1,), default_levels=(3,)
        )
