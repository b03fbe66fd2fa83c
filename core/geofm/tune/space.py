"""The search space of a study: which keys of the run configuration vary, and over what.

Each key is a dotted key of the run configuration (as ``--set`` takes it) and each value one range::

    search:
      task.lr: {loguniform: [1.0e-5, 1.0e-3]}
      task.weight_decay: {uniform: [0.0, 0.1]}          # [low, high] or [low, high, step]
      trainer.accumulate_grad_batches: {int: [1, 4]}    # [low, high] or [low, high, step]; log: true
      dataset.batch_size: {choice: [4, 8]}
      decoder.name: {choice: [upernet, unet, fcn]}      # a plain list is a choice too
      task.freeze_backbone: {choice: [true, false]}

:func:`check_space` validates every key and value against the run schema and the registries before any
trial starts: it resolves the run (as :func:`geofm.runner.run` does before writing anything) for every
value of every key, and for every combination of component names with every other key, so an unknown
key, option or component name, a wrong type or a decoder that does not fit the backbone is an error
naming the key and value.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from geofm.config import apply_overrides
from geofm.errors import ConfigError, GeofmError

__all__ = ["KINDS", "Param", "SearchSpace", "check_space", "parse_space"]

KINDS = ("loguniform", "uniform", "int", "choice")
"""The kinds of range a search-space key can take."""

RESERVED = {"out": "the study puts trials in <study>/trials", "name": "trials are named by their number"}
"""Run-configuration keys that a study sets itself."""

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_EXAMPLE = "e.g. task.lr: {loguniform: [1.0e-5, 1.0e-3]} or decoder.name: {choice: [upernet, fcn]}"


def _scalar(value: Any, where: str) -> Any:
    """A choice value: YAML 1.1 reads ``1e-4`` as a string, so numeric strings become numbers."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ConfigError(f"search space {where}: choice values must be numbers, strings, booleans or null, not {value!r}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"search space {where}: {value!r} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"search space {where}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"search space {where}: {value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Param:
    """One key of the search space and its range."""

    key: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def path(self) -> list[str]:
        """The key split into its sections."""
        return self.key.split(".")

    def suggest(self, trial: Any) -> Any:
        """The value of this key for an Optuna trial (``trial.suggest_*``)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.kind == "loguniform")

    def samples(self) -> list[Any]:
        """The values validation tries: every choice, or both ends of a range and a point inside it."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            step = int(self.step or 1)
            middle = int(self.low) + step * ((int(self.high) - int(self.low)) // step // 2)
            return list(dict.fromkeys([int(self.low), int(self.high), middle]))
        if self.kind == "loguniform":
            inside = math.exp(math.log(self.low) + 0.37 * (math.log(self.high) - math.log(self.low)))
        else:
            inside = self.low + 0.37 * (self.high - self.low)
        return [self.low, self.high, inside]

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this key can take (for trials given by hand)."""
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not float(value).is_integer():
            return False
        return self.low <= value <= self.high

    def grid_values(self) -> list[Any] | None:
        """Every value of a discrete key (a choice, or an int range without ``log``); ``None`` otherwise."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        return None

    def to_data(self) -> dict[str, Any]:
        """The YAML form of this range."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        bounds: list[Any] = [self.low, self.high] if self.step is None else [self.low, self.high, self.step]
        if self.kind == "int":
            bounds = [int(b) for b in bounds]
            return {"int": bounds, "log": True} if self.log else {"int": bounds}
        return {self.kind: bounds}


def _parse_param(key: Any, spec: Any) -> Param:
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"search space key {key!r} must be a dotted run-configuration key ({_EXAMPLE})")
    key = key.strip()
    if key in RESERVED:
        raise ConfigError(f"search space key {key!r} cannot vary: {RESERVED[key]}")
    if isinstance(spec, list | tuple):
        spec = {"choice": list(spec)}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"search space {key}: {spec!r} is not a range ({_EXAMPLE})")
    kinds = [k for k in spec if k in KINDS]
    unknown = [k for k in spec if k not in KINDS and k not in ("log",)]
    if unknown or len(kinds) != 1:
        import difflib

        given = unknown[0] if unknown else ", ".join(map(str, spec)) or "nothing"
        close = difflib.get_close_matches(str(given), KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"search space {key}: {given!r} is not one range kind of {', '.join(KINDS)}.{hint}")
    kind = kinds[0]
    values = spec[kind]
    log = spec.get("log", False)
    if log not in (True, False) or (log and kind != "int"):
        raise ConfigError(f"search space {key}: 'log: true' goes with int ranges (use loguniform for floats)")
    if kind == "choice":
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"search space {key}: choice needs a non-empty list, e.g. {{choice: [4, 8]}}")
        choices = tuple(_scalar(v, key) for v in values)
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"search space {key}: choice {list(choices)} repeats a value")
        return Param(key, kind, choices=choices)
    if not isinstance(values, list | tuple) or len(values) not in (2, 3):
        raise ConfigError(f"search space {key}: {kind} needs [low, high] or [low, high, step], not {values!r}")
    low, high = (_number(v, key) for v in values[:2])
    step = _number(values[2], key) if len(values) == 3 else None
    if not low < high:
        raise ConfigError(f"search space {key}: {kind} needs low < high, not [{values[0]}, {values[1]}]")
    if kind == "loguniform":
        if low <= 0:
            raise ConfigError(f"search space {key}: loguniform needs 0 < low, not {values[0]}")
        if step is not None:
            raise ConfigError(f"search space {key}: loguniform takes [low, high] (no step)")
    if step is not None and (step <= 0 or step > high - low):
        raise ConfigError(f"search space {key}: step {values[2]} must be > 0 and at most high - low")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise ConfigError(f"search space {key}: int needs whole numbers, not {list(values)}")
    if kind == "int" and log and step not in (None, 1):
        raise ConfigError(f"search space {key}: an int range with 'log: true' takes no step")
    return Param(key, kind, low=low, high=high, step=step, log=bool(log))


@dataclass(frozen=True)
class SearchSpace:
    """The keys a study varies, in order."""

    params: tuple[Param, ...]

    @property
    def keys(self) -> list[str]:
        """The dotted keys."""
        return [p.key for p in self.params]

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The values of one Optuna trial, by key."""
        return {p.key: p.suggest(trial) for p in self.params}

    def apply(self, base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` (plain run-configuration data) with ``values`` set at their dotted keys."""
        return apply_overrides(base, [(key.split("."), value) for key, value in values.items()])

    def to_data(self) -> dict[str, Any]:
        """The YAML form (the ``search:`` section of ``tune.yaml``)."""
        return {p.key: p.to_data() for p in self.params}

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every key, for grid search; a continuous range is an error naming it."""
        grid: dict[str, list[Any]] = {}
        for p in self.params:
            values = p.grid_values()
            if values is None:
                raise ConfigError(
                    f"--sampler grid needs discrete values, and search space {p.key} is {p.kind}: "
                    f"give it as {{choice: [...]}} (or an int range without log)"
                )
            grid[p.key] = values
        return grid

    def grid_size(self) -> int:
        """How many points the grid has."""
        return math.prod(len(values) for values in self.grid().values())

    def check_point(self, point: Any) -> dict[str, Any]:
        """A trial given by hand (``enqueue``): its keys must be in the space and its values in range."""
        if not isinstance(point, Mapping):
            raise ConfigError(f"an enqueued trial must map search-space keys to values, not {point!r}")
        params = {p.key: p for p in self.params}
        checked: dict[str, Any] = {}
        for key, value in point.items():
            if key not in params:
                raise ConfigError(
                    f"enqueued trial {dict(point)}: {key!r} is not a key of the search space ({', '.join(params)})"
                )
            value = _scalar(value, key) if params[key].kind == "choice" else value
            if not params[key].contains(value):
                raise ConfigError(
                    f"enqueued trial {dict(point)}: {key}={value!r} is outside its range {params[key].to_data()}"
                )
            checked[key] = value
        return checked


def parse_space(data: Mapping[str, Any] | SearchSpace | None) -> SearchSpace:
    """Parse the ``search:`` section (dotted key -> range); errors name the key and say what to give."""
    if isinstance(data, SearchSpace):
        return data
    if not data:
        raise ConfigError(f"the search space is empty: give a search: section or --space KEY=RANGE ({_EXAMPLE})")
    if not isinstance(data, Mapping):
        raise ConfigError(f"the search space must map dotted keys to ranges ({_EXAMPLE}), not {type(data).__name__}")
    params = tuple(_parse_param(key, spec) for key, spec in data.items())
    keys = [p.key for p in params]
    for key in keys:
        nested = [other for other in keys if other.startswith(key + ".")]
        if nested:
            raise ConfigError(f"search space keys {key!r} and {nested[0]!r} overlap: vary one of them")
    return SearchSpace(params)


def _describe(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in values.items())


def _attempt(base: Mapping[str, Any], space: SearchSpace, values: dict[str, Any], blamed: dict[str, Any]) -> Any:
    from geofm.config import validate_config
    from geofm.resolve import resolve_run

    try:
        return resolve_run(validate_config(space.apply(base, values)))
    except GeofmError as error:
        message = " ".join(str(error).split())
        raise ConfigError(f"search space {_describe(blamed)}: {message}") from error


def check_space(base: Mapping[str, Any], space: SearchSpace) -> Any:
    """Resolve the run for every value of every key, and for every combination of component names.

    ``base`` is the plain data of the base run configuration. Returns the resolved reference run (the
    base with the first value of every key), whose task tells the default metric. Raises
    :class:`ConfigError` naming the key and value that do not fit, before anything is written.
    """
    with _quiet_decisions():
        return _check_all(base, space)


@contextlib.contextmanager
def _quiet_decisions() -> Iterator[None]:
    """Log the INFO lines of geofm (the decoder chosen, the statistics ...) once, not once per value checked."""
    logger = logging.getLogger("geofm")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _check_all(base: Mapping[str, Any], space: SearchSpace) -> Any:
    first = {p.key: p.samples()[0] for p in space.params}
    reference = _attempt(base, space, first, first)
    for param in space.params:
        for value in param.samples()[1:]:
            _attempt(base, space, {**first, param.key: value}, {param.key: value})
    names = [p for p in space.params if p.kind == "choice" and len(p.path) == 2 and p.path[1] == "name"]
    if names:  # a component's options and other components depend on which component is chosen
        others = [p for p in space.params if p not in names]
        for combination in itertools.product(*(p.choices for p in names)):
            chosen = dict(zip((p.key for p in names), combination, strict=True))
            _attempt(base, space, {**first, **chosen}, chosen)
            for param in others:
                for value in param.samples():
                    _attempt(base, space, {**first, **chosen, param.key: value}, {**chosen, param.key: value})
    return reference


def space_values(params: Sequence[Param], trial_params: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``trial_params`` (an Optuna trial's) in the order of the space's keys."""
    return {p.key: trial_params[p.key] for p in params if p.key in trial_params}
