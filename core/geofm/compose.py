"""Composition: backbone -> necks -> decoder -> head into one ``nn.Module``.

Compatibility is checked from the specs (:func:`plan_composition`) before any weight is built; the
necks a pairing needs are inserted automatically when none are given, and recorded in
``model.neck_plan``. Importing this module does not import torch (the builders do, when called).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from geofm._neck_planning import NeckCatalogue, plan_composition
from geofm.contracts import DetectorModule, check_built
from geofm.errors import ConfigError, IncompatibleComponentsError
from geofm.lazy import lazy_exports
from geofm.registry import get_registry
from geofm.specs import BackboneSpec, DecoderSpec
from geofm.vocabulary import DENSE_TASKS, DETECTION_TASKS, HEAD_OF_TASK, TASK_TYPES

if TYPE_CHECKING:
    from torch import nn

    from geofm._compose_model import ComposedModel

__all__ = ["ComposedModel", "build_backbone", "build_model", "plan_composition", "task_type_and_head"]


__getattr__, __dir__ = lazy_exports(__name__, {"ComposedModel": "geofm._compose_model"})  # the class needs torch


def _call(factory: Callable[..., Any], what: str, documented: Mapping[str, str], **kwargs: Any) -> Any:
    """Call a factory; an unknown keyword option becomes a ConfigError listing the documented ones."""
    try:
        return factory(**kwargs)
    except TypeError as error:
        if "unexpected keyword argument" not in str(error):
            raise
        known = ", ".join(documented) or "none documented"
        raise ConfigError(f"{what}: {error}. Its options: {known}") from error


def build_backbone(
    name: str,
    *,
    weights: str | os.PathLike[str] | None = "auto",
    bands: Sequence[str] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    **options: Any,
) -> nn.Module:
    """Build backbone ``name`` with ``weights`` (``"auto"``, ``"none"``, a tag or a file path).

    ``bands`` (any names of the band vocabulary) are mapped to canonical names for the factory. The
    spec's ``extra`` metadata is passed as options under the user's ``options``. The module gets
    ``resolved_weights`` (a :class:`~geofm.weights.ResolvedWeights`) saying what was loaded.
    """
    from geofm.bands import canonical_bands
    from geofm.weights import resolve_weights

    spec: BackboneSpec = get_registry("backbones").get(name)
    canonical = canonical_bands(bands) if bands else None
    if num_frames is not None and spec.max_frames and num_frames > spec.max_frames:
        raise IncompatibleComponentsError(
            f"backbone {name} takes at most {spec.max_frames} frame(s), not num_frames={num_frames}; "
            "choose a backbone for time series (geofm backbones list)"
        )
    resolved = resolve_weights(spec, weights)
    module = _call(
        spec.load_factory(),
        f"backbone {name}",
        spec.options,
        checkpoint=resolved.path,
        bands=canonical,
        num_frames=num_frames,
        img_size=img_size,
        **{**dict(spec.extra), **options},
    )
    check_built("backbones", module, spec)
    module.resolved_weights = resolved
    return module


def task_type_and_head(task: str) -> tuple[str, str]:
    """``(task_type, head)`` of a registered task name, or of a task type given directly."""
    tasks = get_registry("tasks")
    if task in tasks:
        spec = tasks.get(task)
        return spec.task_type, spec.head
    if task in HEAD_OF_TASK:
        return task, HEAD_OF_TASK[task]
    raise ConfigError(
        f"unknown task {task!r}: neither a registered task ({', '.join(tasks.names()) or 'none'}) nor a task type "
        f"({', '.join(TASK_TYPES)}). List tasks with: geofm tasks list"
    )


def _neck_specs(plans: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    registry = get_registry("necks")
    return {n["name"]: registry.get(n["name"]) for plan in plans for n in plan}


def _build_necks(
    plan: Sequence[Mapping[str, Any]], channels: list[int], reductions: list[int], token_frames: int
) -> tuple[list[nn.Module], list[int], list[int]]:
    """Build the necks of ``plan`` in order, chaining channels and reductions."""
    registry = get_registry("necks")
    modules = []
    for neck in plan:
        options = {k: v for k, v in neck.items() if k != "name"}
        spec = registry.get(neck["name"])
        if spec.folds_time:
            options.setdefault("num_frames", token_frames)
        module = _call(
            spec.load_factory(),
            f"neck {spec.name}",
            spec.options,
            in_channels=list(channels),
            in_reductions=list(reductions),
            **options,
        )
        check_built("necks", module, spec)
        channels, reductions = list(module.out_channels), list(module.out_reductions)
        modules.append(module)
    return modules, channels, reductions


def _build_decoder(
    spec: DecoderSpec,
    channels: Sequence[int],
    reductions: Sequence[int],
    options: Mapping[str, Any] | None,
    **inputs: Any,
) -> nn.Module:
    """Decoder ``spec`` on features of ``channels`` and ``reductions``, with the user's ``options``."""
    return _call(
        spec.load_factory(),
        f"decoder {spec.name}",
        spec.options,
        in_channels=list(channels),
        in_reductions=list(reductions),
        **inputs,
        **dict(options or {}),
    )


