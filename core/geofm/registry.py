"""The registry of components, one :class:`Registry` per kind, built once per process from the hooks.

Core is the only writer: it calls each plugin's collection hook separately, so a hook that raises is
attributed to its distribution and skipped; a name already registered skips the later plugin (in
entry-point name order) with a warning naming both, so listings and ``geofm plugins`` keep working; every
spec is stamped with the plugin, distribution and version that gave it.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from geofm.errors import DuplicateComponentError, UnknownComponentError
from geofm.plugins import (
    SELECTION_VARIABLES,
    PluginRecord,
    get_plugin_manager,
    plugin_records,
    record_failure,
)
from geofm.specs import BackboneSpec, ComponentSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec
from geofm.vocabulary import HOOK_OF_KIND, SINGULAR

__all__ = ["KINDS", "Registry", "get_registry"]

S = TypeVar("S", bound=ComponentSpec)

KINDS: dict[str, type[ComponentSpec]] = {
    cls.kind: cls  # type: ignore[misc]
    for cls in (BackboneSpec, NeckSpec, DecoderSpec, DatasetSpec, TaskSpec)
}
"""Component kinds and the spec class each holds."""


class Registry(Generic[S]):
    """All components of one kind, by name."""

    def __init__(self, kind: str, specs: dict[str, S]) -> None:
        """Hold ``specs`` (name -> spec) of component ``kind`` (e.g. ``"backbones"``)."""
        self.kind = kind
        self._specs = dict(sorted(specs.items()))

    def __contains__(self, name: object) -> bool:
        """Whether a component of this name is registered."""
        return name in self._specs

    def __iter__(self) -> Iterator[S]:
        """The specs, sorted by name."""
        return iter(self._specs.values())

    def __len__(self) -> int:
        """How many components are registered."""
        return len(self._specs)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return list(self._specs)

    def get(self, name: str) -> S:
        """The spec registered as ``name``; unknown names raise with close matches and a hint."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownComponentError(self._unknown_message(name)) from None

    def search(self, pattern: str = "*") -> list[S]:
        """Specs whose name matches the glob ``pattern`` (a plain word matches as a substring)."""
        if not any(ch in pattern for ch in "*?["):
            pattern = f"*{pattern}*"
        return [spec for name, spec in self._specs.items() if fnmatch.fnmatchcase(name, pattern.lower())]

    def build(self, name: str, /, **kwargs: Any) -> Any:
        """Build component ``name`` by calling its factory with ``kwargs`` (imports the factory now).

        A dataset is built through :func:`geofm.data.factory.build_dataset`, whatever form its factory
        has: the common loader keywords (``data_root``, ``batch_size`` ...) and its own options.
        """
        spec = self.get(name)
        if self.kind == "datasets":
            from geofm.data.factory import build_dataset

            return build_dataset(spec, **kwargs)
        return spec.load_factory()(**kwargs)

    def _unknown_message(self, name: str) -> str:
        singular = SINGULAR.get(self.kind, self.kind)
        lines = [f"unknown {singular} {name!r}."]
        close = difflib.get_close_matches(name, self.names(), n=5, cutoff=0.5)
        close += [n for n in self.names() if name and name in n and n not in close][: 5 - len(close)]
        if close:
            lines.append(f"Did you mean: {', '.join(close)}?")
        lines.append(f"List them with: geofm {self.kind} list")
        records = plugin_records()
        for record in records:
            if record.status == "failed":
                lines.append(
                    f"Note: plugin {record.distribution} {record.version} failed to load ({record.error}); "
                    "it may provide this component. See: geofm plugins"
                )
        lines.extend(_excluded_notes(records))
        return "\n".join(lines)


def _excluded_notes(records: list[PluginRecord]) -> list[str]:
    """One line per selection variable that left plugins out: not imported, any of them may be the cause."""
    notes = []
    for variable in SELECTION_VARIABLES:
        left_out = [r for r in records if r.status == "blocked" and r.excluded_by == variable]
        if not left_out:
            continue
        named = ", ".join(f"{r.distribution} {r.version} ({r.name})" for r in left_out)
        value = os.environ.get(variable, "").strip()
        setting = f"{variable}={value}" if value else variable
        several = len(left_out) > 1
        subject = f"plugins {named} are" if several else f"plugin {named} is"
        which = "one of them" if several else "it"
        if variable == "GEOFM_BLOCK_PLUGINS":
            notes.append(
                f"Note: {subject} blocked by {setting}; {which} may provide this component: unset {variable} "
                "(or remove the plugin from it) to use its components. See: geofm plugins"
            )
        else:
            notes.append(
                f"Note: {subject} not loaded because {setting} does not list {'them' if several else 'it'}; "
                f"{which} may provide this component: add its name to {variable} (or unset it) to use its "
                "components. See: geofm plugins"
            )
    return notes


_registries: dict[str, Registry[Any]] | None = None


def _collect() -> dict[str, Registry[Any]]:
    manager = get_plugin_manager()
    records = {r.name: r for r in plugin_records()}
    found: dict[str, dict[str, ComponentSpec]] = {kind: {} for kind in KINDS}
    for kind, hook_name in HOOK_OF_KIND.items():
        spec_class = KINDS[kind]
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            record = records.get(impl.plugin_name) or PluginRecord(impl.plugin_name, "?", "?", "?")
            if record.status != "loaded":
                continue
            try:
                specs = list(impl.function() or ())
                for spec in specs:
                    if not isinstance(spec, spec_class):
                        raise TypeError(f"{hook_name} returned {type(spec).__name__}, not {spec_class.__name__}")
            except Exception as error:
                record_failure(record, error, f"hook {hook_name}")
                _drop_plugin(found, record)
                continue
            taken = dict(found[kind])
            try:
                for spec in specs:
                    taken[spec.name] = _stamp(taken, spec, record)
            except DuplicateComponentError as error:
                record_failure(record, error, f"hook {hook_name}")
                _drop_plugin(found, record)
                continue
            found[kind] = taken
            record.components[kind] = record.components.get(kind, 0) + len(specs)
    return {kind: Registry(kind, specs) for kind, specs in found.items()}


def _drop_plugin(found: dict[str, dict[str, ComponentSpec]], record: PluginRecord) -> None:
    """Remove what a plugin registered before one of its hooks raised (it is skipped as a whole)."""
    for specs in found.values():
        for name in [n for n, s in specs.items() if s.plugin == record.name]:
            del specs[name]
    record.components.clear()


def _stamp(specs: dict[str, ComponentSpec], spec: ComponentSpec, record: PluginRecord) -> ComponentSpec:
    """``spec`` stamped with the plugin that gave it; a name already taken skips this (later) plugin."""
    existing = specs.get(spec.name)
    if existing is not None:
        raise DuplicateComponentError(
            f"{spec.kind[:-1]} {spec.name!r} is already registered by {existing.distribution} {existing.version} "
            f"(plugin {existing.plugin}), so {record.distribution} {record.version} (plugin {record.name}) was "
            f"skipped. Uninstall one of them, or block one with GEOFM_BLOCK_PLUGINS={record.name}."
        )
    return dataclasses.replace(spec, distribution=record.distribution, version=record.version, plugin=record.name)


def get_registry(kind: str) -> Registry[Any]:
    """The registry of ``kind`` (``backbones``, ``necks``, ``decoders``, ``datasets`` or ``tasks``)."""
    global _registries
    if kind not in KINDS:
        close = difflib.get_close_matches(kind, list(KINDS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownComponentError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}.{hint}")
    if _registries is None:
        _registries = _collect()
    return _registries[kind]


def _reset() -> None:
    global _registries
    _registries = None
