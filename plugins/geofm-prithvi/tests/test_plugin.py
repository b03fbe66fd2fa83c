"""The plugin: discovered through its entry point, complete specs, no torch at import, specs match models."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from geofm.registry import get_registry
from geofm.specs import BackboneSpec

NAMES = (
    "prithvi_eo_v1_100",
    "prithvi_eo_v2_300",
    "prithvi_eo_v2_300_tl",
    "prithvi_eo_v2_600",
    "prithvi_eo_v2_600_tl",
    "prithvi_eo_v2_tiny_tl",
    "prithvi_eo_v2_100_tl",
)


def test_entry_point_is_discovered() -> None:
    registry = get_registry("backbones")
    for name in NAMES:
        spec = registry.get(name)
        assert spec.distribution == "geofm-prithvi"
        assert spec.factory == f"geofm_prithvi.build:{name}"


def test_plugin_module_does_not_import_torch() -> None:
    code = (
        "import sys, geofm_prithvi.plugin as p; specs = list(p.geofm_backbones()); "
        "heavy = [m for m in ('torch', 'timm', 'rasterio', 'lightning') if m in sys.modules]; "
        "print(len(specs), heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "7 []"


@pytest.mark.parametrize("name", NAMES)
def test_spec_metadata_is_complete(name: str) -> None:
    spec: BackboneSpec = get_registry("backbones").get(name)
    weights = spec.weights["default"]
    assert spec.default_weights == "default"
    assert weights.bands == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    assert len(weights.mean) == len(weights.std) == 6
    assert weights.mean[0] == (775.23 if "v1" in name else 1087.0)
    assert weights.hf_repo.startswith("ibm-nasa-geospatial/Prithvi-EO-") and weights.hf_file.endswith(".pt")
    assert weights.license == spec.license == "Apache-2.0" and "arXiv" in weights.citation
    assert spec.feature_channels == (spec.embed_dim,) * spec.depth
    assert spec.feature_reductions == (spec.patch_size,) * spec.depth
    assert len(spec.default_levels) == 4 and spec.default_levels[-1] == spec.depth - 1
    assert (spec.output_kind, spec.num_prefix_tokens, spec.max_frames, spec.input_bands) == ("tokens", 1, 0, "fixed")
    assert spec.accepts == (("time", "location") if name.endswith("_tl") else ())
    assert "grad_checkpointing" in spec.options


def test_released_sizes() -> None:
    registry = get_registry("backbones")
    sizes = {n: (registry.get(n).embed_dim, registry.get(n).depth, registry.get(n).patch_size) for n in NAMES}
    assert sizes["prithvi_eo_v1_100"] == (768, 12, 16)
    assert sizes["prithvi_eo_v2_300"] == sizes["prithvi_eo_v2_300_tl"] == (1024, 24, 16)
    assert sizes["prithvi_eo_v2_600"] == sizes["prithvi_eo_v2_600_tl"] == (1280, 32, 14)
    assert sizes["prithvi_eo_v2_tiny_tl"] == (192, 12, 16)
    assert registry.get("prithvi_eo_v2_300").default_levels == (5, 11, 17, 23)
    assert registry.get("prithvi_eo_v2_600").default_levels == (7, 15, 23, 31)
    assert registry.get("prithvi_eo_v1_100").num_frames == 3


@pytest.mark.parametrize("name", NAMES)
def test_every_variant_builds_small_and_matches_its_spec(name: str) -> None:
    spec: BackboneSpec = get_registry("backbones").get(name)
    size = 2 * spec.patch_size
    model = get_registry("backbones").build(
        name, checkpoint=None, bands=None, num_frames=None, img_size=size, embed_dim=32, num_heads=2
    )
    with torch.no_grad():
        features = model.forward_features(torch.randn(1, 6, 2, size, 3 * spec.patch_size))
    assert len(features) == len(spec.feature_channels) == len(model.out_channels)
    assert model.out_reductions == list(spec.feature_reductions)
    assert model.patch_size == spec.patch_size and model.grid_size == (spec.num_frames, 2, 2)
    assert all(f.shape == (1, spec.num_prefix_tokens + 2 * 2 * 3, 32) for f in features)
    assert hasattr(model, "temporal_embed_enc") is ("time" in spec.accepts)
