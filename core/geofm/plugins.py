"""Discovering and loading plugins from the ``geofm`` entry-point group.

Entry points are loaded one at a time on the first call that needs them (never at import). A plugin
whose module fails to import is recorded with its error and skipped, with a one-line warning naming the
distribution, its version and the error; ``GEOFM_STRICT_PLUGINS=1`` turns that into a
:class:`~geofm.errors.PluginLoadError`. ``GEOFM_LOAD_PLUGINS=a,b`` loads only the named plugins (entry-point
or distribution names) and ``GEOFM_BLOCK_PLUGINS=x`` skips them; a name in either that matches no installed
plugin is a one-line warning listing the installed ones, and each skipped plugin's record says which
variable left it out (``excluded_by``), so an unknown component can be traced to it.
"""

from __future__ import annotations

import difflib
import os
import sys
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Literal

import pluggy

from geofm import hookspecs
from geofm.errors import PluginLoadError

__all__ = [
    "ENTRY_POINT_GROUP",
    "SELECTION_VARIABLES",
    "PluginRecord",
    "PluginWarning",
    "distribution_of",
    "get_plugin_manager",
    "hook_name_problem",
    "plugin_records",
    "record_failure",
    "register_checked",
    "reset",
    "strict_plugins",
]

ENTRY_POINT_GROUP = "geofm"
SELECTION_VARIABLES = ("GEOFM_LOAD_PLUGINS", "GEOFM_BLOCK_PLUGINS")
"""The environment variables that choose which installed plugins load."""


class PluginWarning(UserWarning):
    """A plugin failed to load or its hook raised (it was skipped), or a plugin selection names none."""


@dataclass
class PluginRecord:
    """What is known about one plugin: where it comes from and whether it loaded."""

    name: str
    distribution: str
    version: str
    module: str
    status: Literal["loaded", "failed", "blocked"] = "loaded"
    error: str = ""
    excluded_by: str = ""
    """For a ``blocked`` plugin, the variable that left it out: ``GEOFM_BLOCK_PLUGINS`` or ``GEOFM_LOAD_PLUGINS``."""
    hooks: list[str] = field(default_factory=list)
    components: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-compatible form, as ``geofm plugins --json`` prints it."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "excluded_by": self.excluded_by,
            "hooks": list(self.hooks),
            "components": dict(self.components),
        }


_manager: pluggy.PluginManager | None = None
_records: dict[str, PluginRecord] = {}


