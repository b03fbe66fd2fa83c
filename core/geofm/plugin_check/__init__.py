"""``geofm plugins check``: load one plugin in isolation, build each component it contributes, report.

:func:`check_plugin` returns a :class:`PluginCheckReport` of :class:`CheckRow` (plugin, kind, component,
check, PASS / FAIL / SKIP, reason); :func:`assert_plugin_passes` (exported as
``geofm.testing.check_plugin``) raises an ``AssertionError`` with the table when a check fails, for a
plugin's own tests. Importing this package imports no torch; the component checks import it when run.
"""

from __future__ import annotations

from geofm.plugin_check._check import BUILTIN_PLUGIN, LARGE_PARAMETERS, assert_plugin_passes, check_plugin
from geofm.plugin_check._report import COLUMNS, CheckRow, PluginCheckReport
from geofm.plugin_check._target import PluginTarget, resolve_target

__all__ = [
    "BUILTIN_PLUGIN",
    "COLUMNS",
    "LARGE_PARAMETERS",
    "CheckRow",
    "PluginCheckReport",
    "PluginTarget",
    "assert_plugin_passes",
    "check_plugin",
    "resolve_target",
]
