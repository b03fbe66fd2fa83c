"""The plugin is installed, discovered, light to import, and its specs are valid."""

from __future__ import annotations

import geofm
from geofm.testing import check_plugin_module, check_spec_factories, import_is_light
from geofm_decoders import plugin
from geofm_decoders.smp_table import SMP_DECODERS

OWN = {"upernet", "fcn", "unet", "linear", "mlp", "identity"}


def test_plugin_module_does_not_import_torch():
    assert import_is_light("geofm_decoders.plugin") == []
    assert import_is_light("geofm_decoders") == []


def test_plugin_specs_validate_and_factories_resolve():
    specs = check_plugin_module(plugin)
    assert {s.name for s in specs} == OWN | {f"smp_{arch}" for arch in SMP_DECODERS}
    check_spec_factories(specs)
    for spec in specs:
        assert spec.summary and "\n" not in spec.summary
        assert spec.num_levels in (1, 4)
        assert not spec.needs_pyramid or spec.num_levels == 4


def test_entry_point_registers_the_decoders():
    registered = {s.name: s for s in geofm.list_components("decoders")}
    for name in OWN | {f"smp_{arch}" for arch in SMP_DECODERS}:
        assert registered[name].distribution == "geofm-decoders"
    assert registered["identity"].consumes == "any"
    assert "classification" in registered["identity"].tasks
