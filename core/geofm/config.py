"""The run configuration: a YAML file, CLI flags and ``--set key=value`` merged, validated and saved.

The schema is a tree of pydantic models. Unknown keys and wrong types are :class:`~geofm.errors.ConfigError`
naming the dotted key (with close matches), never a wall of union-validation text. Component sections
(``backbone``, ``decoder``, ``dataset``, ``task``, ``head``) also take the component's own options as extra
keys (e.g. ``backbone.grad_checkpointing``); :mod:`geofm.runner` checks those against the component's
factory before anything is built.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geofm.errors import ConfigError

__all__ = [
    "BackboneConfig",
    "DatasetConfig",
    "DecoderConfig",
    "LoraConfig",
    "RunConfig",
    "TaskConfig",
    "TrainerConfig",
    "apply_overrides",
    "load_config",
    "parse_override",
    "save_config",
    "validate_config",
]


class _Section(BaseModel):
    """A section with a fixed set of keys."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class _ComponentSection(BaseModel):
    """A section whose extra keys are options of the component it names."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    def options(self) -> dict[str, Any]:
        """The component's own options: every key that is not a field of the section."""
        return dict(self.model_extra or {})


class LoraConfig(_Section):
    """``backbone.lora``: fine-tune the backbone through LoRA adapters (peft) instead of all its weights.

    ``rank`` is the adapters' rank; ``alpha`` their scaling numerator (the update is ``alpha / rank * B A``;
    default: ``rank``, a scale of 1, as peft's own default); ``dropout`` the dropout on the adapters'
    input. ``targets`` are patterns of the linear layers to adapt: a module name or the end of one after a
    dot (``attn.qkv`` matches ``blocks.0.attn.qkv``), with ``*`` wildcards; by default the attention
    projections. ``mlp`` adds the MLP linear layers to them. See :mod:`geofm.lora`.
    """

    rank: int = Field(gt=0)
    alpha: float | None = Field(default=None, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    targets: list[str] | None = Field(default=None, min_length=1)
    mlp: bool = False


class BackboneConfig(_ComponentSection):
    """``backbone``: which backbone, which weights, which feature levels; extra keys go to its factory.

    ``lora`` (a :class:`LoraConfig`) adapts the backbone with LoRA; it is geofm's, not the factory's.
    """

    name: str = "tiny_vit"
    weights: str = "auto"
    levels: list[int] | None = None
    img_size: int | None = Field(default=None, gt=0)
    num_frames: int | None = Field(default=None, gt=0)
    lora: LoraConfig | None = None


class DecoderConfig(_ComponentSection):
    """``decoder``: which decoder; extra keys go to its factory (e.g. ``channels``).

    Without a name, the run uses ``upernet`` for dense tasks and ``identity`` for classification.
    """

    name: str | None = None


class HeadConfig(_ComponentSection):
    """``head``: options of the task's head (e.g. ``dropout``)."""


class DatasetConfig(_ComponentSection):
    """``dataset``: which data, which bands, how it is batched; extra keys go to the data module.

    Without a name, the run uses the generated demo of its task: ``demo`` (segmentation), or
    ``demo_regression`` for ``--task regression``.
    """

    name: str | None = None
    data_root: str | None = None
    bands: list[str] | None = None
    batch_size: int = Field(default=8, gt=0)
    num_workers: int = Field(default=2, ge=0)
    crop_size: int | None = Field(default=None, gt=0)
    mean: list[float] | None = None
    std: list[float] | None = None


class TaskConfig(_ComponentSection):
    """``task``: the training task (default: the dataset's task) and its optimisation; extras go to it.

    ``num_outputs`` (classes, or target channels for regression) and ``class_names`` are what the data
    decided; a run records them so that its model can be rebuilt without the data. Given on a new run,
    they must agree with the dataset.
    """

    name: str | None = None
    num_outputs: int | None = Field(default=None, gt=0)
    class_names: list[str] | None = None
    loss: str | None = None
    class_weights: list[float] | None = None
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    freeze_backbone: bool = False
    scheduler: Literal["plateau", "cosine", "none"] = "plateau"


class TrainerConfig(_Section):
    """``trainer``: the Lightning Trainer and the callbacks geofm adds."""

    max_epochs: int = Field(default=20, gt=0)
    max_steps: int = -1
    devices: int | str | list[int] = "auto"
    accelerator: str = "auto"
    num_nodes: int = Field(default=1, gt=0)
    strategy: str = "auto"
    precision: str | None = None
    fast_dev_run: bool | int = False
    early_stopping_patience: int | None = Field(default=10, ge=1)
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    limit_test_batches: int | float | None = None
    log_every_n_steps: int = Field(default=10, gt=0)
    accumulate_grad_batches: int = Field(default=1, gt=0)
    gradient_clip_val: float | None = None
    deterministic: bool = False
    progress_bar: bool = True
    plots: bool = True
    """Draw ``plots/`` in the run directory at the end (learning curves, samples, confusion matrix ...)."""


class RunConfig(_Section):
    """A whole run: components, data, task, trainer, seed and output folder."""

    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    necks: list[str | dict[str, Any]] | None = None
    decoder: DecoderConfig = Field(default_factory=DecoderConfig)
    head: HeadConfig = Field(default_factory=HeadConfig)
    aux_heads: list[dict[str, Any]] = Field(default_factory=list)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    seed: int = 0
    out: str = "runs"
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what ``config.yaml`` holds), extras included."""
        return self.model_dump(mode="json")


def _fields_of(path: tuple[str | int, ...]) -> list[str]:
    model: Any = RunConfig
    for part in path:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        # a section or an optional one (``LoraConfig | None``)
        candidates = (annotation, *get_args(annotation))
        model = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return list(getattr(model, "model_fields", {}))


def _describe(error: Mapping[str, Any]) -> str:
    location = tuple(error.get("loc", ()))
    key = ".".join(str(p) for p in location)
    if error.get("type") == "extra_forbidden":
        siblings = _fields_of(location[:-1])
        close = difflib.get_close_matches(str(location[-1]), siblings, n=3)
        prefix = ".".join(map(str, location[:-1]))
        suggestions = ", ".join(repr(f"{prefix}.{c}" if prefix else c) for c in close)
        hint = f" Did you mean {suggestions}?" if close else ""
        known = f" Known keys here: {', '.join(siblings)}." if siblings else ""
        return f"config key {key!r} is unknown.{hint}{known}"
    given = error.get("input")
    return f"config key {key!r}: {error.get('msg', 'invalid value')} (got {given!r})"


def validate_config(data: Mapping[str, Any]) -> RunConfig:
    """Validate plain data against the schema; errors name every offending dotted key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a run configuration must be a mapping of sections, not {type(data).__name__}")
    try:
        return RunConfig.model_validate(dict(data))
    except ValidationError as error:
        # union members repeat one problem several times; keep one message per key
        messages: dict[str, str] = {}
        for item in error.errors():
            # union members appear in the location as type names ("list[int]"); a key of the user's stays
            given = tuple(item.get("loc", ()))
            location = tuple(p for p in given[1:] if not (isinstance(p, str) and "[" in p))
            location = given[:1] + location if given else location
            messages.setdefault(".".join(map(str, location)), _describe({**item, "loc": location}))
        raise ConfigError("invalid run configuration:\n  " + "\n  ".join(messages.values())) from None


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML run configuration into plain data (not yet validated)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror or error}") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not a {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"trainer.max_epochs=3"`` -> (["trainer", "max_epochs"], 3); values are parsed as YAML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r} is not of the form key=value (e.g. --set trainer.max_epochs=3)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return [part for part in key.strip().split(".") if part], value


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[tuple[list[str], Any]]) -> dict[str, Any]:
    """A deep copy of ``data`` with each (dotted key path, value) set; sections are created as needed."""
    result = copy.deepcopy(dict(data))
    for path, value in overrides:
        node = result
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set {'.'.join(path)!r}: {part!r} is a {type(child).__name__}, not a section")
            node = child
        node[path[-1]] = value
    return result


def save_config(config: RunConfig | Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the configuration as YAML (re-runnable with ``geofm run --config``)."""
    data = config.to_dict() if isinstance(config, RunConfig) else dict(config)
    Path(path).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
