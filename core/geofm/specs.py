"""Frozen descriptions of the components plugins contribute.

A spec is pure metadata: it never imports torch. Its ``factory`` names the callable that builds the
component lazily, as a ``"package.module:attr"`` string resolved on first build (:func:`resolve_factory`).

Factory contracts (what ``factory`` must accept and return; :mod:`geofm.contracts` states what it returns
as ``typing.Protocol`` classes, checked when each component is built):

- **Backbone** ``factory(*, checkpoint: Path | None, bands: tuple[str, ...] | None,
  num_frames: int | None, img_size: int | None, **options) -> nn.Module``. ``checkpoint`` is a local
  file already resolved by :mod:`geofm.weights` (``None`` = random initialisation); ``bands`` are the
  canonical band names of the input channels in order (``None`` = the pretraining bands). The module has
  ``forward_features(x, **meta) -> list[Tensor]`` (one tensor per block or stage, see
  :class:`BackboneSpec`) and the attributes ``out_channels: list[int]`` and ``out_reductions: list[int]``
  (one per feature), ``output_kind`` (``"tokens"`` or ``"maps"``), ``num_prefix_tokens`` (cls tokens in
  each token feature), ``patch_size: int`` and ``tubelet_size: int`` (temporal patch, 1 for images).
  ``forward_features`` accepts (B,C,H,W) and, where ``max_frames != 1``, (B,C,T,H,W); ``meta`` holds
  the batch metadata (``timestamps``, ``center_latlon``, ``gsd``, ``band_names``), any of which may be absent.
- **Neck** ``factory(*, in_channels: list[int], in_reductions: list[int], **options) -> nn.Module``
  with ``forward(features: list[Tensor], context: FeatureContext) -> list[Tensor]`` and the attributes
  ``out_channels`` / ``out_reductions`` (lists, one per output).
- **Decoder** ``factory(*, in_channels: list[int], in_reductions: list[int], **options) -> nn.Module``
  with ``forward(features: list[Tensor]) -> Tensor`` (B, out_channels, h, w) or (B, out_channels) and the
  attributes ``out_channels: int`` and ``out_reduction: int`` (input pixels per output pixel; 0 for a
  vector output). A detection decoder (``tasks`` lists ``"detection"`` or ``"instance_segmentation"``) also
  receives ``num_classes`` and returns losses or objects instead (:class:`geofm.contracts.DetectorModule`).
- **Dataset** ``factory(*, data_root: Path | None, bands: tuple[str, ...] | None, batch_size: int,
  num_workers: int, seed: int, mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
  **options) -> LightningDataModule``; ``crop_size`` is passed only when the user sets it, and only to a
  factory that declares it. The data module has ``spec: DatasetSpec``, ``band_names``
  (canonical names of the delivered channels), ``num_classes``, ``class_names``, ``ignore_index``,
  ``num_frames``, ``mean`` and ``std`` (saved in ``config.yaml`` for predict);
  batches are dicts ``{"image", "mask" | "target" | "boxes"/"labels", "meta"}`` as docs/plugins.md
  describes.
- **Task** ``factory(*, model: nn.Module, num_classes: int, class_names: tuple[str, ...],
  ignore_index: int | None, **options) -> LightningModule`` keeping the model as ``self.model`` and
  declaring ``monitor`` / ``monitor_mode``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from geofm.errors import ComponentLoadError, SpecError
from geofm.vocabulary import DENSE_TASKS, FeatureKind, TaskType

__all__ = [
    "OPTIMISATION_OPTIONS",
    "BackboneSpec",
    "ComponentSpec",
    "DatasetSpec",
    "DecoderSpec",
    "NeckSpec",
    "TaskSpec",
    "WeightsSpec",
    "resolve_factory",
]

BatchMetadata = Literal["time", "location", "wavelengths", "gsd"]

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
"""Component names: lower-case snake case starting with a letter (``prithvi_eo_v2_300``)."""
REFERENCE_PATTERN = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
"""A lazy reference to a callable: ``"package.module:attr"`` (``attr`` may be dotted, ``Class.method``)."""


OPTIMISATION_OPTIONS: Mapping[str, str] = {
    "lr": "learning rate",
    "weight_decay": "weight decay (decoupled for adamw, an L2 term for adam and sgd)",
    "optimizer": "adamw (default), adam or sgd",
    "momentum": "SGD momentum (default 0.9)",
    "freeze_backbone": "train only necks, decoder and head",
    "freeze_decoder": "keep the decoder's weights fixed",
    "scheduler": "plateau (ReduceLROnPlateau, default), cosine or none",
    "scheduler_patience": "epochs without improvement before plateau lowers the learning rate (default 5)",
    "scheduler_factor": "what plateau multiplies the learning rate by (default 0.1)",
}
"""The optimisation options every task takes through :class:`geofm.tasks.base.BaseTask`, documented once
for the ``options`` of task specs."""


def resolve_factory(reference: str) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` and return the attribute (a class or function)."""
    if not REFERENCE_PATTERN.fullmatch(reference):
        raise ValueError(f"factory {reference!r} is not of the form 'package.module:attr'")
    module_name, _, attr = reference.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        target = getattr(target, part)
    return target


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class WeightsSpec:
    """One set of pretrained weights of a backbone, addressed by its tag (e.g. ``"default"``).

    ``hf_repo`` + ``hf_file`` name the file on the Hugging Face hub, at ``revision`` (a commit, tag or
    branch; ``None`` is the repo's default branch); ``url`` is an alternative plain download; ``sha256``
    verifies the file on download and import when given (``None``: no published digest is known, which
    ``geofm weights list`` says). Bands belong to the weights: ``bands`` are the
    canonical band names in pretraining order with their per-band ``mean`` and ``std`` (in the units the
    model was pretrained on, e.g. reflectance x 10000).
    """

    tag: str
    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hf_repo: str | None = None
    hf_file: str | None = None
    url: str | None = None
    sha256: str | None = None
    revision: str | None = None
    license: str = ""
    citation: str = ""
    layout: str = ""

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.mean) == len(self.std)):
            raise SpecError(
                f"weights {self.tag!r}: {len(self.bands)} bands but {len(self.mean)} means and {len(self.std)} stds"
            )

    @property
    def source(self) -> str:
        """A human-readable address of the file: ``hf://repo/file``, the URL, or ``""``."""
        if self.hf_repo and self.hf_file:
            return f"hf://{self.hf_repo}/{self.hf_file}"
        return self.url or ""


