"""Run code against a registry built from chosen plugins only, then restore the real one."""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy

from geofm import hookspecs, plugins, registry

__all__ = ["isolated_plugins"]


def _normalise(name: str) -> str:
    """A distribution name as packaging compares them (``geofm_Acme`` == ``geofm-acme``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> list[metadata.EntryPoint]:
    return plugins._entry_points()


def _distribution(entry: metadata.EntryPoint) -> tuple[str, str]:
    return plugins.distribution_of(entry)


def _entries_named(name: str, installed: list[metadata.EntryPoint]) -> list[metadata.EntryPoint]:
    """The installed plugins ``name`` means: an entry-point name, a distribution name or a module path."""
    by_entry = [e for e in installed if e.name == name]
    if by_entry:
        return by_entry
    by_distribution = [e for e in installed if _normalise(_distribution(e)[0]) == _normalise(name)]
    if by_distribution:
        return by_distribution
    return [e for e in installed if name in (e.value, e.module)]


def _entry_of_module(plugin: Any, installed: list[metadata.EntryPoint]) -> metadata.EntryPoint | None:
    """The installed entry point whose plugin object is ``plugin`` (a module an entry point names)."""
    if not isinstance(plugin, ModuleType):
        return None
    return next((e for e in installed if e.value == plugin.__name__), None)


def _unknown(name: str, installed: list[metadata.EntryPoint], error: BaseException | None = None) -> LookupError:
    """The error for a plugin name that matches no installed plugin (and, for an extra, no module)."""
    known = sorted({e.name for e in installed} | {_distribution(e)[0] for e in installed})
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = ", ".join(f"{e.name} ({_distribution(e)[0]})" for e in installed) or "none"
    imported = f" and cannot be imported ({type(error).__name__}: {error})" if error is not None else ""
    return LookupError(
        f"{name!r} is no installed geofm plugin (an entry-point name, distribution name or module path)"
        f"{imported}.{hint} Installed plugins, as entry point (distribution): {listing}. See: geofm plugins"
    )


def _load_installed(manager: pluggy.PluginManager, entry: metadata.EntryPoint) -> None:
    """Load and register one installed plugin under its entry-point name, whatever the selection variables say."""
    existing = plugins._records.get(entry.name)
    if existing is not None and existing.status != "blocked":
        return  # loaded (or failed) already
    plugins._load_entry_point(manager, entry, select=False)


def _unique_name(manager: pluggy.PluginManager, plugin: Any) -> str:
    """The full module name of an ad-hoc plugin (its class's for an instance), made unique in ``manager``."""
    base = getattr(plugin, "__name__", None)
    if not isinstance(base, str) or not base:
        base = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    name, number = base, 1
    while manager.get_plugin(name) is not None or name in plugins._records:
        number += 1
        name = f"{base}#{number}"
    return name


def _register_ad_hoc(manager: pluggy.PluginManager, plugin: Any) -> None:
    """Register a plugin that is not installed, recorded as the distribution ``test-<module name>``."""
    name = _unique_name(manager, plugin)
    module = getattr(plugin, "__name__", None) or repr(plugin)
    record = plugins.PluginRecord(name=name, distribution=f"test-{name}", version="0", module=str(module))
    plugins._records[name] = record
    plugins.register_checked(manager, plugin, record)


def _fresh_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    plugins._manager = manager
    return manager


@contextmanager
def isolated_plugins(*extra: Any, include_installed: bool | Collection[str] = True) -> Iterator[pluggy.PluginManager]:
    """Within the block, the registry holds the chosen installed plugins plus the ``extra`` plugins.

    ``include_installed`` is ``True`` (every installed plugin, as ``GEOFM_LOAD_PLUGINS`` /
    ``GEOFM_BLOCK_PLUGINS`` select them), ``False`` (none) or a collection of installed plugin names
    (entry-point names, distribution names or module paths) to include, leaving the others out whatever
    those variables say.

    Each ``extra`` plugin is a module or object with ``@geofm.hookimpl`` functions, or a string: the name
    of an installed plugin (as for ``include_installed``), else a module path to import. An installed
    plugin is registered under its entry-point name and recorded with its real distribution and version;
    any other plugin under its full module name (made unique if taken) and recorded as the distribution
    ``test-<module name>`` at version ``0``. A plugin already registered is not registered again. As when
    core loads a plugin, a hook name that is no geofm hook makes that plugin a recorded, skipped failure
    (an error under ``GEOFM_STRICT_PLUGINS=1``). The registry and the plugin records are restored on exit.
    Yields the block's plugin manager.
    """
    saved_manager, saved_records = plugins._manager, dict(plugins._records)
    saved_registries = registry._registries
    try:
        plugins._manager = None
        plugins._records.clear()
        registry._reset()
        installed = _installed()
        if include_installed is True:
            manager = plugins.get_plugin_manager()
        else:
            manager = _fresh_manager()
            names = [] if include_installed is False else include_installed
            if isinstance(names, str):
                names = [names]
            for name in names:
                entries = _entries_named(name, installed)
                if not entries:
                    raise _unknown(name, installed)
                for entry in entries:
                    _load_installed(manager, entry)
        for plugin in extra:
            if isinstance(plugin, str):
                entries = _entries_named(plugin, installed)
                if entries:
                    for entry in entries:
                        _load_installed(manager, entry)
                    continue
                try:
                    plugin = importlib.import_module(plugin)
                except ImportError as error:
                    raise _unknown(plugin, installed, error) from error
            if manager.is_registered(plugin):
                continue
            entry = _entry_of_module(plugin, installed)
            if entry is not None:
                _load_installed(manager, entry)
            else:
                _register_ad_hoc(manager, plugin)
        yield manager
    finally:
        plugins._manager = saved_manager
        plugins._records.clear()
        plugins._records.update(saved_records)
        registry._registries = saved_registries
