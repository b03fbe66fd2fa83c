"""Test helpers for plugin authors: an isolated registry, conformance checks, synthetic rasters and batches.

Loaded into pytest through the ``pytest11`` entry point (``geofm.testing.pytest_plugin``), which provides
the ``geofm_isolated`` fixture. Importing this package imports no torch: :func:`synthetic_batch`,
:class:`SyntheticDataModule` and :func:`check_plugin` are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geofm.lazy import lazy_exports
from geofm.testing.conformance import check_plugin_module, check_spec_factories, import_is_light
from geofm.testing.isolation import isolated_plugins
from geofm.testing.rasters import write_geotiff

if TYPE_CHECKING:
    from geofm.plugin_check import assert_plugin_passes as check_plugin
    from geofm.testing.composition import planned_levels
    from geofm.testing.reference_fixtures import ReferenceFixtures
    from geofm.testing.synthetic import SyntheticDataModule, synthetic_batch
    from geofm.testing.torch_state import import_changes_torch_state

__all__ = [
    "ReferenceFixtures",
    "SyntheticDataModule",
    "check_plugin",
    "check_plugin_module",
    "check_spec_factories",
    "import_changes_torch_state",
    "import_is_light",
    "isolated_plugins",
    "planned_levels",
    "synthetic_batch",
    "write_geotiff",
]

_LAZY: dict[str, str | tuple[str, str]] = {
    "SyntheticDataModule": ("geofm.testing.synthetic", "SyntheticDataModule"),
    "synthetic_batch": ("geofm.testing.synthetic", "synthetic_batch"),
    "check_plugin": ("geofm.plugin_check", "assert_plugin_passes"),
    "ReferenceFixtures": ("geofm.testing.reference_fixtures", "ReferenceFixtures"),
    "import_changes_torch_state": ("geofm.testing.torch_state", "import_changes_torch_state"),
    "planned_levels": ("geofm.testing.composition", "planned_levels"),
}
"""Public names imported on first use (they need torch, pytest or the registry): name -> (module, attribute)."""


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
