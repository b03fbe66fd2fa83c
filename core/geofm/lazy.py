"""Public names a package imports on first use, so that importing the package stays light (no torch)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, sources: Mapping[str, str | tuple[str, str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for its lazily imported public names.

    ``sources`` maps each name to the module that defines it, or to ``(module, attribute)`` when the
    attribute has another name there. A name is imported on first access and then kept in the package.
    Use as ``__getattr__, __dir__ = lazy_exports(__name__, {...})``.
    """

    def __getattr__(name: str) -> Any:
        source = sources.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = (source, name) if isinstance(source, str) else source
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *sources})

    return __getattr__, __dir__
