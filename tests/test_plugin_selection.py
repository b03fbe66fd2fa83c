import json


def test_plugins_json_lists_every_distribution_as_loaded(cli):
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    records = {r["distribution"]: r for r in json.loads(result.stdout)}
    expected = {"geofm", "geofm-prithvi", "geofm-clay", "geofm-decoders", "geofm-datasets"}
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
