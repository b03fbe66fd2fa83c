"""One translation: a peer file in, a geofm run configuration and its report out.

Sections are translated in the order their facts are needed (trainer, data, model, task); every peer key
nobody took is reported at the end, so the report names each key of the file exactly once. The result is
validated against geofm's run configuration schema before it is returned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm.migrate.data_map import translate_data
from geofm.migrate.model_map import translate_model
from geofm.migrate.peer_yaml import PeerConfig, class_name, is_peer_config, read_peer_yaml
from geofm.migrate.report import MigrationReport
from geofm.migrate.state import State
from geofm.migrate.task_map import TASKS, translate_task
from geofm.migrate.trainer_map import translate_trainer

__all__ = ["Migration", "translate"]

_SUPERSEDED = ("lr", "optimizer", "optimizer_hparams", "scheduler", "scheduler_hparams")
_SECTION_ORDER = ("backbone", "necks", "decoder", "head", "aux_heads", "dataset", "task", "trainer", "seed", "out")


@dataclass
class Migration:
    """A translated configuration (plain data, valid for ``geofm run``) and the report of every peer key."""

    config: dict[str, Any]
    report: MigrationReport

    @property
    def same_experiment(self) -> bool:
        """Whether nothing that changes the experiment was left behind."""
        return not self.report.blocking

    def check_runnable(self) -> None:
        """Raise :class:`ConfigError` (one line) when the run cannot start: blocking keys, unfilled or missing paths."""
        report = self.report
        if report.blocking:
            keys = "; ".join(f"{e.key}: {e.why}" for e in report.blocking)
            raise ConfigError(
                f"{report.source} cannot run as the same experiment in geofm ({keys}). "
                f"See the whole report with: geofm migrate {report.source}"
            )
        if report.unfilled_placeholders:
            raise ConfigError(
                f"{report.source} has the path placeholder(s) {', '.join(report.unfilled_placeholders)}: "
                "pass --data-root DIR to fill them"
            )
        if report.missing_paths:
            raise ConfigError(
                f"{report.source} names data that does not exist: {', '.join(report.missing_paths)}; "
                "check --data-root and the paths in the file"
            )


def _facts(state: State) -> None:
    """What several sections need, read without taking keys."""
    peer = state.peer
    state.task_type = TASKS.get(class_name(peer.get("model") or ""), "segmentation")
    state.ignore_index = peer.get("model.ignore_index")
    names = peer.get("model.class_names")
    state.class_names = [str(n) for n in names] if isinstance(names, list) else None
    classes = peer.get("model.model_args.num_classes", peer.get("data.num_classes"))
    state.num_classes = int(classes) if classes is not None else None
    frames = peer.get("model.model_args.backbone_num_frames")
    state.num_frames = int(frames) if frames is not None else None


def _leftovers(state: State) -> None:
    """Report every key no section took."""
    peer = state.peer
    top_level_optimiser = "optimizer" in peer or "lr_scheduler" in peer
    for key in peer.unused():
        section = key.split(".", 1)[0].split("[", 1)[0]
        arg = key.split(".")[1].split("[")[0] if key.startswith("model.") and "." in key else ""
        if section == "model" and arg in _SUPERSEDED and top_level_optimiser:
            state.not_carried(key, "superseded by the top-level optimizer / lr_scheduler (as in LightningCLI)")
        elif key == "ckpt_path":
            state.not_carried(
                key, "to start from a run: geofm run --resume RUN, or --weights FILE", changes_experiment=True
            )
        elif section in ("model", "data", "optimizer", "lr_scheduler"):
            state.not_carried(
                key,
                "geofm migrate does not know this key and cannot tell whether it changes the experiment",
                changes_experiment=True,
            )
        else:
            state.not_carried(key, "geofm has no counterpart (it does not change what is trained)")


def _ordered(config: Mapping[str, Any]) -> dict[str, Any]:
    ordered = {k: config[k] for k in _SECTION_ORDER if k in config}
    ordered.update({k: v for k, v in config.items() if k not in ordered})
    return ordered


def _check_options(config: Mapping[str, Any]) -> None:
    """Refuse options a named component does not document (a translation bug would otherwise fail later)."""
    from geofm.config import DatasetConfig, DecoderConfig
    from geofm.registry import get_registry

    for section, kind, fields in (("dataset", "datasets", DatasetConfig), ("decoder", "decoders", DecoderConfig)):
        values = config.get(section) or {}
        name = values.get("name")
        if not name or name not in get_registry(kind):
            continue
        spec = get_registry(kind).get(name)
        unknown = sorted(set(values) - set(fields.model_fields) - set(spec.options))
        if unknown:
            raise ConfigError(f"geofm migrate produced {section} option(s) {', '.join(unknown)} that {name} lacks")


def translate(
    source: Mapping[str, Any] | str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    name: str | None = None,
) -> Migration:
    """Translate a peer (TerraTorch / LightningCLI) configuration into a geofm run configuration.

    ``source`` is a file or its parsed YAML. ``data_root`` fills path placeholders such as
    ``<sen1floods11_root>`` and roots relative data paths; ``overrides`` are ``key=value`` settings of the
    geofm configuration applied last (as ``--set``). Raises :class:`ConfigError` when ``source`` is not a
    peer file; otherwise returns the configuration and the report, blocking keys included.
    """
    from geofm.config import apply_overrides, parse_override, validate_config

    if isinstance(source, Mapping):
        data, label = dict(source), name or "the peer configuration"
    else:
        data, label = read_peer_yaml(source), name or str(source)
    if not is_peer_config(data):
        raise ConfigError(
            f"{label} is not a TerraTorch (LightningCLI) configuration: it has no model or data section with a "
            "class_path (a geofm configuration runs with geofm run --config as it is)"
        )
    report = MigrationReport(source=label)
    root = str(Path(data_root).expanduser()) if data_root is not None else None
    state = State(PeerConfig(data, label), report, data_root=root)
    _facts(state)
    translate_trainer(state)
    translate_data(state)
    translate_model(state)
    translate_task(state)
    _leftovers(state)
    config = _ordered(state.out)
    if overrides:
        config = _ordered(apply_overrides(config, [parse_override(text) for text in overrides]))
        report.notes.append("applied --set " + " ".join(overrides))
    validate_config(config)
    _check_options(config)
    return Migration(config=config, report=report)
