"""Checking the options a backbone factory receives (no torch)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from geofm.data.factory import as_bool
from geofm.errors import ConfigError, DataError

__all__ = ["GRAD_CHECKPOINTING", "as_bool", "check_options", "check_single_frame", "flat_band_names", "round_up"]

GRAD_CHECKPOINTING = "recompute block activations in the backward pass to save memory (default false)"
"""The description of the ``grad_checkpointing`` option, as the backbone specs list it."""


def check_options(
    variant: str, options: dict[str, Any], allowed: Mapping[str, str], metadata: Iterable[str] = ()
) -> None:
    """Drop the spec's ``metadata`` entries from ``options`` (in place), then refuse any option not ``allowed``.

    ``geofm.compose`` passes a spec's ``extra`` to its factory as options; the keys in ``metadata`` are
    those entries that describe the backbone rather than configure it.
    """
    for key in metadata:
        options.pop(key, None)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"{variant} has no option {', '.join(unknown)}; its options are {', '.join(allowed)}")


def check_single_frame(variant: str, num_frames: int | None) -> None:
    """Refuse a ``num_frames`` other than ``None`` or 1 for a single-time backbone."""
    if num_frames not in (None, 1):
        raise ConfigError(f"{variant} is a single-time model: num_frames must be 1, not {num_frames}")


def round_up(size: int, multiple: int) -> int:
    """``size`` rounded up to a multiple of ``multiple`` (an image size to the patch, as the composed model pads)."""
    return -(-int(size) // multiple) * multiple


def flat_band_names(band_names: Any, model: str) -> tuple[str, ...]:
    """Band names of the channels from batch metadata: one list for the whole batch.

    Accepts a comma-separated string, a flat sequence of names, or what ``default_collate`` makes of
    identical per-sample lists (C tuples of B names). Samples with different bands raise a
    :class:`~geofm.errors.DataError` that names ``model``.
    """
    if isinstance(band_names, str):
        return tuple(name.strip() for name in band_names.split(","))
    names = list(band_names)
    if all(isinstance(name, str) for name in names):
        return tuple(names)
    rows = [tuple(entry) for entry in names]  # default_collate: C tuples of B names
    if all(len(set(row)) == 1 for row in rows):
        return tuple(row[0] for row in rows)
    raise DataError(
        f"meta 'band_names' differ between the samples of one batch; {model} embeds one band list per batch, "
        "so batch samples with the same bands together"
    )