def _build_head(kind: str, in_channels: int, out_reduction: int, num_classes: int, options: Mapping[str, Any]) -> Any:
    from geofm.builtin.heads import ClassificationHead, RegressionHead, SegmentationHead

    options = dict(options)
    if kind == "classification":
        if out_reduction != 0:
            options.setdefault("pool", "mean")
        return _call(
            ClassificationHead, "classification head", {}, in_features=in_channels, num_classes=num_classes, **options
        )
    if out_reduction == 0:
        raise IncompatibleComponentsError(
            f"the {kind} head needs maps but the decoder gives a vector; choose a dense decoder (geofm decoders list)"
        )
    if kind == "regression":
        options.setdefault("num_outputs", num_classes)
        return _call(RegressionHead, "regression head", {}, in_channels=in_channels, **options)
    if kind == "segmentation":
        return _call(
            SegmentationHead, "segmentation head", {}, in_channels=in_channels, num_classes=num_classes, **options
        )
    raise ConfigError(f"unknown head {kind!r}; heads are segmentation, regression and classification")


def _aux_plans(
    backbone_spec: BackboneSpec, aux_heads: Sequence[Mapping[str, Any]], task_type: str
) -> list[tuple[DecoderSpec, list[dict[str, Any]], float, dict[str, Any]]]:
    """Check every auxiliary head from the specs; return (decoder spec, necks, weight, decoder options)."""
    if not aux_heads:
        return []
    if task_type not in DENSE_TASKS:
        raise IncompatibleComponentsError(f"auxiliary heads are for dense tasks, not {task_type}; remove aux_heads")
    decoders = get_registry("decoders")
    catalogue = NeckCatalogue()
    selector = catalogue.needed(catalogue.level_selector(), "select levels")
    plans = []
    for index, aux in enumerate(aux_heads):
        options = dict(aux)
        try:
            decoder_name, level = options.pop("decoder"), options.pop("level")
        except KeyError as error:
            raise ConfigError(
                f"aux_heads[{index}] lacks {error}; give {{'decoder': NAME, 'level': INDEX, 'weight': 0.4}}"
            ) from None
        weight = float(options.pop("weight", 1.0))
        spec: DecoderSpec = decoders.get(decoder_name)
        necks: list[str | dict[str, Any]] = [{"name": selector.name, "levels": [level]}]
        if backbone_spec.output_kind == "tokens":
            necks.append(catalogue.needed(catalogue.converter("tokens", "maps"), "turn tokens into maps").name)
        try:
            plan = plan_composition(backbone_spec, spec, necks=necks, task_type=task_type)
        except IncompatibleComponentsError as error:
            raise IncompatibleComponentsError(f"aux_heads[{index}]: {error}") from error
        plans.append((spec, plan, weight, options))
    return plans


def _detection_model(
    backbone_module: nn.Module,
    neck_modules: list[nn.Module],
    decoder_spec: DecoderSpec,
    channels: list[int],
    reductions: list[int],
    plan: list[dict[str, Any]],
    task_type: str,
    num_classes: int,
    backbone: str,
    decoder_options: Mapping[str, Any] | None,
) -> ComposedModel:
    """The model of a detection task: backbone, necks and a detection decoder (its own FPN and heads)."""
    from geofm._compose_model import DetectionModel

    if task_type not in decoder_spec.tasks:
        raise IncompatibleComponentsError(
            f"decoder {decoder_spec.name} does not do {task_type} (it suits {', '.join(decoder_spec.tasks)}); "
            f"choose one of: {', '.join(d.name for d in get_registry('decoders') if task_type in d.tasks) or 'none'}"
        )
    detector = _build_decoder(decoder_spec, channels, reductions, decoder_options, num_classes=num_classes)
    check_built("decoders", detector, decoder_spec, contract=DetectorModule)
    return DetectionModel(
        backbone_module,
        neck_modules,
        detector,
        _identity(),
        neck_plan=plan,
        task_type=task_type,
        pad_multiple=max(int(r) for r in reductions) if reductions else None,
        backbone_name=backbone,
    )


