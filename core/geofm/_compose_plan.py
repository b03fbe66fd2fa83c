"""Planning a composition from specs alone: which necks go between a backbone and a decoder.

Pure metadata (no torch): the plan is checked, or completed, before any weight is built. The state of
the features is followed neck by neck (kind, level count, reductions), so an explicit chain that cannot
work is refused with a message that names the neck to add.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, get_args

from geofm.errors import IncompatibleComponentsError
from geofm.specs import BackboneSpec, DecoderSpec, NeckSpec, TaskType

__all__ = [
    "CLASSIFICATION_TASKS",
    "DENSE_TASKS",
    "DETECTION_TASKS",
    "TASK_TYPES",
    "FeatureState",
    "normalise_necks",
    "plan_composition",
]

TASK_TYPES: tuple[str, ...] = get_args(TaskType)
"""Every task type, as :data:`geofm.specs.TaskType` lists them."""
CLASSIFICATION_TASKS = frozenset({"classification", "multilabel_classification"})
DENSE_TASKS = frozenset({"segmentation", "regression"})
"""Task types whose output is a map of the input's size."""
DETECTION_TASKS = frozenset({"detection", "instance_segmentation"})
"""Task types whose output is a list of objects (boxes, classes, scores, and masks for instances)."""

_PYRAMID_NECKS = frozenset({"interpolate_pyramid", "learned_pyramid"})
_CONVERTERS = {
    ("tokens", "maps"): "tokens_to_map",
    ("tokens", "vector"): "token_pool",
    ("maps", "vector"): "global_pool",
}


@dataclass(frozen=True)
class FeatureState:
    """What the features look like at one point of the chain.

    ``reductions`` has one entry per feature (``None`` where a plugin neck makes it unknown);
    ``raw`` is true while the features are still the backbone's own list (every block or stage).
    """

    kind: str
    reductions: tuple[int, ...] | None
    count: int | None
    raw: bool = True

    @property
    def pyramid(self) -> bool | None:
        """Whether the levels have strictly increasing reductions (``None`` when unknown)."""
        if self.reductions is None:
            return None
        return len(self.reductions) > 1 and all(a < b for a, b in pairwise(self.reductions))

    def describe(self) -> str:
        """E.g. ``"4 levels of maps (reductions 8, 8, 8, 8)"``."""
        count = "some" if self.count is None else str(self.count)
        what = f"{count} level{'s' if self.count != 1 else ''} of {self.kind}"
        if self.reductions is not None and self.kind != "vector":
            what += f" (reductions {', '.join(map(str, self.reductions))})"
        return what


