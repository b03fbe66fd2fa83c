"""The contract of each component a plugin builds, as ``typing.Protocol`` classes, and its checks.

A factory named by a spec (see :mod:`geofm.specs`) returns an object that core reads; each protocol lists
every attribute and method core reads from it. :func:`check_built` runs right after a factory returns and
raises a :class:`~geofm.errors.ContractError` naming the plugin, the component and what is missing, so a
mistake surfaces at build time instead of as an ``AttributeError`` deep inside a run.
:func:`check_features` compares what a backbone's ``forward_features`` returned with what it declares;
the composed model calls it on its first forward.

This module imports no torch: the protocols only describe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from geofm.errors import ContractError

if TYPE_CHECKING:
    from geofm.specs import ComponentSpec

__all__ = [
    "CONTRACTS",
    "BackboneModule",
    "DataModule",
    "DecoderModule",
    "DetectorModule",
    "NeckModule",
    "TaskModule",
    "check_built",
    "check_features",
    "contract_members",
]


@runtime_checkable
class BackboneModule(Protocol):
    """What a backbone factory returns (an ``nn.Module``).

    ``forward_features(x, **meta)`` takes (B, C, H, W), or (B, C, T, H, W) where the spec's
    ``max_frames != 1``, plus the batch metadata the spec ``accepts`` (``timestamps``, ``center_latlon``,
    ``gsd``, ``band_names``; any may be absent), and returns one tensor per block or stage: maps
    (B, out_channels[i], H / out_reductions[i], W / out_reductions[i]) or tokens
    (B, num_prefix_tokens + T' * H/r * W/r, out_channels[i]) with T' = T / tubelet_size.
    """

    out_channels: list[int]
    out_reductions: list[int]
    output_kind: str
    num_prefix_tokens: int
    patch_size: int
    tubelet_size: int

    def forward_features(self, x: Any, **meta: Any) -> list[Any]:
        """One feature tensor per block or stage."""
        ...


@runtime_checkable
class NeckModule(Protocol):
    """What a neck factory returns: ``forward(features, context)`` maps a feature list to a feature list.

    ``context`` is a :class:`geofm.features.FeatureContext` (input size, token grid, prefix tokens).
    ``out_channels`` / ``out_reductions`` describe the returned list, one entry per feature.
    """

    out_channels: list[int]
    out_reductions: list[int]

    def forward(self, features: list[Any], context: Any) -> list[Any]:
        """The transformed features."""
        ...


@runtime_checkable
class DecoderModule(Protocol):
    """What a decoder factory returns: ``forward(features)`` gives one map or one vector.

    The output is (B, out_channels, H / out_reduction, W / out_reduction), or (B, out_channels) when
    ``out_reduction`` is 0 (a vector for classification).
    """

    out_channels: int
    out_reduction: int

    def forward(self, features: list[Any]) -> Any:
        """(B, out_channels, h, w) or (B, out_channels)."""
        ...


@runtime_checkable
class DetectorModule(Protocol):
    """What a detection decoder's factory returns (decoders whose spec lists a detection task type).

    The factory also receives ``num_classes`` (the dataset's classes, without background).
    ``forward(features, images, image_sizes, targets)`` gets the neck's features, the padded input
    images (B, C, H, W), each image's size before padding, and in training the targets (one dict per image:
    ``boxes`` (N, 4) x1, y1, x2, y2 in pixels, ``labels`` (N,) class indices 0..num_classes-1, ``masks``
    (N, H, W) for instance segmentation); it returns the losses by name (training) or one dict per image
    with ``boxes``, ``labels``, ``scores`` (and ``masks`` (N, 1, h, w) at the image's own size) in the same
    coordinates and class indices (eval). Boxes and masks stay within each image's ``image_sizes`` entry.
    """

    num_classes: int

    def forward(self, features: list[Any], images: Any, image_sizes: list[tuple[int, int]], targets: Any) -> Any:
        """Losses (training) or detections (eval)."""
        ...


@runtime_checkable
class DataModule(Protocol):
    """What a dataset factory returns (a ``LightningDataModule``).

    ``spec`` is its :class:`~geofm.specs.DatasetSpec`; ``band_names`` the canonical names of the delivered
    channels in order; ``num_classes`` / ``class_names`` / ``ignore_index`` the label set; ``num_frames`` the
    time steps per sample (1 for single images); ``mean`` / ``std`` the per-band normalisation it applies
    (given, or computed from the training split in ``setup``), saved in the run's ``config.yaml`` so predict
    normalises scenes the same way. A regression data module also has ``num_outputs`` (target channels).
    Batches are dicts ``{"image", "mask" | "target", "meta"}`` (see docs/plugins.md).
    """

    spec: Any
    band_names: Sequence[str]
    num_classes: int
    class_names: Sequence[str]
    ignore_index: int | None
    num_frames: int
    mean: Sequence[float] | None
    std: Sequence[float] | None

    def setup(self, stage: str | None = None) -> None:
        """Prepare the splits of ``stage`` (``"fit"``, ``"validate"``, ``"test"``)."""
        ...

    def train_dataloader(self) -> Any:
        """Batches of the training split."""
        ...

    def val_dataloader(self) -> Any:
        """Batches of the validation split."""
        ...


@runtime_checkable
class TaskModule(Protocol):
    """What a task factory returns (a ``LightningModule``) around the composed model.

    The model must stay reachable as ``model``: checkpoints store its weights under ``model.`` and predict
    rebuilds it from there. ``monitor`` names the logged validation metric that picks the best checkpoint
    and drives early stopping, ``monitor_mode`` is ``"min"`` or ``"max"``.
    """

    model: Any
    monitor: str
    monitor_mode: str

    def training_step(self, batch: Any, batch_index: int) -> Any:
        """The loss of one batch."""
        ...

    def configure_optimizers(self) -> Any:
        """Optimiser (and scheduler) of the run."""
        ...


CONTRACTS: dict[str, type] = {
    "backbones": BackboneModule,
    "necks": NeckModule,
    "decoders": DecoderModule,
    "datasets": DataModule,
    "tasks": TaskModule,
}
"""Component kind -> the protocol its factory's result follows."""


def contract_members(protocol: type) -> list[str]:
    """The attribute and method names ``protocol`` requires, in declaration order."""
    names = list(getattr(protocol, "__annotations__", {}))
    names += [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]
    return names


def _who(spec: ComponentSpec) -> str:
    where = f" from {spec.provenance}" if spec.provenance else ""
    return f"{spec.label}{where}"


def check_built(kind: str, built: Any, spec: ComponentSpec, *, contract: type | None = None) -> None:
    """Raise a ContractError unless ``built`` (what ``spec``'s factory returned) follows its kind's contract.

    ``contract`` overrides the protocol of ``kind`` (a detection decoder follows :class:`DetectorModule`).

    Besides every member of the protocol, it checks what the spec declares against the object: a
    backbone's ``output_kind``, one reduction per channel entry, a task's ``monitor_mode``. (Feature counts
    may differ from the spec when options such as ``depth`` change them; ``geofm plugins check`` compares
    them at the spec's defaults.)
    """
    protocol = contract or CONTRACTS[kind]
    missing = [name for name in contract_members(protocol) if not hasattr(built, name)]
    if missing:
        raise ContractError(
            f"{_who(spec)}: its factory returned a {type(built).__name__} without "
            f"{', '.join(repr(m) for m in missing)}, which core reads (the contract is "
            f"geofm.contracts.{protocol.__name__}; see docs/plugins.md)"
        )
    if kind == "backbones":
        _check_backbone(built, spec)
    elif kind == "necks":
        _check_lists(spec, built.out_channels, built.out_reductions)
    elif kind == "tasks" and built.monitor_mode not in ("min", "max"):
        raise ContractError(f"{_who(spec)}: monitor_mode is {built.monitor_mode!r}; it must be 'min' or 'max'")


def _check_lists(spec: ComponentSpec, channels: Sequence[int], reductions: Sequence[int]) -> None:
    if len(list(channels)) != len(list(reductions)):
        raise ContractError(
            f"{_who(spec)}: out_channels has {len(list(channels))} entries but out_reductions "
            f"{len(list(reductions))}; give one of each per feature"
        )


def _check_backbone(module: Any, spec: Any) -> None:
    if module.output_kind != spec.output_kind:
        raise ContractError(
            f"{_who(spec)}: the module's output_kind is {module.output_kind!r} but the spec declares "
            f"{spec.output_kind!r}"
        )
    _check_lists(spec, module.out_channels, module.out_reductions)


def _grid_sizes(size: int, reduction: int) -> set[int]:
    return {size // reduction, math.ceil(size / reduction)}


def check_features(
    features: Sequence[Any],
    module: Any,
    input_size: tuple[int, int],
    *,
    frames: int = 1,
    name: str = "the backbone",
) -> None:
    """Raise a ContractError unless ``features`` (from ``module.forward_features``) are what it declares.

    For each feature: the channels ``module.out_channels[i]``, and the spatial size of its reduction
    ``module.out_reductions[i]`` of ``input_size`` (maps), or the token count
    ``num_prefix_tokens + frames / tubelet_size * h * w`` (tokens). ``name`` names the backbone in the message.
    """
    channels, reductions = list(module.out_channels), list(module.out_reductions)
    if not isinstance(features, list | tuple):
        raise ContractError(f"{name}: forward_features returned a {type(features).__name__}, not a list of tensors")
    if len(features) != len(channels):
        raise ContractError(
            f"{name}: forward_features returned {len(features)} features but the module declares "
            f"{len(channels)} (out_channels)"
        )
    height, width = input_size
    for index, (feature, channel, reduction) in enumerate(zip(features, channels, reductions, strict=True)):
        shape = tuple(int(s) for s in feature.shape)
        if module.output_kind == "tokens":
            if len(shape) != 3 or shape[-1] != channel:
                raise ContractError(
                    f"{name}: feature {index} has shape {shape}; tokens of {channel} channels (B, N, {channel}) "
                    "were declared"
                )
            steps = max(1, frames // int(getattr(module, "tubelet_size", 1) or 1))
            prefix = int(module.num_prefix_tokens)
            counts = {
                prefix + steps * h * w for h in _grid_sizes(height, reduction) for w in _grid_sizes(width, reduction)
            }
            if shape[1] not in counts:
                raise ContractError(
                    f"{name}: feature {index} has {shape[1]} tokens; reduction {reduction} of a "
                    f"{height}x{width} input with {prefix} prefix token(s) and {steps} time step(s) gives "
                    f"{min(counts)}. Is out_reductions[{index}] (or num_prefix_tokens) right?"
                )
            continue
        if len(shape) != 4 or shape[1] != channel:
            got = shape[1] if len(shape) == 4 else f"shape {shape}"
            raise ContractError(f"{name}: feature {index} has {got} channels, the module declares {channel}")
        if shape[2] not in _grid_sizes(height, reduction) or shape[3] not in _grid_sizes(width, reduction):
            raise ContractError(
                f"{name}: feature {index} is {shape[2]}x{shape[3]} for a {height}x{width} input, not the "
                f"declared reduction {reduction} ({height // reduction}x{width // reduction}). "
                f"Is out_reductions[{index}] right?"
            )
