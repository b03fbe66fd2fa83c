"""The exceptions geofm raises: one base class the CLI turns into one clear message and exit code 1."""

from __future__ import annotations

import re

__all__ = [
    "ComponentLoadError",
    "ConfigError",
    "ContractError",
    "DataError",
    "DuplicateComponentError",
    "GeofmError",
    "IncompatibleComponentsError",
    "PluginLoadError",
    "SpecError",
    "UnknownComponentError",
    "UnsafeCheckpointError",
    "WeightsError",
    "unwrap_worker_error",
]


class GeofmError(Exception):
    """Base of every error geofm raises on purpose: the message says what happened and what to do."""


class PluginLoadError(GeofmError):
    """A plugin failed to import or its hook raised, and ``GEOFM_STRICT_PLUGINS=1`` is set."""


class SpecError(GeofmError, ValueError):
    """A component spec with an invalid field, raised when the plugin constructs it."""


class ComponentLoadError(GeofmError):
    """A component's factory (or another ``module:attr`` reference of its spec) cannot be imported."""


class ContractError(GeofmError):
    """A plugin's built component lacks an attribute core reads, or its output differs from its spec."""


class DuplicateComponentError(GeofmError):
    """Two plugins registered a component of the same kind under the same name."""


class UnknownComponentError(GeofmError, KeyError):
    """A component name that no loaded plugin registers."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class IncompatibleComponentsError(GeofmError):
    """A backbone, neck, decoder or task that cannot be composed as asked; the message names the fix."""


class ConfigError(GeofmError):
    """A run configuration with an unknown key, a wrong type or an impossible value."""


class WeightsError(GeofmError):
    """Pretrained weights that cannot be found, downloaded or loaded."""


class UnsafeCheckpointError(WeightsError):
    """A checkpoint that only full unpickling could read: refused, since unpickling can run any code."""


class DataError(GeofmError):
    """Input data that is missing, corrupt or does not match what the run expects."""


_WORKER_HEADER = re.compile(r"Caught \w+ in [^\n]*\.\nOriginal Traceback \(most recent call last\):\n")
"""How torch's ``ExceptionWrapper.reraise`` starts the message of an error re-raised from a DataLoader worker."""


def unwrap_worker_error(error: BaseException) -> BaseException:
    r"""The geofm error a DataLoader worker raised, with its own message, from torch's re-raised copy of it.

    torch re-raises an exception from a worker process as ``type(exc)("Caught DataError in DataLoader
    worker process 0.\nOriginal Traceback (most recent call last):\n ... geofm.errors.DataError: <message>")``,
    which buries the message under a traceback. For a :class:`GeofmError` with such a message this returns a
    new exception of the same class holding only the original message (everything after the last
    ``<module>.<Class>: `` line prefix, several lines if it had several), chained ``from`` ``error`` so the
    worker's traceback stays visible with ``--debug``. Any other error is returned unchanged.
    """
    if not isinstance(error, GeofmError) or not error.args or not isinstance(error.args[0], str):
        return error
    text = error.args[0]
    if not _WORKER_HEADER.match(text):
        return error
    kind = type(error)
    name = (
        kind.__qualname__ if kind.__module__ in {"__main__", "builtins"} else f"{kind.__module__}.{kind.__qualname__}"
    )
    start = text.rfind(f"\n{name}: ")
    if start < 0:
        return error
    message = text[start + len(name) + 3 :].rstrip("\n")
    try:
        unwrapped = kind(message)
    except TypeError:  # a subclass whose constructor takes other arguments: keep torch's error
        return error
    unwrapped.__cause__ = error
    unwrapped.__suppress_context__ = True
    return unwrapped
