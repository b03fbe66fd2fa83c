"""Test helpers for plugin authors: an isolated registry, conformance checks and synthetic rasters.

Loaded into pytest through the ``pytest11`` entry point (``geofm.testing.pytest_plugin``), which provides
the ``geofm_isolated`` fixture.
"""

from __future__ import annotations

from geofm.testing.conformance import check_plugin_module, check_spec_factories, import_is_light
from geofm.testing.isolation import isolated_plugins
from geofm.testing.rasters import write_geotiff

__all__ = ["check_plugin_module", "check_spec_factories", "import_is_light", "isolated_plugins", "write_geotiff"]
