"""Reading a TerraTorch (LightningCLI) YAML file: detection, ``class_path`` / ``init_args``, keys, placeholders.

A peer file is a LightningCLI configuration: top-level ``trainer``, ``data``, ``model``, ``optimizer``,
``lr_scheduler`` and ``seed_everything``, where objects are ``{class_path: X, init_args: {...}}``. Its keys
are flattened into dotted names without ``init_args`` (``model.model_args.backbone``,
``trainer.callbacks[2].patience``); an object's own key holds its class (``trainer.callbacks[2]`` ->
``EarlyStopping``). :class:`PeerConfig` hands those keys out one by one and remembers which were used, so
that the report can name every key exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from geofm.errors import ConfigError

__all__ = [
    "PLACEHOLDER",
    "PeerConfig",
    "class_name",
    "flatten",
    "is_peer_config",
    "read_peer_yaml",
]

PLACEHOLDER = re.compile(r"<[A-Za-z0-9_.\- ]+>")
"""A path placeholder of the peer's example configurations, e.g. ``<sen1floods11_root>`` or ``<data_path>``."""

_LIGHTNING_SECTIONS = ("model", "data", "optimizer", "lr_scheduler")


def class_name(class_path: Any) -> str:
    """The class of a ``class_path`` without its module (``terratorch.tasks.X`` -> ``X``)."""
    return str(class_path).strip().rsplit(".", 1)[-1]


def _is_object(node: Any) -> bool:
    return isinstance(node, Mapping) and "class_path" in node


def is_peer_config(data: Any) -> bool:
    """Whether plain data read from YAML is a peer (LightningCLI) file rather than a geofm run configuration.

    A peer file has a top-level ``model``, ``data``, ``optimizer`` or ``lr_scheduler`` that is a
    ``class_path`` object, or a ``seed_everything`` key; geofm's own sections never hold ``class_path``.
    """
    if not isinstance(data, Mapping):
        return False
    if "seed_everything" in data:
        return True
    return any(_is_object(data.get(section)) for section in _LIGHTNING_SECTIONS)


def read_peer_yaml(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; unreadable or non-mapping files are a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(error).split())}") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value for every leaf of ``node`` (objects: their class under their own key).

    Lists of plain values stay one leaf (``data.means``); lists holding mappings are numbered
    (``trainer.callbacks[0]``); an empty mapping is one leaf.
    """
    result: dict[str, Any] = {}
    if isinstance(node, Mapping):
        if "class_path" in node:
            result[prefix] = class_name(node["class_path"])
            args = dict(node.get("init_args") or {})
            args.update({k: v for k, v in node.items() if k not in ("class_path", "init_args")})
            for key, value in args.items():
                result.update(flatten(value, f"{prefix}.{key}"))
        elif not node and prefix:
            result[prefix] = {}
        else:
            for key, value in node.items():
                result.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(node, list) and any(isinstance(item, Mapping) for item in node):
        for index, item in enumerate(node):
            result.update(flatten(item, f"{prefix}[{index}]"))
    else:
        result[prefix] = node
    return result


_MISSING = object()


class PeerConfig:
    """A peer file's flattened keys, handed out once each (:meth:`take`), with the raw sections kept."""

    def __init__(self, data: Mapping[str, Any], source: str = "") -> None:
        self.data = dict(data)
        self.source = source
        self.keys = flatten(self.data)
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.keys

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` without marking it used."""
        return self.keys.get(key, default)

    def take(self, key: str, default: Any = _MISSING) -> Any:
        """The value of ``key``, marked as used (``default`` when absent; absent without one: ``None``)."""
        if key in self.keys:
            self.used.add(key)
            return self.keys[key]
        return None if default is _MISSING else default

    def mark(self, *keys: str) -> None:
        """Mark keys as used without reading them."""
        self.used.update(k for k in keys if k in self.keys)

    def under(self, prefix: str) -> list[str]:
        """Keys at or below ``prefix`` (``prefix.x``, ``prefix[0]`` ...), in file order."""
        return [k for k in self.keys if k == prefix or k.startswith((f"{prefix}.", f"{prefix}["))]

    def args(self, prefix: str) -> dict[str, str]:
        """The direct arguments of the object at ``prefix``: argument name -> its full key."""
        found: dict[str, str] = {}
        for key in self.under(prefix):
            rest = key[len(prefix) :]
            if rest.startswith("."):
                name = re.split(r"[.\[]", rest[1:], maxsplit=1)[0]
                found.setdefault(name, f"{prefix}.{name}")
        return found

    def items(self, prefix: str) -> Iterator[tuple[int, str]]:
        """``(index, key)`` of each item of the list at ``prefix`` that holds objects (``prefix[0]`` ...)."""
        index = 0
        while any(k == f"{prefix}[{index}]" or k.startswith(f"{prefix}[{index}].") for k in self.keys):
            yield index, f"{prefix}[{index}]"
            index += 1

    def unused(self) -> list[str]:
        """Keys nobody took, in file order."""
        return [k for k in self.keys if k not in self.used]
