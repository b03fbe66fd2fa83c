"""Option parsing the detection dataset factories share (values from a config file or strings from ``--set``).

Light: no numpy, torch or rasterio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from geofm.errors import ConfigError, GeofmError
from geofm.specs import DatasetSpec

__all__ = ["as_bool", "as_list", "masks_option", "registered_spec", "unknown_options"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def registered_spec(default: DatasetSpec) -> DatasetSpec:
    """The registry's copy of ``default`` (stamped with its distribution and version), else ``default``.

    ``default`` itself is used when the factory is called outside a loaded plugin system (e.g. directly
    in a notebook or a test with plugins blocked).
    """
    from geofm.registry import get_registry

    try:
        return get_registry("datasets").get(default.name)
    except GeofmError:
        return default


def unknown_options(spec: DatasetSpec, options: Mapping[str, Any]) -> None:
    """Refuse options the dataset does not take, listing the ones it does."""
    if options:
        known = ", ".join(sorted(spec.options))
        raise ConfigError(f"unknown option(s) {', '.join(sorted(options))} for dataset {spec.name}; known: {known}")


def as_list(value: str | Sequence[Any] | None) -> list[str] | None:
    """A comma-separated string or a sequence as a list of strings (``None`` and empty stay ``None``)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]
    return [v for v in items if v] or None


def as_bool(value: Any, name: str) -> bool:
    """``true``/``false`` (and 1/0, yes/no, on/off) from a string option, else ``bool(value)``."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)


def masks_option(value: Any) -> bool | None:
    """The ``with_masks`` option: ``True``, ``False`` or ``None`` for ``auto`` (masks when outlines exist)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    return as_bool(value, "with_masks")
