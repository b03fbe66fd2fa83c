"""Option parsing the detection dataset factories share (values from a config file or strings from ``--set``).

The parsing every dataset factory shares (booleans, lists, unknown options) is core's
(:mod:`geofm.data.factory`); this adds what only detection takes. Light: no numpy, torch or rasterio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geofm.data import factory
from geofm.data.factory import as_bool, unknown_options

__all__ = ["as_bool", "as_list", "masks_option", "unknown_options"]


def as_list(value: str | Sequence[Any] | None) -> list[str] | None:
    """A comma-separated string or a sequence as a list of strings (``None`` and empty stay ``None``)."""
    return factory.as_list(value) or None


def masks_option(value: Any) -> bool | None:
    """The ``with_masks`` option: ``True``, ``False`` or ``None`` for ``auto`` (masks when outlines exist)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    return as_bool(value, "with_masks")
