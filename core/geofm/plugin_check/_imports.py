"""The checks of a plugin module itself: it imports, its hooks are geofm's and documented, it stays light,
and neither it nor its factory modules change torch's process-wide settings when imported.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from types import ModuleType

import pluggy

from geofm import hookspecs
from geofm.plugin_check._report import Status
from geofm.plugin_check._rows import Rows, describe
from geofm.plugin_check._target import PluginTarget
from geofm.plugin_check._torch_state import STATE_NAMES
from geofm.plugins import hook_name_problem
from geofm.specs import BackboneSpec, ComponentSpec, DatasetSpec
from geofm.testing.conformance import check_plugin_module, import_is_light

__all__ = ["TorchStateProbe", "check_hooks", "check_light_import", "reference_modules"]

_KIND = "plugin"
_PROBE = (
    "import json, sys; from geofm.plugin_check._torch_state import import_changes; "
    "print(json.dumps(import_changes(sys.argv[1:])))"
)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def check_hooks(target: PluginTarget, rows: Rows) -> tuple[ModuleType | None, list[ComponentSpec]]:
    """Import the plugin module and validate its hooks (one row); its module and specs, or ``None`` and ``[]``."""
    try:
        module = importlib.import_module(target.module)
    except Exception as error:
        rows.add(_KIND, target.module, "import", "FAIL", f"importing {target.module} raises {describe(error)}")
        return None, []
    try:
        specs = check_plugin_module(module)
    except AssertionError as error:
        rows.add(_KIND, target.module, "import", "FAIL", str(error))
        return None, []
    except Exception as error:
        rows.add(
            _KIND, target.module, "import", "FAIL", f"calling the hooks of {target.module} raises {describe(error)}"
        )
        return None, []
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    try:
        manager.register(module, name=target.name)
    except (pluggy.PluginValidationError, ValueError) as error:
        rows.add(_KIND, target.module, "import", "FAIL", f"pluggy refuses {target.module}: {describe(error)}")
        return None, []
    problem = hook_name_problem(manager, module)
    if problem is not None:
        rows.add(_KIND, target.module, "import", "FAIL", problem)
        return None, []
    hooks = sorted(name for name in dir(module) if name.startswith("geofm_"))
    counts: dict[str, int] = {}
    for spec in specs:
        counts[spec.kind] = counts.get(spec.kind, 0) + 1
    listed = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no components"
    rows.add(_KIND, target.module, "import", "PASS", f"hooks {', '.join(hooks)}: {listed}")
    return module, specs


def check_light_import(target: PluginTarget, rows: Rows) -> None:
    """One row: importing the plugin module in a fresh interpreter imports no heavy library."""
    try:
        heavy = import_is_light(target.module)
    except subprocess.CalledProcessError as error:
        reason = _last_line(error.stderr or "") or f"exit status {error.returncode}"
        rows.add(_KIND, target.module, "light import", "FAIL", f"a fresh interpreter cannot import it: {reason}")
        return
    if heavy:
        rows.add(
            _KIND,
            target.module,
            "light import",
            "FAIL",
            f"importing {target.module} imports {', '.join(heavy)}; listings import every plugin module, so "
            "import heavy libraries inside the factories (name them lazily as 'module:attr')",
        )
        return
    rows.add(_KIND, target.module, "light import", "PASS", "no torch or other heavy library at import")


def reference_modules(specs: list[ComponentSpec]) -> list[str]:
    """The modules the specs' lazy references name (factories, statistics, example layouts), in order."""
    modules: list[str] = []
    for spec in specs:
        references = [spec.factory]
        if isinstance(spec, BackboneSpec) and spec.statistics:
            references.append(spec.statistics)
        if isinstance(spec, DatasetSpec) and spec.example_layout:
            references.append(spec.example_layout)
        for reference in references:
            module = reference.partition(":")[0]
            if module not in modules:
                modules.append(module)
    return modules


def _change(module: str, key: str, old: object, new: object) -> str:
    if key == "rng":
        return f"importing {module} changes {STATE_NAMES[key]} (it seeds or draws random numbers at import)"
    return f"importing {module} sets {STATE_NAMES[key]} {old!r} -> {new!r}"


class TorchStateProbe:
    """Importing the plugin and its factory modules in a fresh interpreter, started now, judged by :meth:`verdict`.

    Recorded before and after each import: the default dtype, float32 matmul precision, CPU threads,
    deterministic algorithms, grad mode, the cuDNN benchmark and TF32 flags and the global RNG state.
    It runs beside the component checks of this process.
    """

    def __init__(self, target: PluginTarget, specs: list[ComponentSpec]) -> None:
        """Start the probe of ``target``'s module and the modules its ``specs`` name."""
        self.target = target
        self.modules = [target.module, *(m for m in reference_modules(specs) if m != target.module)]
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, *self.modules], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> None:
        """End the probe without a verdict (the check was interrupted)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()

    def verdict(self) -> tuple[Status, str]:
        """Wait for the probe: PASS, or FAIL naming each module and the setting its import changed."""
        stdout, stderr = self.process.communicate()
        if self.process.returncode != 0:
            return "FAIL", f"the import probe failed: {_last_line(stderr) or f'exit status {self.process.returncode}'}"
        try:
            results = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError) as error:
            return "FAIL", f"the import probe printed no result ({describe(error)})"
        changes = [_change(r["module"], *change) for r in results for change in r["changes"]]
        if changes:
            return "FAIL", "; ".join(changes)
        failed = [r["module"] for r in results if r["error"]]
        note = f" ({', '.join(failed)} failed to import: see the factory rows)" if failed else ""
        count = len(self.modules) - 1
        return "PASS", f"importing it and {count} factory module(s) leaves torch's global settings unchanged{note}"
