"""Running every check of one plugin: its module first (in this and fresh interpreters), then each component."""

from __future__ import annotations

import warnings
from types import ModuleType

from geofm.plugin_check._imports import TorchStateProbe, check_hooks, check_light_import
from geofm.plugin_check._report import PluginCheckReport
from geofm.plugin_check._rows import Rows
from geofm.plugin_check._target import PluginTarget, resolve_target
from geofm.registry import KINDS, get_registry
from geofm.specs import BackboneSpec, ComponentSpec, DatasetSpec, DecoderSpec, NeckSpec, TaskSpec
from geofm.vocabulary import SINGULAR

__all__ = ["BUILTIN_PLUGIN", "LARGE_PARAMETERS", "assert_plugin_passes", "check_plugin"]

BUILTIN_PLUGIN = "geofm.builtin.plugin"
"""Core's own plugin, registered beside every checked plugin (its tasks, heads and necks build the rest)."""

LARGE_PARAMETERS = 200_000_000
"""Backbones with more parameters run on the meta device only (shapes, no weights) unless ``build_all``."""


def check_plugin(target: str, *, build_all: bool = False) -> PluginCheckReport:
    """Load the plugin ``target`` in isolation, build each component it contributes and report every check.

    ``target`` is a distribution name (``geofm-dofa``), an entry-point name (``dofa``) or the path of any
    importable module with ``@geofm.hookimpl`` functions (``geofm_dofa.plugin``; it need not be
    installed). An unknown target raises a :class:`~geofm.errors.GeofmError` listing the installed plugins.

    Per plugin module: it imports and its hooks are documented geofm hooks (``import``), importing it
    loads no heavy library (``light import``), and in a fresh interpreter neither it nor its factory
    modules change torch's process-wide settings (``torch state``). Per component, with only core's
    built-in plugin and this one registered: its factory resolves, then it is built at a tiny size with
    random weights and run (backbones, necks, decoders), built without its data and batched (datasets)
    or built around a tiny model and trained one step (tasks), and what it returns is compared with its
    spec and the contract of :mod:`geofm.contracts`. Backbones above :data:`LARGE_PARAMETERS` run on the
    meta device only (every shape, no weights) unless ``build_all``. Nothing is downloaded.
    """
    report = PluginCheckReport(target)
    for plugin in resolve_target(target):
        rows = Rows(report, plugin.name)
        module, specs = check_hooks(plugin, rows)
        if module is None:
            continue
        check_light_import(plugin, rows)
        probe = TorchStateProbe(plugin, specs)
        at = len(report.rows)
        try:
            if specs:
                _check_components(plugin, module, specs, rows, build_all=build_all)
        except BaseException:
            probe.stop()
            raise
        rows.add("plugin", plugin.module, "torch state", *probe.verdict(), at=at)
    return report


def assert_plugin_passes(target: str, *, build_all: bool = False) -> PluginCheckReport:
    """:func:`check_plugin`, raising an ``AssertionError`` holding the table when any check fails.

    Meant for a plugin's own test suite (``geofm.testing.check_plugin``): returns the report when all pass.
    """
    report = check_plugin(target, build_all=build_all)
    if not report.ok:
        failures = "\n".join(f"{row.kind} {row.component} {row.check}: {row.reason}" for row in report.failures)
        raise AssertionError(f"geofm plugins check {target} failed:\n{failures}\n\n{report.format_table()}")
    return report


def _registration_problem() -> str | None:
    """Why the isolated registry misses components (a name the plugin shares with core ...), or ``None``."""
    from geofm.plugins import plugin_records

    for kind in KINDS:
        get_registry(kind)
    problems = [f"{r.name}: {r.error or r.status}" for r in plugin_records() if r.status != "loaded"]
    return "; ".join(problems) or None


def _check_components(
    plugin: PluginTarget, module: ModuleType, specs: list[ComponentSpec], rows: Rows, *, build_all: bool
) -> None:
    from geofm.plugin_check._data import check_dataset
    from geofm.plugin_check._detectors import check_detector
    from geofm.plugin_check._models import check_backbone, check_decoder, check_neck
    from geofm.plugin_check._tasks import check_task
    from geofm.plugin_check._torch_state import torch_state_kept
    from geofm.testing.isolation import isolated_plugins
    from geofm.vocabulary import DETECTION_TASKS

    extra = [module] if plugin.module == BUILTIN_PLUGIN else [BUILTIN_PLUGIN, module]
    with (
        warnings.catch_warnings(),
        torch_state_kept(),
        isolated_plugins(*extra, include_installed=False),
    ):
        warnings.simplefilter("ignore")
        problem = _registration_problem()
        if problem is not None:
            rows.add("plugin", plugin.module, "register", "FAIL", problem)
            return
        for declared in specs:
            kind = SINGULAR[declared.kind]
            spec = None
            with rows.check(kind, declared.name, "factory", declared.factory):
                found = get_registry(declared.kind).get(declared.name)
                found.load_factory()
                spec = found
            if isinstance(spec, BackboneSpec):
                check_backbone(spec, rows, large=None if build_all else LARGE_PARAMETERS)
            elif isinstance(spec, NeckSpec):
                check_neck(spec, rows)
            elif isinstance(spec, DecoderSpec) and set(DETECTION_TASKS) & set(spec.tasks):
                check_detector(spec, rows)
            elif isinstance(spec, DecoderSpec):
                check_decoder(spec, rows)
            elif isinstance(spec, DatasetSpec):
                check_dataset(spec, rows)
            elif isinstance(spec, TaskSpec):
                check_task(spec, rows)
