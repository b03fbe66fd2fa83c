"""Frozen descriptions of the components plugins contribute.

A spec is pure metadata: it never imports torch. Its ``factory`` names the callable that builds the
component lazily, as a ``"package.module:attr"`` string resolved on first build (:func:`resolve_factory`).

Factory contracts (what ``factory`` must accept and return):

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
  vector output).
- **Dataset** ``factory(*, data_root: Path | None, bands: tuple[str, ...] | None, batch_size: int,
  num_workers: int, seed: int, mean: tuple[float, ...] | None, std: tuple[float, ...] | None,
  **options) -> LightningDataModule``. The data module has ``spec: DatasetSpec``, ``band_names``
  (canonical names of the delivered channels), ``num_classes``, ``class_names``, ``ignore_index``;
  batches are dicts ``{"image", "mask" | "target", "meta"}`` as ARCHITECTURE.md describes.
- **Task** ``factory(*, model: nn.Module, num_classes: int, class_names: tuple[str, ...],
  ignore_index: int | None, **options) -> LightningModule``.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "BackboneSpec",
    "ComponentSpec",
    "DatasetSpec",
    "DecoderSpec",
    "NeckSpec",
    "TaskSpec",
    "WeightsSpec",
    "resolve_factory",
]

FeatureKind = Literal["tokens", "maps", "vector"]
TaskType = Literal["segmentation", "regression", "classification", "multilabel_classification"]


def resolve_factory(reference: str) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` and return the attribute (a class or function)."""
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"factory {reference!r} is not of the form 'package.module:attr'")
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
            raise ValueError(
                f"weights {self.tag!r}: {len(self.bands)} bands but {len(self.mean)} means and {len(self.std)} stds"
            )

    @property
    def source(self) -> str:
        """A human-readable address of the file: ``hf://repo/file``, the URL, or ``""``."""
        if self.hf_repo and self.hf_file:
            return f"hf://{self.hf_repo}/{self.hf_file}"
        return self.url or ""


@dataclass(frozen=True)
class ComponentSpec:
    """What every component spec has: a unique name per kind, a one-line summary and a lazy factory.

    ``distribution`` and ``version`` are filled in by the registry (which plugin gave it); plugins
    leave them empty. ``options`` documents the factory's keyword options (name -> description).
    """

    name: str
    summary: str
    factory: str
    options: Mapping[str, str] = field(default_factory=dict)
    distribution: str = ""
    version: str = ""

    kind: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower() or " " in self.name:
            raise ValueError(f"component name {self.name!r} must be lower-case snake case")
        if ":" not in self.factory:
            raise ValueError(f"{self.name}: factory {self.factory!r} must be 'package.module:attr'")

    def load_factory(self) -> Callable[..., Any]:
        """Import and return the factory (this is where heavy imports happen)."""
        return resolve_factory(self.factory)

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
    accepts: tuple[str, ...] = ()
    input_bands: Literal["fixed", "any"] = "fixed"
    weights: Mapping[str, WeightsSpec] = field(default_factory=dict)
    default_weights: str | None = None
    statistics: str | None = None
    license: str = ""
    citation: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    kind: str = field(default="backbones", init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.feature_channels) != len(self.feature_reductions):
            raise ValueError(f"{self.name}: feature_channels and feature_reductions differ in length")
        for level in self.default_levels:
            if not -len(self.feature_channels) <= level < len(self.feature_channels):
                raise ValueError(f"{self.name}: default level {level} is out of range")
        if self.default_weights is not None and self.default_weights not in self.weights:
            raise ValueError(f"{self.name}: default_weights {self.default_weights!r} is not a weights tag")
        if self.statistics is not None and ":" not in self.statistics:
            raise ValueError(f"{self.name}: statistics {self.statistics!r} must be 'package.module:attr'")

    @property
    def bands(self) -> tuple[str, ...]:
        """The pretraining bands of the default weights (empty when there are none)."""
        default = self.weights.get(self.default_weights or "")
        return default.bands if default else ()


@dataclass(frozen=True)
class NeckSpec(ComponentSpec):
    """A feature transformation between backbone and decoder.

    ``consumes`` / ``produces`` are feature kinds (``"tokens"``, ``"maps"``, ``"vector"``; ``consumes``
    may be ``"any"``). ``out_levels`` is the number of features produced (``None`` = as many as in).
    """

    consumes: Literal["tokens", "maps", "vector", "any"] = "any"
    produces: Literal["tokens", "maps", "vector", "same"] = "same"
    out_levels: int | None = None

    kind: str = field(default="necks", init=False, repr=False)


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
    tasks: tuple[str, ...] = ("segmentation", "regression")

    kind: str = field(default="decoders", init=False, repr=False)


@dataclass(frozen=True)
class DatasetSpec(ComponentSpec):
    """A dataset: its task, bands in file order, classes, splits and where to get it.

    ``bands`` are the band names as the publisher delivers them in file order (mapped to canonical
    names through :mod:`geofm.bands`, with ``sensor`` as context). ``ignore_index`` marks pixels
    excluded from loss and metrics. ``gsd`` is metres per pixel. ``homepage`` / ``download`` say where the
    data comes from; ``layout`` describes the expected folder layout under ``--data-root``. ``hub_repo``
    names a Hugging Face dataset repository that ``geofm data download`` can fetch (``hub_patterns``
    restricting which files), where the publisher offers one.
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

    kind: str = field(default="datasets", init=False, repr=False)


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
