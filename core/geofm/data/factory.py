"""The options every dataset factory takes, and the one place geofm calls a dataset factory.

A dataset factory is called with the run's common loader options, :class:`DatasetOptions` (the spec, the
data root, the bands, batch size, workers, seed, normalisation and crop size), and the dataset's own
options. Two forms are accepted, told apart by the factory's signature:

- the recommended form takes the common options as its first, positional parameter and its own options
  as keywords: ``def build(common: DatasetOptions, /, *, flips=True, ...)``. It learns its spec (as the
  registry stamped it) from ``common.spec`` and never repeats the common keywords;
- the keyword form takes everything as keywords:
  ``def build(*, data_root=None, bands=None, batch_size=8, num_workers=0, seed=0, mean=None, std=None, ...)``.

A ``crop_size`` the user sets reaches a factory only when the dataset declares it: for the recommended
form by documenting ``crop_size`` in the spec's ``options``; for the keyword form also by declaring a
``crop_size`` keyword. Otherwise :func:`build_datamodule` raises :class:`~geofm.errors.ConfigError`.

Light: no numpy, torch or rasterio.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm.specs import DatasetSpec

__all__ = [
    "COMMON_KEYWORDS",
    "SPLITS",
    "DatasetOptions",
    "as_bool",
    "as_list",
    "build_datamodule",
    "build_dataset",
    "complete_spec",
    "takes_common_options",
    "unknown_options",
]

COMMON_KEYWORDS = ("data_root", "bands", "batch_size", "num_workers", "seed", "mean", "std", "crop_size")
"""The keywords of :class:`DatasetOptions` (besides ``spec``), as keyword-form factories take them."""

SPLITS = ("train", "val", "test")
"""The splits a data module delivers, in order."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _floats(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(float(v) for v in values)


@dataclass(frozen=True)
class DatasetOptions:
    """The options every dataset factory shares, built by geofm from the run (``--data-root``, ``--bands`` ...).

    ``spec`` is the dataset's spec as registered (stamped with its distribution and version);
    ``data_root`` the folder given (``~`` expanded; ``None``: the dataset's default place); ``bands``
    the canonical bands to deliver (``None``: all); ``mean``/``std`` the normalisation per delivered
    band (``None``: the dataset's default, often computed from the training split); ``crop_size`` the
    training crop in pixels (``None``: whole tiles). Values are normalised on creation (paths, tuples,
    integers), so factories can use them as they are.
    """

    spec: DatasetSpec
    data_root: Path | None = None
    bands: tuple[str, ...] | None = None
    batch_size: int = 8
    num_workers: int = 0
    seed: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    crop_size: int | None = None

    def __post_init__(self) -> None:
        fixed = {
            "data_root": Path(self.data_root).expanduser() if self.data_root is not None else None,
            "bands": _bands(self.bands),
            "batch_size": int(self.batch_size),
            "num_workers": int(self.num_workers),
            "seed": int(self.seed),
            "mean": _floats(self.mean),
            "std": _floats(self.std),
            "crop_size": int(self.crop_size) if self.crop_size else None,
        }
        for name, value in fixed.items():
            object.__setattr__(self, name, value)

    def keywords(self) -> dict[str, Any]:
        """The keyword-form arguments: every common option but ``spec`` (``crop_size`` only when set)."""
        found = {name: getattr(self, name) for name in COMMON_KEYWORDS}
        if found["crop_size"] is None:
            del found["crop_size"]
        return found


def complete_spec(common: DatasetOptions, samples: Mapping[str, Sequence[Any]], **found: Any) -> DatasetOptions:
    """``common`` with its spec completed by what the files tell: the ``found`` fields, and the splits with samples.

    For generic datasets, whose spec cannot know the bands, classes or splits before the files are read.
    """
    splits = tuple(split for split in SPLITS if samples.get(split))
    return dataclasses.replace(common, spec=dataclasses.replace(common.spec, splits=splits, **found))


def _bands(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    return tuple(as_list(value) or ()) or None


def takes_common_options(factory: Callable[..., Any]) -> bool:
    """Whether ``factory`` has the recommended form: a first positional parameter without a default."""
    parameters = list(inspect.signature(factory).parameters.values())
    if not parameters:
        return False
    first = parameters[0]
    return first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD) and first.default is first.empty


def _check_crop_size(spec: DatasetSpec, factory: Callable[..., Any], common: DatasetOptions, new_form: bool) -> None:
    if common.crop_size is None or "crop_size" in spec.options:
        return
    if not new_form and "crop_size" in inspect.signature(factory).parameters:
        return
    raise ConfigError(
        f"dataset {spec.name} takes no crop_size (its factory does not declare it); drop "
        "dataset.crop_size / --crop-size, or choose a dataset that crops"
    )


def build_datamodule(spec: DatasetSpec, common: DatasetOptions, options: Mapping[str, Any] | None = None) -> Any:
    """Call ``spec``'s factory with the ``common`` options and the dataset's own ``options``; return its module.

    The factory's form decides the call (see the module docstring): ``factory(common, **options)`` or
    ``factory(data_root=..., bands=..., ..., **options)``. A set ``crop_size`` the dataset does not
    declare raises :class:`~geofm.errors.ConfigError`.
    """
    factory = spec.load_factory()
    new_form = takes_common_options(factory)
    _check_crop_size(spec, factory, common, new_form)
    if new_form:
        return factory(common, **dict(options or {}))
    return factory(**common.keywords(), **dict(options or {}))


def build_dataset(spec: DatasetSpec, /, **keywords: Any) -> Any:
    """:func:`build_datamodule` from keywords: the :data:`COMMON_KEYWORDS` given, the rest the dataset's options.

    For scripts, notebooks and tests: ``build_dataset(spec, data_root=path, batch_size=2, flips=False)``
    builds the data module whatever form the factory has.
    """
    common = DatasetOptions(spec, **{name: keywords.pop(name) for name in COMMON_KEYWORDS if name in keywords})
    return build_datamodule(spec, common, keywords)


# --- option parsing (values from a config file, or strings from ``--set``) ----------------------------


def unknown_options(spec: DatasetSpec, options: Mapping[str, Any]) -> None:
    """Refuse options the dataset does not take, listing the ones it does."""
    if options:
        known = ", ".join(sorted(spec.options))
        raise ConfigError(f"unknown option(s) {', '.join(sorted(options))} for dataset {spec.name}; known: {known}")


def as_list(value: str | Sequence[Any] | None) -> list[str] | None:
    """A comma-separated string or a sequence as a list of strings (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def as_bool(value: Any, name: str) -> bool:
    """``true``/``false`` (and 1/0, yes/no, on/off; blank is false) from a string option, else ``bool(value)``."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if not lowered:
            return False
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)
