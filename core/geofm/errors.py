"""The exceptions geofm raises: one base class the CLI turns into one clear message and exit code 1."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DuplicateComponentError",
    "GeofmError",
    "IncompatibleComponentsError",
    "PluginLoadError",
    "UnknownComponentError",
    "WeightsError",
]


class GeofmError(Exception):
    """Base of every error geofm raises on purpose: the message says what happened and what to do."""


class PluginLoadError(GeofmError):
    """A plugin failed to import or its hook raised, and ``GEOFM_STRICT_PLUGINS=1`` is set."""


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


class DataError(GeofmError):
    """Input data that is missing, corrupt or does not match what the run expects."""