@functools.cache
def _field_types(spec_class: type) -> dict[str, Any]:
    return typing.get_type_hints(spec_class)


def _check_value(owner: str, name: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against a Literal (or a tuple of Literals) annotation; lists become tuples."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        if value not in arguments:
            allowed = ", ".join(repr(a) for a in arguments)
            raise SpecError(f"{owner}: {name} {value!r} is not one of {allowed}")
        return value
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise SpecError(f"{owner}: {name} must be a tuple, not {type(value).__name__} {value!r}")
        value = tuple(value)
        if arguments and typing.get_origin(arguments[0]) is Literal:
            for item in value:
                _check_value(owner, f"{name} entry", item, arguments[0])
        return value
    return value


@dataclass(frozen=True)
class ComponentSpec:
    """What every component spec has: a unique name per kind, a one-line summary and a lazy factory.

    Every field is checked when the spec is constructed (inside the plugin's hook, so a mistake is that
    plugin's load error): the name is lower-case snake case, ``factory`` is ``"package.module:attr"``,
    choice fields hold one of their allowed values, and sequence fields are tuples (lists are accepted and
    stored as tuples). ``distribution``, ``version`` and ``plugin`` (the entry-point name) are filled in by
    the registry; plugins leave them empty. ``options`` documents the factory's keyword options
    (name -> description).
    """

    name: str
    summary: str
    factory: str
    options: Mapping[str, str] = field(default_factory=dict)
    distribution: str = ""
    version: str = ""
    plugin: str = ""

    kind: str = field(default="", init=False, repr=False)

    @property
    def label(self) -> str:
        """``"backbone acme_cnn"``: the kind and name, as messages name a component."""
        return f"{self.kind[:-1] or 'component'} {self.name}"

    @property
    def provenance(self) -> str:
        """Which plugin gave this spec: ``"plugin acme (distribution geofm-acme 0.1.0)"``, or ``""``."""
        if not self.distribution:
            return ""
        plugin = f"plugin {self.plugin} " if self.plugin else ""
        return f"{plugin}(distribution {self.distribution} {self.version})".strip()

    def __post_init__(self) -> None:
        owner = f"{self.kind[:-1] or 'component'} {self.name!r}"
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise SpecError(f"{owner}: component name {self.name!r} must be lower-case snake case (e.g. 'my_unet')")
        self._check_reference("factory", self.factory)
        for spec_field in dataclasses.fields(self):
            if not spec_field.init:
                continue
            value = getattr(self, spec_field.name)
            checked = _check_value(owner, spec_field.name, value, _field_types(type(self))[spec_field.name])
            if checked is not value:
                object.__setattr__(self, spec_field.name, checked)

    def _check_reference(self, field_name: str, reference: str | None) -> None:
        if reference is None:
            return
        if not isinstance(reference, str) or not REFERENCE_PATTERN.fullmatch(reference):
            raise SpecError(
                f"{self.kind[:-1] or 'component'} {self.name!r}: {field_name} {reference!r} must be "
                "'package.module:attr' (a module path, a colon, then the callable)"
            )

    def load_reference(self, reference: str, what: str = "factory") -> Callable[..., Any]:
        """Import ``reference`` (``"module:attr"``) of this spec; a failure names the spec and its plugin."""
        try:
            return resolve_factory(reference)
        except Exception as error:
            where = f" from {self.provenance}" if self.provenance else ""
            first = str(error).splitlines()[0] if str(error) else ""
            raise ComponentLoadError(
                f"{self.label}{where}: its {what} {reference!r} cannot be imported ({type(error).__name__}: "
                f"{first}). Reinstall or fix {self.distribution or 'the plugin'}, or block it with "
                f"GEOFM_BLOCK_PLUGINS={self.plugin or self.distribution or '<name>'}. See: geofm plugins"
            ) from error

    def load_factory(self) -> Callable[..., Any]:
        """Import and return the factory (this is where heavy imports happen)."""
        return self.load_reference(self.factory)

    def to_dict(self) -> dict[str, Any]:
        """All metadata as JSON-compatible values (what ``geofm <kind> show NAME --json`` prints)."""
        data = _jsonable(self)
        data["kind"] = self.kind
        return data


@dataclass(frozen=True)
class BackboneSpec(ComponentSpec):
    """A feature extractor.

    ``output_kind`` is ``"tokens"`` for transformers (features (B, prefix + T'H'W', D)) or ``"maps"`` for
    CNNs (features (B, C, H/r, W/r)). ``feature_channels`` and ``feature_reductions`` have one entry per
    tensor that ``forward_features`` returns (every block or stage); ``default_levels`` are the indices a
    dense decoder takes by default. ``accepts`` lists the batch metadata the backbone uses (``"time"``,
    ``"location"``, ``"wavelengths"``, ``"gsd"``). ``max_frames`` is 1 for single-image backbones and 0
    for any number. ``weights`` maps tags to :class:`WeightsSpec`; ``default_weights`` names the one used
    by ``weights="auto"``. ``input_bands`` = ``"fixed"`` (the pretraining bands; others by band
    adaptation) or ``"any"`` (wavelength-conditioned, e.g. Clay). ``statistics`` optionally names (as
    ``"module:attr"``) ``fn(bands, options) -> (mean, std) | None``: the normalisation of a run's bands
    when it depends on the backbone's options (e.g. which modality a band feeds); without it the default
    weights' per-band mean and std are used.

    A backbone without downloadable weights (an in-house model trained from scratch, or one whose
    checkpoint users bring with ``--weights PATH``) declares the bands it expects and their normalisation
    with ``default_bands``, ``default_mean`` and ``default_std`` instead of a :class:`WeightsSpec`.

    For a CNN: ``output_kind="maps"``, ``embed_dim`` is the channels of the last stage, ``depth`` the
    number of stages, ``patch_size`` the reduction of the first feature (the smallest stride an input
    side must be a multiple of), ``num_prefix_tokens`` 0, and ``img_size`` the input side it was
    designed for (any multiple of the largest reduction works).
    """

    output_kind: FeatureKind = "tokens"
    embed_dim: int = 0
    depth: int = 0
    feature_channels: tuple[int, ...] = ()
    feature_reductions: tuple[int, ...] = ()
    default_levels: tuple[int, ...] = ()
    num_prefix_tokens: int = 0
    patch_size: int = 1
    img_size: int = 224
    num_frames: int = 1
    max_frames: int = 1
    accepts: tuple[BatchMetadata, ...] = ()
    input_bands: Literal["fixed", "any"] = "fixed"
    weights: Mapping[str, WeightsSpec] = field(default_factory=dict)
    default_weights: str | None = None
    statistics: str | None = None
    default_bands: tuple[str, ...] = ()
    default_mean: tuple[float, ...] = ()
    default_std: tuple[float, ...] = ()
    license: str = ""
    citation: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    kind: str = field(default="backbones", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_reference("statistics", self.statistics)
        declared = (len(self.default_bands), len(self.default_mean), len(self.default_std))
        if (self.default_mean or self.default_std) and len(set(declared)) != 1:
            raise SpecError(
                f"backbone {self.name!r}: {declared[0]} default_bands but {declared[1]} default_mean and "
                f"{declared[2]} default_std values; give one mean and one std per band"
            )
        if any(not isinstance(r, int) or r <= 0 for r in self.feature_reductions):
            raise SpecError(f"backbone {self.name!r}: feature_reductions must be positive integers")
        if len(self.feature_channels) != len(self.feature_reductions):
            raise SpecError(f"backbone {self.name!r}: feature_channels and feature_reductions differ in length")
        for level in self.default_levels:
            if not -len(self.feature_channels) <= level < len(self.feature_channels):
                raise SpecError(f"backbone {self.name!r}: default level {level} is out of range")
        if self.default_weights is not None and self.default_weights not in self.weights:
            raise SpecError(f"backbone {self.name!r}: default_weights {self.default_weights!r} is not a weights tag")

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands the backbone expects: its default weights' pretraining bands, else ``default_bands``."""
        default = self.weights.get(self.default_weights or "")
        return default.bands if default else self.default_bands


@dataclass(frozen=True)
class NeckSpec(ComponentSpec):
    """A feature transformation between backbone and decoder, described so composition can plan it.

    ``consumes`` / ``produces`` are feature kinds (``"tokens"``, ``"maps"``, ``"vector"``; ``consumes``
    may be ``"any"``, ``produces`` ``"same"``). ``out_levels`` is the number of features produced
    (``None`` = as many as in). What the neck does to the features, for planning:

    - ``selects_levels``: it keeps the features its ``levels`` option names (default: the backbone's
      default levels);
    - ``makes_pyramid``: it turns 1 or ``len(pyramid_scales)`` maps of one stride into a pyramid, level
      ``i`` resized by ``pyramid_scales[i]`` (a ``scales`` option, where the neck takes one, overrides it);
    - ``folds_time``: it receives ``num_frames`` (the backbone's temporal token grid size) from composition;
    - ``keeps_reductions``: its outputs have the reductions of its inputs (``None``: when it produces the
      kind it consumes).

    ``auto_rank`` makes the neck one composition may insert by itself (to select levels, convert one
    feature kind into another, or make a pyramid): of the necks that can do a job, the one with the
    highest rank is chosen. ``None`` (the default): only inserted when the user names it.
    """

    consumes: Literal["tokens", "maps", "vector", "any"] = "any"
    produces: Literal["tokens", "maps", "vector", "same"] = "same"
    out_levels: int | None = None
    selects_levels: bool = False
    makes_pyramid: bool = False
    pyramid_scales: tuple[float, ...] = (4.0, 2.0, 1.0, 0.5)
    folds_time: bool = False
    keeps_reductions: bool | None = None
    auto_rank: int | None = None

    kind: str = field(default="necks", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.selects_levels and self.produces != "same":
            raise SpecError(f"neck {self.name!r}: a neck that selects levels produces the same kind ('same')")
        if self.makes_pyramid and (self.consumes, self.produces) != ("maps", "maps"):
            raise SpecError(f"neck {self.name!r}: a neck that makes a pyramid consumes and produces maps")
        if self.makes_pyramid and (not self.pyramid_scales or any(s <= 0 for s in self.pyramid_scales)):
            raise SpecError(f"neck {self.name!r}: pyramid_scales must be positive numbers")


@dataclass(frozen=True)
class DecoderSpec(ComponentSpec):
    """A decoder: turns features into one map (dense tasks) or one vector (classification).

    ``consumes``: the feature kind it needs. ``num_levels``: how many features it takes (``1`` = the last
    one; ``4`` = a pyramid). ``needs_pyramid``: the levels must have increasing reductions (e.g. 4, 8,
    16, 32) rather than one shared stride. ``tasks``: the task types it suits.
    """

    consumes: Literal["maps", "vector", "tokens", "any"] = "maps"
    num_levels: int = 1
    needs_pyramid: bool = False
    tasks: tuple[TaskType, ...] = DENSE_TASKS

    kind: str = field(default="decoders", init=False, repr=False)


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A dataset: its task, bands in file order, classes, splits and where to get it.

    ``bands`` are the band names as the publisher delivers them in file order (mapped to canonical
    names through :mod:`geofm.bands`, with ``sensor`` as context). ``ignore_index`` marks pixels
    excluded from loss and metrics. ``gsd`` is metres per pixel. ``homepage`` / ``download`` say where the
    data comes from; ``layout`` describes the expected folder layout under ``--data-root``. ``hub_repo``
    names a Hugging Face dataset repository that ``geofm data download`` can fetch (``hub_patterns``
    restricting which files), where the publisher offers one. ``example_layout`` optionally names (as
    ``"module:attr"``) ``fn(root: Path) -> None`` writing a tiny copy of the layout under ``root``, so
    ``geofm plugins check`` can build the data module without the real data.
    """

    task: TaskType = "segmentation"
    bands: tuple[str, ...] = ()
    sensor: str | None = None
    classes: tuple[str, ...] = ()
    ignore_index: int | None = None
    splits: tuple[str, ...] = ("train", "val", "test")
    gsd: float | None = None
    num_frames: int = 1
    layout: str = ""
    homepage: str = ""
    download: str = ""
    license: str = ""
    citation: str = ""
    generic: bool = False
    hub_repo: str = ""
    hub_patterns: tuple[str, ...] = ()
    example_layout: str | None = None

    kind: str = field(default="datasets", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_reference("example_layout", self.example_layout)
        if self.ignore_index is not None and not isinstance(self.ignore_index, int):
            raise SpecError(f"dataset {self.name!r}: ignore_index must be an integer or None")


@dataclass(frozen=True)
class TaskSpec(ComponentSpec):
    """A training task (a Lightning module) for one task type: its head, losses and metrics."""

    task_type: TaskType = "segmentation"
    head: str = "segmentation"
    losses: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    monitor: str = ""
    monitor_mode: Literal["min", "max"] = "max"

    kind: str = field(default="tasks", init=False, repr=False)