def strict_plugins() -> bool:
    """Whether ``GEOFM_STRICT_PLUGINS`` asks for plugin errors to be fatal."""
    return os.environ.get("GEOFM_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _name_set(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _excluded_by(name: str, distribution: str) -> str:
    """The selection variable that leaves this plugin out, or ``""`` when it is to be loaded."""
    wanted = _name_set("GEOFM_LOAD_PLUGINS")
    blocked = _name_set("GEOFM_BLOCK_PLUGINS") or set()
    names = {name, distribution}
    if names & blocked:
        return "GEOFM_BLOCK_PLUGINS"
    if wanted is not None and not names & wanted:
        return "GEOFM_LOAD_PLUGINS"
    return ""


def _warn_unmatched_selection(records: list[PluginRecord]) -> None:
    """One warning line per name in a selection variable that is no installed plugin (a typo, usually)."""
    known = {n for r in records for n in (r.name, r.distribution)}
    installed = ", ".join(f"{r.name} ({r.distribution})" for r in records) or "none"
    for variable in SELECTION_VARIABLES:
        for name in sorted((_name_set(variable) or set()) - known):
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            warnings.warn(
                f"{variable} names {name!r}, which matches no installed geofm plugin; {hint}installed plugins "
                f"(entry point (distribution)): {installed}. See: geofm plugins",
                PluginWarning,
                stacklevel=3,
            )


def record_failure(record: PluginRecord, error: BaseException, during: str) -> None:
    """Mark ``record`` failed because of ``error``; warn in one line, or raise when strict."""
    record.status = "failed"
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    record.error = f"{during}: {message}" if record.error == "" else f"{record.error}; {during}: {message}"
    text = (
        f"geofm plugin {record.distribution} {record.version} ({record.name}) was skipped: "
        f"{during} failed with {message}"
    )
    if strict_plugins():
        raise PluginLoadError(text + " (GEOFM_STRICT_PLUGINS=1 makes this fatal)") from error
    warnings.warn(text, PluginWarning, stacklevel=3)


def _entry_points() -> list[metadata.EntryPoint]:
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    unique: dict[str, metadata.EntryPoint] = {}
    for entry in sorted(found, key=lambda e: e.name):
        unique.setdefault(entry.name, entry)
    return list(unique.values())


def distribution_of(entry: metadata.EntryPoint) -> tuple[str, str]:
    """``(distribution name, version)`` of the package that declares ``entry`` (``"?"`` when unknown)."""
    dist = entry.dist
    return (dist.metadata["Name"], dist.version) if dist is not None else ("?", "?")


def register_checked(manager: pluggy.PluginManager, plugin: object, record: PluginRecord) -> None:
    """Register ``plugin`` as ``record.name``; a hook-name typo unregisters it and records the failure."""
    manager.register(plugin, name=record.name)
    problem = hook_name_problem(manager, plugin)
    if problem is not None:
        manager.unregister(name=record.name)
        record_failure(record, PluginLoadError(problem), "hook check")
        return
    record.hooks = sorted(
        impl_name
        for impl_name in dir(plugin)
        if impl_name.startswith("geofm_") and hasattr(getattr(manager.hook, impl_name, None), "get_hookimpls")
    )


def _load_entry_point(manager: pluggy.PluginManager, entry: metadata.EntryPoint, *, select: bool = True) -> None:
    """Load one entry point into ``manager`` and record it; ``select=False`` ignores the selection variables."""
    distribution, version = distribution_of(entry)
    record = PluginRecord(name=entry.name, distribution=distribution, version=version, module=entry.value)
    _records[entry.name] = record
    record.excluded_by = _excluded_by(record.name, record.distribution) if select else ""
    if record.excluded_by:
        record.status = "blocked"
        return
    try:
        plugin: ModuleType = entry.load()
        if not select and manager.is_registered(plugin):
            return  # an isolated registry given the same module twice
        register_checked(manager, plugin, record)
    except Exception as error:
        record_failure(record, error, "import")


def hook_name_problem(manager: pluggy.PluginManager, plugin: object) -> str | None:
    """Why ``plugin``'s hooks cannot all be called, or ``None``: a ``geofm_*`` name that is no hook (a typo).

    Decorated functions are checked with pluggy's ``check_pending``; an undecorated ``geofm_*`` function
    the plugin defines is reported too, since pluggy would ignore it without a word.
    """
    known = {name for name in dir(hookspecs) if name.startswith("geofm_")}
    module_name = getattr(plugin, "__name__", None)
    for name in sorted(dir(plugin)):
        if not name.startswith("geofm_"):
            continue
        function = getattr(plugin, name)
        if not callable(function) or getattr(function, "__module__", module_name) != module_name:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        if name not in known:
            return f"{name} is not a geofm hook{hint} (hooks: {', '.join(sorted(known))})"
        if not hasattr(function, f"{hookspecs.PROJECT_NAME}_impl"):
            return f"{name} is not decorated with @geofm.hookimpl, so it would never be called"
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        return str(error).splitlines()[0]
    return None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with every selected entry point loaded (once)."""
    global _manager
    if _manager is None:
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        for entry in _entry_points():
            _load_entry_point(manager, entry)
        _manager = manager
        _warn_unmatched_selection([_records[name] for name in sorted(_records)])
    return _manager


def plugin_records() -> list[PluginRecord]:
    """Every discovered plugin, loaded, failed or blocked, sorted by name."""
    get_plugin_manager()
    return [_records[name] for name in sorted(_records)]


def reset() -> None:
    """Forget loaded plugins and the registry (tests; a new environment variable selection)."""
    global _manager
    _manager = None
    _records.clear()
    registry = sys.modules.get("geofm.registry")
    if registry is not None:
        registry._reset()
