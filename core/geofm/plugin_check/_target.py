"""Which plugin module(s) a ``geofm plugins check TARGET`` means: an installed plugin or any importable module."""

from __future__ import annotations

import difflib
import importlib.util
import re
from dataclasses import dataclass
from importlib import metadata

from geofm.errors import GeofmError
from geofm.plugins import ENTRY_POINT_GROUP

__all__ = ["PluginTarget", "resolve_target"]


@dataclass(frozen=True)
class PluginTarget:
    """One plugin module to check.

    ``name`` is its entry-point name when installed, else its module path; ``distribution`` and
    ``version`` are empty for a module that no installed entry point names.
    """

    name: str
    module: str
    distribution: str = ""
    version: str = ""

    @property
    def installed(self) -> bool:
        """Whether an installed entry point names this module."""
        return bool(self.distribution)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed() -> list[PluginTarget]:
    unique: dict[str, PluginTarget] = {}
    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = entry.dist
        distribution, version = (dist.metadata["Name"], dist.version) if dist is not None else ("?", "?")
        unique.setdefault(entry.name, PluginTarget(entry.name, entry.module, distribution, version))
    return list(unique.values())


def _importable(module: str) -> str | None:
    """``None`` when ``module`` can be found on the path, else why not."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None if found is not None else f"no module named {module!r}"


def resolve_target(target: str) -> list[PluginTarget]:
    """The plugin(s) ``target`` names: an entry-point name, a distribution name or a module path.

    A distribution with several ``geofm`` entry points gives one target each. A module path that no
    entry point names is checked as an ad-hoc plugin (it need not be installed). Anything else raises a
    :class:`~geofm.errors.GeofmError` listing the installed plugins.
    """
    installed = _installed()
    by_entry = [p for p in installed if p.name == target]
    if by_entry:
        return by_entry
    by_distribution = [p for p in installed if _normalise(p.distribution) == _normalise(target)]
    if by_distribution:
        return by_distribution
    by_module = [p for p in installed if p.module == target]
    if by_module:
        return by_module
    problem = _importable(target) if target.replace(".", "").replace("_", "").isalnum() else "not a module path"
    if problem is None:
        return [PluginTarget(name=target, module=target)]
    known = sorted({p.name for p in installed} | {p.distribution for p in installed})
    close = difflib.get_close_matches(target, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    listing = ", ".join(f"{p.name} ({p.distribution})" for p in installed) or "none"
    raise GeofmError(
        f"unknown plugin {target!r}: it is no installed plugin's entry-point or distribution name, and no module "
        f"of that name can be imported ({problem}).{hint} Installed plugins, as entry point (distribution): "
        f"{listing}. Give one of these or an importable module path; see: geofm plugins"
    )
