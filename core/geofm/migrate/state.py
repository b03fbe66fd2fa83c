"""What one translation carries from section to section: the peer keys, the geofm config built, the report.

The section modules (:mod:`~geofm.migrate.model_map`, :mod:`~geofm.migrate.task_map`,
:mod:`~geofm.migrate.data_map`, :mod:`~geofm.migrate.trainer_map`) read peer keys through
:class:`State`, write geofm keys with :meth:`State.put` and record each key's fate in the report; facts one
section learns and another needs (task type, classes, ignore index, bands, frames) live here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geofm.migrate.peer_yaml import PeerConfig
from geofm.migrate.report import MigrationReport
from geofm.specs import BackboneSpec

__all__ = ["State"]


@dataclass
class State:
    """One translation in progress."""

    peer: PeerConfig
    report: MigrationReport
    data_root: str | None = None
    out: dict[str, Any] = field(default_factory=dict)
    task_type: str = "segmentation"
    ignore_index: int | None = None
    class_names: list[str] | None = None
    num_classes: int | None = None
    backbone: BackboneSpec | None = None
    backbone_bands: list[str] | None = None
    num_frames: int | None = None
    decoder: str | None = None
    decoder_out_channels: int | None = None
    pyramid_finest: int | None = None

    def put(self, dotted: str, value: Any) -> None:
        """Set geofm key ``dotted`` (``dataset.mean``; a top-level key has no dot) in the config built."""
        *sections, last = dotted.split(".")
        node = self.out
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = value

    def value(self, dotted: str, default: Any = None) -> Any:
        """The geofm key ``dotted`` of the config built so far."""
        node: Any = self.out
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def map(
        self,
        key: str,
        target: str,
        convert: Callable[[Any], Any] | None = None,
        why: str = "",
    ) -> Any:
        """Take peer ``key``, put it (through ``convert``) at geofm ``target`` and report it mapped."""
        raw = self.peer.take(key)
        value = convert(raw) if convert is not None else raw
        self.put(target, value)
        self.report.mapped(key, target, raw, why)
        return value

    def map_or_default(
        self, key: str | None, target: str, convert: Callable[[Any], Any], default: Any, source: str, why: str = ""
    ) -> Any:
        """:meth:`map` peer ``key`` to ``target``; without a key, put ``default`` there, reported as from ``source``.

        ``source`` names where the default comes from, e.g. ``"(torch default) SGD momentum"``; ``why``
        notes it in the report. Returns the value put.
        """
        if key:
            return self.map(key, target, convert)
        self.put(target, default)
        self.report.mapped(source, target, default, why)
        return default

    def record(self, key: str, target: str, why: str = "") -> Any:
        """Take peer ``key`` and report it mapped to ``target`` (which the caller sets itself)."""
        raw = self.peer.take(key)
        self.report.mapped(key, target, raw, why)
        return raw

    def defaulted(self, key: str, why: str) -> None:
        """Take peer ``key`` and report it defaulted."""
        self.report.defaulted(key, why, self.peer.take(key))

    def not_carried(self, key: str, why: str, *, changes_experiment: bool = False) -> None:
        """Take peer ``key`` and report it not carried over."""
        self.report.not_carried(key, why, self.peer.take(key), changes_experiment=changes_experiment)

    def whole(self, prefix: str) -> list[str]:
        """Mark every key at or below ``prefix`` used; returns them (to report an object as one entry)."""
        keys = self.peer.under(prefix)
        self.peer.mark(*keys)
        return keys