def _identity() -> nn.Module:
    from torch import nn

    return nn.Identity()


def build_model(
    backbone: str,
    decoder: str,
    *,
    necks: Sequence[str | Mapping[str, Any]] | None = None,
    task: str = "segmentation",
    num_classes: int = 2,
    weights: str | os.PathLike[str] | None = "auto",
    bands: Sequence[str] | None = None,
    img_size: int | None = None,
    num_frames: int | None = None,
    backbone_options: Mapping[str, Any] | None = None,
    decoder_options: Mapping[str, Any] | None = None,
    head_options: Mapping[str, Any] | None = None,
    aux_heads: Sequence[Mapping[str, Any]] | None = None,
    levels: Sequence[int] | None = None,
) -> ComposedModel:
    """Compose ``backbone`` -> necks -> ``decoder`` -> head for ``task`` (a task name or task type).

    ``necks=None`` inserts the necks the pairing needs (``levels`` picks the backbone features);
    explicit necks (names or ``{"name": ..., **options}``) are checked first and refused with the neck
    to add. For regression ``num_classes`` is the number of output channels (``head_options``'
    ``num_outputs`` wins). ``aux_heads`` are
    ``{"decoder": NAME, "level": INDEX, "weight": W, **decoder_options}``: a decoder and a dense head on
    one backbone feature, returned by ``forward_with_aux`` as ``aux_0``, ``aux_1`` ...
    """
    from geofm._compose_model import AuxBranch, ComposedModel

    task_type, head_kind = task_type_and_head(task)
    backbone_spec: BackboneSpec = get_registry("backbones").get(backbone)
    decoder_spec: DecoderSpec = get_registry("decoders").get(decoder)
    plan = plan_composition(backbone_spec, decoder_spec, necks=necks, task_type=task_type, levels=levels)
    aux_plans = _aux_plans(backbone_spec, aux_heads or (), task_type)
    _neck_specs([plan, *(p for _, p, _, _ in aux_plans)])  # every neck is known before anything is built

    module = build_backbone(
        backbone, weights=weights, bands=bands, num_frames=num_frames, img_size=img_size, **dict(backbone_options or {})
    )
    frames = num_frames or backbone_spec.num_frames or 1
    token_frames = max(1, frames // int(getattr(module, "tubelet_size", 1)))
    channels, reductions = list(module.out_channels), list(module.out_reductions)
    neck_modules, channels, reductions = _build_necks(plan, channels, reductions, token_frames)
    if task_type in DETECTION_TASKS:
        detector_inputs = (channels, reductions, plan, task_type, num_classes)
        return _detection_model(module, neck_modules, decoder_spec, *detector_inputs, backbone, decoder_options)
    decoders = get_registry("decoders")
    decoder_module = _build_decoder(decoder_spec, channels, reductions, decoder_options)
    check_built("decoders", decoder_module, decoder_spec)
    head = _build_head(
        head_kind, decoder_module.out_channels, decoder_module.out_reduction, num_classes, head_options or {}
    )
    branches: dict[str, AuxBranch] = {}
    weights_by_name: dict[str, float] = {}
    for index, (aux_spec, aux_plan, weight, options) in enumerate(aux_plans):
        aux_necks, aux_channels, aux_reductions = _build_necks(
            aux_plan, list(module.out_channels), list(module.out_reductions), token_frames
        )
        aux_decoder = decoders.build(aux_spec.name, in_channels=aux_channels, in_reductions=aux_reductions, **options)
        check_built("decoders", aux_decoder, aux_spec)
        aux_head = _build_head(
            "regression" if head_kind == "regression" else "segmentation",
            aux_decoder.out_channels,
            aux_decoder.out_reduction,
            num_classes,
            {"num_outputs": dict(head_options or {}).get("num_outputs", num_classes)}
            if head_kind == "regression"
            else {},
        )
        branches[f"aux_{index}"] = AuxBranch(aux_necks, aux_decoder, aux_head)
        weights_by_name[f"aux_{index}"] = weight
    return ComposedModel(
        module,
        neck_modules,
        decoder_module,
        head,
        neck_plan=plan,
        task_type=task_type,
        aux_heads=branches,
        aux_weights=weights_by_name,
        # dense decoders that upsample by exactly 2 per level need inputs divisible by the coarsest level
        pad_multiple=max(int(r) for r in reductions) if task_type in DENSE_TASKS and reductions else None,
        backbone_name=backbone,
    )
