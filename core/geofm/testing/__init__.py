"""Test helpers for plugin authors: an isolated registry, conformance checks, synthetic rasters and batches.

Loaded into pytest through the ``pytest11`` entry point (``geofm.testing.pytest_plugin``), which provides
the ``geofm_isolated`` fixture. Importing this package imports no torch: :func:`synthetic_batch`,
:class:`SyntheticDataModule` and :func:`check_plugin` are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from geofm.testing.conformance import check_plugin_module, check_spec_factories, import_is_light
from geofm.testing.isolation import isolated_plugins
from geofm.testing.rasters import write_geotiff

if TYPE_CHECKING:
    from geofm.plugin_check import assert_plugin_passes as check_plugin
    from geofm.testing.synthetic import SyntheticDataModule, synthetic_batch

__all__ = [
    "SyntheticDataModule",
    "check_plugin",
    "check_plugin_module",
    "check_spec_factories",
    "import_is_light",
    "isolated_plugins",
    "synthetic_batch",
    "write_geotiff",
]

_LAZY: dict[str, tuple[str, str]] = {
    "SyntheticDataModule": ("geofm.testing.synthetic", "SyntheticDataModule"),
    "synthetic_batch": ("geofm.testing.synthetic", "synthetic_batch"),
    "check_plugin": ("geofm.plugin_check", "assert_plugin_passes"),
}
"""Public names imported on first use (they need torch): name -> (module, attribute)."""


def __getattr__(name: str) -> Any:
    """Import the torch-dependent helpers on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names, including the lazily imported ones."""
    return sorted({*globals(), *_LAZY})
