"""Plugin conformance: entry point discovered, specs valid, plugin.py light, factories build."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from geofm.data import build_dataset
from geofm.data.factory import takes_common_options
from geofm.registry import get_registry
from geofm.specs import DatasetSpec
from geofm_datasets import plugin


def test_plugin_module_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, json; import geofm_datasets.plugin as p; list(p.geofm_datasets()); "
        "print(json.dumps([m for m in ('torch', 'rasterio', 'lightning', 'numpy') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_entry_point_is_discovered() -> None:
    registry = get_registry("datasets")
    assert "demo" in registry and "geotiff_segmentation" in registry
    spec = registry.get("demo")
    assert spec.distribution == "geofm-datasets"
    assert spec.task == "segmentation" and spec.ignore_index == 255 and spec.gsd == 30.0
    assert registry.get("geotiff_segmentation").generic


@pytest.mark.parametrize("spec", list(plugin.geofm_datasets()), ids=lambda s: s.name)
def test_specs_are_valid(spec: DatasetSpec) -> None:
    from geofm.bands import canonical_bands

    assert isinstance(spec, DatasetSpec) and spec.summary
    assert callable(spec.load_factory())
    if spec.bands:
        canonical = canonical_bands(spec.bands, spec.sensor)
        assert len(canonical) == len(spec.bands) and len(set(canonical)) == len(canonical)
    import inspect

    factory = spec.load_factory()
    assert takes_common_options(factory), f"{spec.name}: the factory does not take DatasetOptions first"
    parameters = inspect.signature(factory).parameters
    for option in set(spec.options) - {"crop_size"}:  # crop_size arrives in DatasetOptions
        assert option in parameters, f"{spec.name}: documented option {option} is not a factory keyword"


def test_registry_builds_demo_with_contract_attributes(small_demo: Path) -> None:
    module = build_dataset(
        get_registry("datasets").get("demo"), data_root=small_demo, num_scenes=12, size=64, batch_size=2
    )
    assert module.spec.name == "demo" and module.task_type == "segmentation" and module.num_frames == 1
    assert module.band_names == ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
    assert len(module.mean) == len(module.std) == 6
    assert hasattr(module, "test_dataloader") and "test" in module.splits
