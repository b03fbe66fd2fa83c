"""Split lists and seeded train / val / test splits of the samples no list places, shared by every dataset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from geofm.errors import ConfigError, DataError

__all__ = ["assign_splits", "check_fractions", "read_entries"]


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


S = TypeVar("S", bound=_HasId)


def read_entries(
    path: str | Path, *, what: str = "split list", hint: str = "give one file of ids per split"
) -> list[str]:
    """The entries of a list file: each line without its ``#`` comment and the blanks around it, blank lines skipped.

    A missing file raises :class:`DataError` naming it (as ``what``) and saying what to give (``hint``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist; {hint}")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Refuse a ``val_fraction`` or ``test_fraction`` outside [0, 1)."""
    if not (0.0 <= float(val_fraction) < 1.0 and 0.0 <= float(test_fraction) < 1.0):
        raise ConfigError("val_fraction and test_fraction must be between 0 and 1")


def _by_id(samples: Sequence[S]) -> list[S]:
    return sorted(samples, key=lambda s: s.id)


def assign_splits(
    samples: Sequence[S],
    listed: Mapping[str, list[S]],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, list[S]]:
    """Samples per split: those ``listed`` per split (from split lists), the rest by a seeded shuffle.

    With a ``train`` list, validation (when not listed) takes ``val_fraction`` of it and samples in no
    list are left out. Without one, the samples in no list are shuffled into test (``test_fraction``,
    unless listed), val (``val_fraction``, at least one sample of two or more, unless listed) and train;
    too few samples for that raise :class:`DataError`. Each computed split is sorted by id.
    """
    check_fractions(val_fraction, test_fraction)
    val_fraction, test_fraction = float(val_fraction), float(test_fraction)
    result = dict(listed)
    if "train" in result:
        train = result["train"]
        if "val" not in result and val_fraction > 0 and len(train) >= 2:
            order = np.random.default_rng(seed).permutation(len(train))
            n_val = max(1, round(len(train) * val_fraction))
            result["val"] = _by_id([train[i] for i in order[:n_val]])
            result["train"] = _by_id([train[i] for i in order[n_val:]])
        return result
    held = {s.id for items in result.values() for s in items}
    pool = [s for s in samples if s.id not in held]
    pool = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]
    n = len(pool)
    n_test = round(n * test_fraction) if "test" not in result else 0
    n_val = round(n * val_fraction) if "val" not in result else 0
    if "val" not in result and val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    if n_test + n_val >= n:
        raise DataError(
            f"{n} images cannot be split into train, val ({val_fraction}) and test ({test_fraction}): "
            "add images or lower the fractions"
        )
    if n_test:
        result["test"] = _by_id(pool[:n_test])
    if n_val:
        result["val"] = _by_id(pool[n_test : n_test + n_val])
    result["train"] = _by_id(pool[n_test + n_val :])
    return result
