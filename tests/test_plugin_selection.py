import json
import os
import subprocess
import sys
import warnings

import pytest

from geofm.errors import UnknownComponentError
from geofm.plugins import PluginWarning, plugin_records
from geofm.registry import get_registry
from geofm.testing import isolated_plugins


def test_plugins_json_lists_every_distribution_as_loaded(cli):
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    records = {r["distribution"]: r for r in json.loads(result.stdout)}
    expected = {
        "geofm",
        "geofm-prithvi",
        "geofm-clay",
        "geofm-decoders",
        "geofm-datasets",
        "geofm-terramind",
        "geofm-dofa",
    }
    assert expected <= set(records)
    for name in expected:
        assert records[name]["status"] == "loaded", records[name]
        assert records[name]["version"]
        assert sum(records[name]["components"].values()) > 0


def test_block_and_load_select_plugins(cli):
    blocked = cli("plugins", "--json", env={"GEOFM_BLOCK_PLUGINS": "geofm-clay"})
    status = {r["distribution"]: r["status"] for r in json.loads(blocked.stdout)}
    assert status["geofm-clay"] == "blocked" and status["geofm"] == "loaded"
    listing = cli("backbones", "list", env={"GEOFM_BLOCK_PLUGINS": "clay"})
    assert "clay_v1_base" not in listing.stdout and "tiny_vit" in listing.stdout

    only = cli("plugins", "--json", env={"GEOFM_LOAD_PLUGINS": "builtin"})
    status = {r["distribution"]: r["status"] for r in json.loads(only.stdout)}
    assert status["geofm"] == "loaded"
    assert {s for d, s in status.items() if d != "geofm"} == {"blocked"}


def _selection_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, PluginWarning) and "matches no" in str(w.message)]


def test_a_selection_name_matching_no_plugin_warns_once_listing_the_installed_ones(monkeypatch):
    monkeypatch.setenv("GEOFM_BLOCK_PLUGINS", "geofm-clya")
    monkeypatch.setenv("GEOFM_LOAD_PLUGINS", "builtin,clay,datasets,decoders,prithvi,geofm-prithvi")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with isolated_plugins():
            records = {r.name: r for r in plugin_records()}
    messages = _selection_warnings(caught)
    assert len(messages) == 1, messages
    (message,) = messages
    assert "\n" not in message
    assert "GEOFM_BLOCK_PLUGINS names 'geofm-clya'" in message
    assert "did you mean 'geofm-clay'" in message
    assert "builtin (geofm)" in message and "clay (geofm-clay)" in message and "prithvi (geofm-prithvi)" in message
    assert records["clay"].status == "loaded"  # the misspelt block blocks nothing


def test_unmatched_load_name_is_reported_and_matching_names_are_not(monkeypatch):
    monkeypatch.setenv("GEOFM_LOAD_PLUGINS", "builtin, geofm-prithvi ,prithv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with isolated_plugins():
            status = {r.distribution: r.status for r in plugin_records()}
    messages = _selection_warnings(caught)
    assert len(messages) == 1 and "GEOFM_LOAD_PLUGINS names 'prithv'" in messages[0], messages
    assert status["geofm"] == status["geofm-prithvi"] == "loaded" and status["geofm-clay"] == "blocked"


def test_no_selection_warning_without_selection(monkeypatch):
    monkeypatch.delenv("GEOFM_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("GEOFM_BLOCK_PLUGINS", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with isolated_plugins():
            plugin_records()
    assert _selection_warnings(caught) == []


def test_unknown_component_names_the_plugin_blocked_by_geofm_block_plugins(monkeypatch):
    monkeypatch.setenv("GEOFM_BLOCK_PLUGINS", "geofm-prithvi")
    monkeypatch.delenv("GEOFM_LOAD_PLUGINS", raising=False)
    with isolated_plugins(), pytest.raises(UnknownComponentError) as info:
        get_registry("backbones").get("prithvi_eo_v2_300")
    message = str(info.value)
    assert "unknown backbone 'prithvi_eo_v2_300'" in message
    assert "plugin geofm-prithvi" in message and "(prithvi) is blocked by GEOFM_BLOCK_PLUGINS=geofm-prithvi" in message
    assert "unset GEOFM_BLOCK_PLUGINS" in message
    assert "geofm-clay" not in message  # only the plugins that were left out are named


def test_unknown_component_names_the_plugins_left_out_by_geofm_load_plugins(monkeypatch):
    monkeypatch.setenv("GEOFM_LOAD_PLUGINS", "builtin")
    monkeypatch.delenv("GEOFM_BLOCK_PLUGINS", raising=False)
    with isolated_plugins(), pytest.raises(UnknownComponentError) as info:
        get_registry("datasets").get("sen1floods11")
    message = str(info.value)
    note = next(line for line in message.splitlines() if "GEOFM_LOAD_PLUGINS" in line)
    assert "GEOFM_LOAD_PLUGINS=builtin does not list them" in note
    assert all(name in note for name in ("geofm-datasets", "geofm-prithvi", "geofm-clay", "geofm-decoders"))
    assert "(builtin)" not in note and "add its name to GEOFM_LOAD_PLUGINS" in note


def test_unknown_component_without_selection_blames_no_plugin(monkeypatch):
    monkeypatch.delenv("GEOFM_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("GEOFM_BLOCK_PLUGINS", raising=False)
    with isolated_plugins(), pytest.raises(UnknownComponentError) as info:
        get_registry("backbones").get("no_such_backbone")
    assert "GEOFM_" not in str(info.value)


def test_a_fresh_process_warns_about_a_misspelt_block_once():
    code = (
        "from geofm.registry import get_registry\n"
        "for kind in ('backbones', 'necks', 'datasets'):\n"
        "    get_registry(kind)\n"
    )
    env = {**os.environ, "GEOFM_BLOCK_PLUGINS": "nonexistent_plugin"}
    env.pop("GEOFM_LOAD_PLUGINS", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "nonexistent_plugin" in line]
    assert len(lines) == 1 and "matches no installed geofm plugin" in lines[0], result.stderr
