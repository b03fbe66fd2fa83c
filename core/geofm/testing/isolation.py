"""Run code against a registry built from chosen plugins only, then restore the real one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pluggy

from geofm import hookspecs, plugins, registry

__all__ = ["isolated_plugins"]


@contextmanager
def isolated_plugins(*extra: Any, include_installed: bool = True) -> Iterator[pluggy.PluginManager]:
    """Within the block, the registry holds the installed plugins (optional) plus ``extra`` plugin objects.

    Each extra plugin is any object or module with ``@geofm.hookimpl`` functions; it is recorded as the
    distribution ``test-<name>``.
    """
    saved_manager, saved_records = plugins._manager, dict(plugins._records)
    saved_registries = registry._registries
    try:
        plugins._manager = None
        plugins._records.clear()
        registry._reset()
        if include_installed:
            manager = plugins.get_plugin_manager()
        else:
            manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
            manager.add_hookspecs(hookspecs)
            plugins._manager = manager
        for index, plugin in enumerate(extra):
            name = getattr(plugin, "__name__", None) or f"test_plugin_{index}"
            name = name.rsplit(".", 1)[-1]
            manager.register(plugin, name=name)
            plugins._records[name] = plugins.PluginRecord(
                name=name, distribution=f"test-{name}", version="0", module=str(plugin)
            )
        yield manager
    finally:
        plugins._manager, plugins._records = saved_manager, saved_records
        registry._registries = saved_registries
