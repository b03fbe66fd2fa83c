"""The plugin: installed and discovered, light to import, complete specs that describe the built modules."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
import torch

from geofm.bands import canonical_band
from geofm.specs import BackboneSpec
from geofm.testing import (
    check_plugin_module,
    check_spec_factories,
    import_changes_torch_state,
    import_is_light,
)
from geofm_terramind import plugin
from geofm_terramind.modalities import MODALITIES

NAMES = ("terramind_v1_tiny", "terramind_v1_small", "terramind_v1_base", "terramind_v1_large")
SMALL = {"dim": 32, "depth": 3, "num_heads": 2}


def _spec(name: str) -> BackboneSpec:
    return {s.name: s for s in plugin.geofm_backbones()}[name]


def test_entry_point_is_installed_and_discovered() -> None:
    import geofm

    entries = [e for e in metadata.entry_points(group="geofm") if e.name == "terramind"]
    assert [e.value for e in entries] == ["geofm_terramind.plugin"]
    assert entries[0].dist is not None and entries[0].dist.name == "geofm-terramind"
    found = {s.name: s for s in geofm.list_components("backbones", "terramind_*")}
    assert set(found) == set(NAMES)
    assert {s.distribution for s in found.values()} == {"geofm-terramind"}
    assert {s.factory for s in found.values()} == {f"geofm_terramind.factory:{n}" for n in NAMES}


def test_entry_modules_do_not_import_torch() -> None:
    assert import_is_light("geofm_terramind.plugin") == []
    assert import_is_light("geofm_terramind") == []


def test_importing_the_model_changes_no_global_torch_state() -> None:
    modules = ("geofm_terramind.factory", "geofm_terramind.checkpoint", "geofm_terramind.model")
    assert import_changes_torch_state(*modules) == ""


def test_specs_validate_and_factories_resolve() -> None:
    specs = check_plugin_module(plugin)
    assert [s.name for s in specs] == list(NAMES)
    check_spec_factories(specs)


def test_released_sizes_and_sources() -> None:
    sizes = {n: (_spec(n).embed_dim, _spec(n).depth, _spec(n).default_levels) for n in NAMES}
    assert sizes == {
        "terramind_v1_tiny": (192, 12, (2, 5, 8, 11)),
        "terramind_v1_small": (384, 12, (2, 5, 8, 11)),
        "terramind_v1_base": (768, 12, (2, 5, 8, 11)),
        "terramind_v1_large": (1024, 24, (5, 11, 17, 23)),
    }
    for name in NAMES:
        size = name.rsplit("_", 1)[-1]
        weights = _spec(name).weights["default"]
        assert (weights.hf_repo, weights.hf_file) == (
            f"ibm-esa-geospatial/TerraMind-1.0-{size}",
            f"TerraMind_v1_{size}.pt",
        )


@pytest.mark.parametrize("name", NAMES)
def test_spec_metadata_is_complete(name: str) -> None:
    spec = _spec(name)
    assert (spec.output_kind, spec.num_prefix_tokens, spec.patch_size, spec.img_size) == ("tokens", 0, 16, 224)
    assert (spec.num_frames, spec.max_frames, spec.input_bands, spec.accepts) == (1, 1, "fixed", ())
    assert spec.feature_channels == (spec.embed_dim,) * spec.depth
    assert spec.feature_reductions == (16,) * spec.depth
    assert spec.license == "Apache-2.0" and "arXiv:2504.11171" in spec.citation
    weights = spec.weights[spec.default_weights or ""]
    assert weights.license == "Apache-2.0" and weights.citation == spec.citation
    assert set(spec.options) >= {"modalities", "merge_method", "grad_checkpointing"}
    # every band of every modality that geofm's vocabulary names has a statistic; each from its modality
    for modality in MODALITIES.values():
        for band in modality.bands:
            if band == "DEM":
                continue
            assert band in weights.bands and canonical_band(band) == band
    sources = spec.extra["statistics_sources"]
    for band, mean, std in zip(weights.bands, weights.mean, weights.std, strict=True):
        source = MODALITIES[sources[band]]
        index = source.bands.index(band)
        assert (mean, std) == (source.mean[index], source.std[index])
    assert weights.bands[:13] == MODALITIES["S2L1C"].bands and weights.bands[13:] == ("VV", "VH")
    assert spec.extra["modality_table"]["S1GRD"] == MODALITIES["S1GRD"].to_dict()


@pytest.mark.parametrize("merge", ["mean", "concat"])
@pytest.mark.parametrize("name", NAMES)
def test_every_variant_builds_small_and_matches_its_spec(name: str, merge: str) -> None:
    import geofm

    spec = _spec(name)
    bands = ["B02", "B03", "B04", "B10", "VV", "VH"]
    model = geofm.build_backbone(name, weights="none", bands=bands, merge_method=merge, **SMALL).eval()
    assert model.modalities == ("S2L1C", "S1GRD")
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 6, 32, 48), timestamps=torch.zeros(1, 1))
    width = 32 * (2 if merge == "concat" else 1)
    assert [tuple(f.shape) for f in features] == [(1, 2 * 3, width)] * 3
    assert model.out_channels == [width] * 3 and model.out_reductions == list(spec.feature_reductions[:3])
    assert (model.output_kind, model.num_prefix_tokens, model.patch_size, model.tubelet_size) == ("tokens", 0, 16, 1)
    gated = name in ("terramind_v1_base", "terramind_v1_large")
    assert hasattr(model.encoder[0].mlp, "fc3") is gated
    assert (model.encoder[0].attn.qkv.bias is None) is gated


def test_backbones_show_lists_modalities_statistics_source_licence_and_citation(cli) -> None:
    result = cli("backbones", "show", "terramind_v1_base")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in (
        "modality_table:",
        "untok_sen1grd@224",
        "S1RTC:",
        "DEM:",
        "1390.458",  # S2L2A mean of the coastal aerosol band
        "hf_repo: ibm-esa-geospatial/TerraMind-1.0-base",
        "hf_file: TerraMind_v1_base.pt",
        "license: Apache-2.0",
        "arXiv:2504.11171",
        "merge_methods: mean, max, concat",
    ):
        assert expected in text, expected
    data = json.loads(cli("backbones", "show", "terramind_v1_base", "--json").stdout)
    assert set(data["extra"]["modality_table"]) == set(MODALITIES)


def test_each_band_is_normalised_with_the_statistics_of_the_modality_it_feeds() -> None:
    from geofm.registry import get_registry
    from geofm.resolve import weights_statistics
    from geofm.weights import ResolvedWeights

    spec = get_registry("backbones").get("terramind_v1_tiny")
    pretrained = ResolvedWeights(Path("released.pt"), "default", spec.weights["default"], "test")
    l1c, s1 = MODALITIES["S2L1C"], MODALITIES["S1GRD"]
    bands = (*l1c.bands, *s1.bands)  # Sen1Floods11 s1s2: S2 L1C and S1 GRD
    mean, std = weights_statistics(pretrained, bands, spec, {})
    assert mean == (*l1c.mean, *s1.mean) and std == (*l1c.std, *s1.std)
    l2a = MODALITIES["S2L2A"]
    mean, _ = weights_statistics(pretrained, l2a.bands, spec, {"modalities": ["S2L2A"]})
    assert mean == l2a.mean
    assert l1c.mean[1] != l2a.mean[l2a.bands.index(l1c.bands[1])]  # the two tables really differ
