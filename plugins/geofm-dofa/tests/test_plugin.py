"""The plugin: installed and discovered, light to import, complete specs that match the built modules."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest

import geofm
from geofm.specs import BackboneSpec
from geofm.testing import check_plugin_module, check_spec_factories, import_is_light
from geofm_dofa import plugin

NAMES = ("dofa_small", "dofa_base_patch16_224", "dofa_large_patch16_224")
TINY = {"embed_dim": 32, "num_heads": 2, "patch_size": 8}


def test_entry_point_is_installed() -> None:
    entries = [e for e in metadata.entry_points(group="geofm") if e.name == "dofa"]
    assert [e.value for e in entries] == ["geofm_dofa.plugin"]
    assert entries[0].dist is not None and entries[0].dist.name == "geofm-dofa"


def test_registry_discovers_the_backbones() -> None:
    specs = {spec.name: spec for spec in geofm.list_components("backbones", "dofa_*")}
    assert set(specs) == set(NAMES)
    for name in NAMES:
        assert specs[name].distribution == "geofm-dofa"
        assert specs[name].factory == f"geofm_dofa.factory:{name}"


def test_plugin_and_package_do_not_import_torch() -> None:
    assert import_is_light("geofm_dofa.plugin") == []
    assert import_is_light("geofm_dofa") == []
    code = (
        "import sys, geofm_dofa.plugin as p; specs = list(p.geofm_backbones()); "
        "print(len(specs), 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "3 False"


def test_specs_validate_and_factories_resolve() -> None:
    specs = check_plugin_module(plugin)
    assert {s.name for s in specs} == set(NAMES)
    check_spec_factories(specs)


def test_spec_metadata() -> None:
    specs = {s.name: s for s in plugin.geofm_backbones()}
    sizes = {name: (s.embed_dim, s.depth, s.patch_size, s.img_size) for name, s in specs.items()}
    assert sizes == {
        "dofa_small": (384, 12, 16, 224),
        "dofa_base_patch16_224": (768, 12, 16, 224),
        "dofa_large_patch16_224": (1024, 24, 16, 224),
    }
    assert specs["dofa_base_patch16_224"].default_levels == (2, 5, 8, 11)
    assert specs["dofa_large_patch16_224"].default_levels == (5, 11, 17, 23)
    for spec in specs.values():
        assert (spec.output_kind, spec.num_prefix_tokens, spec.input_bands) == ("tokens", 1, "any")
        assert (spec.num_frames, spec.max_frames, spec.accepts) == (1, 1, ("wavelengths",))
        assert spec.feature_channels == (spec.embed_dim,) * spec.depth
        assert spec.feature_reductions == (16,) * spec.depth
        assert spec.bands == () and "arXiv:2403.15356" in spec.citation and "MIT" in spec.license
        assert spec.extra["band_wavelengths_um"]["NIR_NARROW"] == 0.864
        assert spec.extra["sensors"]["sentinel2"]["B10"] == 1.373
        assert "dataset's own per-band mean and std" in spec.extra["statistics"]
    assert specs["dofa_small"].weights == {} and specs["dofa_small"].default_weights is None
    for name, hf_file, original in (
        ("dofa_base_patch16_224", "dofa_base_patch16_224-a0275954.pth", "DOFA_ViT_base_e100.pth"),
        ("dofa_large_patch16_224", "dofa_large_patch16_224-0ff904d3.pth", "DOFA_ViT_large_e100.pth"),
    ):
        spec = specs[name]
        default = spec.weights["default"]
        assert spec.default_weights == "default" and default.source == f"hf://torchgeo/dofa/{hf_file}"
        assert spec.weights["original"].source == f"hf://earthflow/DOFA/{original}"
        assert default.license == "CC-BY-4.0" and default.bands == default.mean == default.std == ()
        assert "CC-BY-4.0" in spec.license
    assert specs["dofa_base_patch16_224"].extra["checkpoint_keys"] == 168
    assert specs["dofa_large_patch16_224"].extra["checkpoint_keys"] == 312


def test_backbones_show_lists_wavelengths_statistics_source_licence_citation() -> None:
    command = [sys.executable, "-m", "geofm_cli.app", "backbones", "show", "dofa_base_patch16_224"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for expected in (
        "NIR_NARROW: 0.864",
        "B8A: 0.864",
        "VV: 5.405",
        "statistics: none",
        "hf_repo: torchgeo/dofa",
        "hf_file: dofa_base_patch16_224-a0275954.pth",
        "license: weights CC-BY-4.0",
        "arXiv:2403.15356",
    ):
        assert expected in text, expected
    data = json.loads(subprocess.run([*command, "--json"], capture_output=True, text=True, check=True).stdout)
    assert data["weights"]["default"]["hf_repo"] == "torchgeo/dofa" and data["input_bands"] == "any"


def test_geofm_plugins_lists_the_distribution() -> None:
    command = [sys.executable, "-m", "geofm_cli.app", "plugins"]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in text.splitlines() if line.startswith("geofm-dofa "))
    assert line.split()[1:4] == ["0.1.0", "dofa", "loaded"] and "3 backbones" in line


@pytest.mark.parametrize("name", NAMES)
def test_built_module_matches_its_spec(name: str) -> None:
    torch = pytest.importorskip("torch")
    spec: BackboneSpec = geofm.get_spec("backbones", name)
    depth = 3
    module = spec.load_factory()(checkpoint=None, bands=None, num_frames=None, img_size=32, depth=depth, **TINY)
    assert module.output_kind == spec.output_kind and module.num_prefix_tokens == spec.num_prefix_tokens
    assert module.tubelet_size == 1 and module.out_channels == [32] * depth and module.out_reductions == [8] * depth
    module = geofm.build_backbone(name, weights="none", bands=["B2", "B3", "B4"], img_size=64, depth=2)
    assert module.patch_size == spec.patch_size and module.out_reductions == list(spec.feature_reductions[:2])
    assert module.out_channels == list(spec.feature_channels[:2]) and module.img_size == 64
    with torch.no_grad():
        features = module.forward_features(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape) for f in features] == [(1, 1 + 16, spec.embed_dim)] * 2