def normalise_necks(necks: Sequence[str | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Turn ``["name", {"name": ..., **options}]`` into ``[{"name": ..., **options}]`` (copies)."""
    result: list[dict[str, Any]] = []
    for neck in necks:
        if isinstance(neck, str):
            result.append({"name": neck})
        elif isinstance(neck, Mapping) and isinstance(neck.get("name"), str):
            result.append(dict(neck))
        else:
            raise IncompatibleComponentsError(
                f"neck {neck!r} is neither a name nor a mapping with a 'name' key, e.g. "
                "{'name': 'select_levels', 'levels': [3, 5, 7, 11]}"
            )
    return result


def _flag(necks: Sequence[Mapping[str, Any]]) -> str:
    return " ".join(f"--neck {n['name']}" for n in necks)


def _options(neck: Mapping[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in neck.items() if k != "name")
    return f" ({options})" if options else ""


def _resolve_levels(levels: Sequence[int], count: int, where: str) -> tuple[int, ...]:
    resolved = []
    for level in levels:
        if not isinstance(level, int) or isinstance(level, bool) or not -count <= level < count:
            raise IncompatibleComponentsError(
                f"{where}: level {level!r} is out of range for {count} features (use 0..{count - 1} or negatives)"
            )
        resolved.append(level % count)
    if not resolved:
        raise IncompatibleComponentsError(f"{where}: give at least one level")
    return tuple(resolved)


def _spread(levels: tuple[int, ...], wanted: int) -> tuple[int, ...]:
    """``wanted`` of ``levels``, evenly spaced and ending with the last one."""
    if len(levels) <= wanted:
        return levels
    step = len(levels) / wanted
    return tuple(levels[round(len(levels) - 1 - step * (wanted - 1 - i))] for i in range(wanted))


def _initial_state(backbone: BackboneSpec) -> FeatureState:
    reductions = tuple(backbone.feature_reductions) or None
    count = len(reductions) if reductions is not None else None
    return FeatureState(backbone.output_kind, reductions, count, raw=True)


def _apply(state: FeatureState, neck: dict[str, Any], spec: NeckSpec, backbone: BackboneSpec) -> FeatureState:
    """The state after ``neck``; fills in defaults (``select_levels`` levels) in ``neck`` itself."""
    name = neck["name"]
    if spec.consumes not in ("any", state.kind):
        fix = _CONVERTERS.get((state.kind, spec.consumes))
        hint = f"add --neck {fix} before --neck {name}" if fix else "remove it or choose another neck"
        raise IncompatibleComponentsError(
            f"neck {name} consumes {spec.consumes} but receives {state.describe()} from backbone "
            f"{backbone.name}; {hint} (or omit --neck to insert the necks automatically)"
        )
    if name == "select_levels":
        if state.count is None:
            return replace(state, count=len(neck["levels"]) if neck.get("levels") else None, reductions=None)
        levels = neck.get("levels")
        if levels is None:
            default = tuple(backbone.default_levels) if state.raw and backbone.default_levels else None
            levels = default or tuple(range(state.count))
        if isinstance(levels, int):
            levels = (levels,)
        resolved = _resolve_levels(levels, state.count, f"neck select_levels after backbone {backbone.name}")
        neck["levels"] = list(resolved)
        reductions = tuple(state.reductions[i] for i in resolved) if state.reductions is not None else None
        return FeatureState(state.kind, reductions, len(resolved), raw=False)
    if name in _PYRAMID_NECKS:
        if state.reductions is not None and len(set(state.reductions)) != 1:
            raise IncompatibleComponentsError(
                f"neck {name} needs maps of one stride but receives {state.describe()}; "
                "the features already form a pyramid: remove it"
            )
        if state.count not in (None, 1, 4):
            raise IncompatibleComponentsError(
                f"neck {name} turns 1 or 4 same-stride maps into a pyramid but receives {state.describe()}; "
                "add --neck select_levels before it with 1 or 4 levels"
            )
        reductions = None
        if state.reductions is not None:
            base = state.reductions[0]
            scales = neck.get("scales", (4, 2, 1, 0.5)) if name == "interpolate_pyramid" else (4, 2, 1, 0.5)
            reductions = tuple(max(1, round(base / s)) for s in scales)
        return FeatureState("maps", reductions, 4 if reductions is None else len(reductions), raw=False)
    kind = state.kind if spec.produces == "same" else spec.produces
    count = spec.out_levels if spec.out_levels is not None else state.count
    if kind == "vector":
        reductions: tuple[int, ...] | None = (0,) * (count or 1)
    elif spec.out_levels is None and (name == "tokens_to_map" or spec.produces in ("same", state.kind)):
        reductions = state.reductions
    else:
        reductions = None
    return FeatureState(kind, reductions, count, raw=False)


def _one_stride(state: FeatureState, chosen: Sequence[int]) -> bool:
    """Whether the ``chosen`` levels of ``state`` all share one reduction (a plain ViT's features)."""
    return state.reductions is not None and len({state.reductions[i] for i in chosen}) == 1


def _auto_necks(
    state: FeatureState,
    backbone: BackboneSpec,
    decoder: DecoderSpec,
    task_type: str,
    levels: Sequence[int] | None,
) -> list[dict[str, Any]]:
    """The necks that take ``state`` to what ``decoder`` consumes (may be empty)."""
    necks: list[dict[str, Any]] = []
    wants = decoder.consumes
    if wants == "any":
        wants = "vector" if task_type in CLASSIFICATION_TASKS else "maps"
    if state.kind == wants:
        pass
    elif wants == "vector":
        if state.kind == "tokens":
            return [{"name": "token_pool", "mode": "mean"}]
        if state.kind == "maps":
            return [{"name": "global_pool", "mode": "mean"}]
    elif wants == "tokens" or state.kind == "vector":
        raise IncompatibleComponentsError(
            f"decoder {decoder.name} consumes {decoder.consumes} but backbone {backbone.name} gives "
            f"{state.kind} and no neck turns {state.kind} into {decoder.consumes}; choose another decoder "
            "(geofm decoders list)"
        )
    if wants == "vector":
        return necks
    # maps (or tokens) for a dense decoder: choose the levels first
    wanted = decoder.num_levels if decoder.num_levels > 0 else None
    if state.count is not None:
        if levels is not None:
            chosen = _resolve_levels(levels, state.count, f"levels for backbone {backbone.name}")
        elif state.raw and backbone.default_levels:
            chosen = _resolve_levels(backbone.default_levels, state.count, f"backbone {backbone.name}")
        else:
            chosen = tuple(range(state.count))
        if wanted == 1:
            chosen = chosen[-1:]
        elif wanted is not None and len(chosen) > wanted:
            chosen = _spread(chosen, wanted)
        elif levels is None and decoder.needs_pyramid and _one_stride(state, chosen) and len(chosen) not in (1, 4):
            # a pyramid is interpolated from 1 or 4 maps of one stride: keep 4 spread levels, else the last
            chosen = _spread(chosen, 4) if len(chosen) > 4 else chosen[-1:]
        if chosen != tuple(range(state.count)):
            necks.append({"name": "select_levels", "levels": list(chosen)})
        reductions = tuple(state.reductions[i] for i in chosen) if state.reductions is not None else None
        state = FeatureState(state.kind, reductions, len(chosen), raw=False)
    if state.kind == "tokens" and wants == "maps":
        necks.append({"name": "tokens_to_map"})
        state = replace(state, kind="maps")
    if decoder.needs_pyramid and state.pyramid is False:
        if state.reductions is not None and len(set(state.reductions)) == 1 and state.count in (1, 4):
            necks.append({"name": "interpolate_pyramid"})
        else:
            raise IncompatibleComponentsError(
                f"decoder {decoder.name} needs a pyramid of maps with increasing reductions but receives "
                f"{state.describe()}; pass 1 or 4 levels of one stride (--neck select_levels) and "
                "--neck interpolate_pyramid"
            )
    return necks


def _check_decoder(
    state: FeatureState, backbone: BackboneSpec, decoder: DecoderSpec, task_type: str, necks: list[dict[str, Any]]
) -> None:
    """Raise when ``state`` (after the explicit ``necks``) is not what ``decoder`` consumes."""
    kind_ok = decoder.consumes in ("any", state.kind)
    count_ok = decoder.num_levels <= 0 or state.count is None or state.count == decoder.num_levels
    pyramid_ok = not decoder.needs_pyramid or state.pyramid is not False
    if kind_ok and count_ok and pyramid_ok:
        return
    wants = f"{decoder.num_levels}-level " if decoder.num_levels > 0 else ""
    wants = f"a {wants}pyramid of maps" if decoder.needs_pyramid else f"{wants or 'some '}{decoder.consumes}"
    given = f"backbone {backbone.name}" + (f" through {_flag(necks)}" if necks else "")
    try:
        fix = _auto_necks(state, backbone, decoder, task_type, None)
    except IncompatibleComponentsError:
        fix = []
    hint = "add " + " ".join(_flag([n]) + _options(n) for n in fix) if fix else "change the necks"
    raise IncompatibleComponentsError(
        f"decoder {decoder.name} needs {wants} but {given} gives {state.describe()}; "
        f"{hint} (or omit --neck to insert them automatically)"
    )


def plan_composition(
    backbone_spec: BackboneSpec,
    decoder_spec: DecoderSpec,
    *,
    necks: Sequence[str | Mapping[str, Any]] | None = None,
    task_type: str = "segmentation",
    levels: Sequence[int] | None = None,
    neck_specs: Mapping[str, NeckSpec] | None = None,
) -> list[dict[str, Any]]:
    """The necks between ``backbone_spec`` and ``decoder_spec``, as ``[{"name": ..., **options}, ...]``.

    With ``necks=None`` the necks are chosen automatically (``levels`` overrides the backbone's default
    feature levels); an explicit ``necks`` list is checked kind by kind and completed with defaults
    (e.g. the levels of ``select_levels``). ``neck_specs`` maps neck names to specs (default: the
    registry). Raises :class:`~geofm.errors.IncompatibleComponentsError` naming the neck to add.
    No torch, no weights: this runs before anything is built.
    """
    if task_type not in TASK_TYPES:
        raise IncompatibleComponentsError(f"unknown task type {task_type!r}; task types are {', '.join(TASK_TYPES)}")
    suits = set(decoder_spec.tasks)
    if "classification" in suits:
        suits.add("multilabel_classification")
    if task_type not in suits:
        raise IncompatibleComponentsError(
            f"decoder {decoder_spec.name} suits {', '.join(decoder_spec.tasks)}, not {task_type}; choose a "
            f"decoder for {task_type} (geofm decoders list)"
        )
    state = _initial_state(backbone_spec)
    if necks is None:
        return _auto_necks(state, backbone_spec, decoder_spec, task_type, levels)
    if neck_specs is None:
        from geofm.registry import get_registry

        registry = get_registry("necks")
        wanted = {n["name"] for n in normalise_necks(necks)}
        neck_specs = {name: registry.get(name) for name in sorted(wanted)}
    plan = normalise_necks(necks)
    for index, neck in enumerate(plan):
        spec = neck_specs.get(neck["name"])
        if spec is None:
            raise IncompatibleComponentsError(f"unknown neck {neck['name']!r}; list them with: geofm necks list")
        if index == 0 and neck["name"] == "select_levels" and neck.get("levels") is None and levels is not None:
            neck["levels"] = list(levels)
        state = _apply(state, neck, spec, backbone_spec)
    _check_decoder(state, backbone_spec, decoder_spec, task_type, plan)
    return plan
