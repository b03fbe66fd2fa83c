"""Checks every plugin should pass; call them from the plugin's own tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from types import ModuleType

from geofm import hookspecs
from geofm.specs import ComponentSpec
from geofm.vocabulary import HOOK_OF_KIND

__all__ = ["check_plugin_module", "check_spec_factories", "import_is_light"]

HEAVY_MODULES = ("torch", "lightning", "rasterio", "timm", "segmentation_models_pytorch", "ray", "optuna")


def import_is_light(module: str, heavy: Iterable[str] = HEAVY_MODULES) -> list[str]:
    """Import ``module`` in a fresh interpreter; return the heavy modules that came with it (want: [])."""
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        f"print(','.join(m for m in {tuple(heavy)!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in result.stdout.strip().split(",") if m]


def check_plugin_module(module: ModuleType) -> list[ComponentSpec]:
    """Validate a plugin module: known, documented hooks returning the right spec types; returns its specs."""
    specs: list[ComponentSpec] = []
    from geofm.registry import KINDS

    kind_of_hook = {hook: kind for kind, hook in HOOK_OF_KIND.items()}
    hooks = [name for name in dir(module) if name.startswith("geofm_")]
    assert hooks, f"{module.__name__} implements no geofm_* hook"
    for name in hooks:
        assert hasattr(hookspecs, name), f"{module.__name__}.{name} is not a geofm hook (typo?)"
        function = getattr(module, name)
        assert function.__doc__, f"{module.__name__}.{name} has no docstring"
        if name not in kind_of_hook:
            continue
        spec_class = KINDS[kind_of_hook[name]]
        for spec in function():
            assert isinstance(spec, spec_class), f"{name} returned {type(spec).__name__}, not {spec_class.__name__}"
            specs.append(spec)
    names = [(s.kind, s.name) for s in specs]
    assert len(names) == len(set(names)), f"{module.__name__} registers a name twice"
    return specs


def check_spec_factories(specs: Iterable[ComponentSpec]) -> None:
    """Every spec's lazy factory resolves to a callable."""
    for spec in specs:
        factory = spec.load_factory()
        assert callable(factory), f"{spec.name}: factory {spec.factory} is not callable"
