"""Neck planning from specs alone: which necks go between a backbone and a decoder.

The result, the *neck plan*, is a list of ``{"name": ..., **options}`` that a run records and rebuilds
from. Pure metadata (no torch): the plan is checked, or completed, before any weight is built; necks are
known by what their specs declare (:class:`NeckCatalogue`), never by name. The state of
the features is followed neck by neck (kind, level count, reductions), so an explicit chain that cannot
work is refused with a message that names the neck to add.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from geofm.errors import IncompatibleComponentsError
from geofm.specs import BackboneSpec, DecoderSpec, NeckSpec
from geofm.vocabulary import CLASSIFICATION_TASKS, TASK_TYPES

__all__ = ["FeatureState", "NeckCatalogue", "normalise_necks", "plan_composition"]


class NeckCatalogue:
    """The necks composition may use, found by what their specs say they do (never by name).

    ``specs`` maps neck names to specs (default: every registered neck). The finders return the neck
    with the highest ``auto_rank`` that can do a job, ``None`` when no neck offers to.
    """

    def __init__(self, specs: Mapping[str, NeckSpec] | None = None) -> None:
        """Hold ``specs``; read from the registry on first use when not given."""
        self._specs = dict(specs) if specs is not None else None
        self._from_registry = specs is None

    @property
    def specs(self) -> dict[str, NeckSpec]:
        """Name -> spec of every neck in the catalogue."""
        if self._specs is None:
            from geofm.registry import get_registry

            self._specs = {spec.name: spec for spec in get_registry("necks")}
        return self._specs

    def get(self, name: str) -> NeckSpec:
        """The spec of neck ``name``; unknown names are refused with where to list them."""
        spec = self.specs.get(name)
        if spec is None and self._from_registry:
            from geofm.registry import get_registry

            return get_registry("necks").get(name)  # raises, with the names it might have meant
        if spec is None:
            raise IncompatibleComponentsError(f"unknown neck {name!r}; list them with: geofm necks list")
        return spec

    def _best(self, offers: Callable[[NeckSpec], bool]) -> NeckSpec | None:
        ranked = [s for s in self.specs.values() if s.auto_rank is not None and offers(s)]
        return max(ranked, key=lambda s: s.auto_rank or 0, default=None)

    def level_selector(self) -> NeckSpec | None:
        """The neck that keeps some of the features."""
        return self._best(lambda s: s.selects_levels)

    def converter(self, source: str, target: str) -> NeckSpec | None:
        """The neck that turns features of kind ``source`` into ``target`` (e.g. tokens into maps)."""
        return self._best(
            lambda s: s.consumes == source and s.produces == target and not (s.selects_levels or s.makes_pyramid)
        )

    def pyramid_maker(self, levels: int | None = None) -> NeckSpec | None:
        """The neck that turns maps of one stride into a pyramid (of ``levels`` levels, when given)."""
        return self._best(lambda s: s.makes_pyramid and levels in (None, len(s.pyramid_scales)))

    def needed(self, spec: NeckSpec | None, job: str) -> NeckSpec:
        """``spec``, or an error saying that no installed neck offers to do ``job``."""
        if spec is None:
            raise IncompatibleComponentsError(
                f"no installed neck offers to {job} (a neck spec with auto_rank set); install one or "
                "give the necks explicitly with --neck"
            )
        return spec


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


def _level_indices(levels: Sequence[int], count: int, where: str) -> tuple[int, ...]:
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


def _apply(
    state: FeatureState, neck: dict[str, Any], spec: NeckSpec, backbone: BackboneSpec, catalogue: NeckCatalogue
) -> FeatureState:
    """The state after ``neck``; fills in defaults (the levels a level selector keeps) in ``neck`` itself."""
    name = neck["name"]
    if spec.consumes not in ("any", state.kind):
        fix = catalogue.converter(state.kind, spec.consumes)
        hint = f"add --neck {fix.name} before --neck {name}" if fix else "remove it or choose another neck"
        raise IncompatibleComponentsError(
            f"neck {name} consumes {spec.consumes} but receives {state.describe()} from backbone "
            f"{backbone.name}; {hint} (or omit --neck to insert the necks automatically)"
        )
    if spec.selects_levels:
        return _select_levels(state, neck, backbone)
    if spec.makes_pyramid:
        return _make_pyramid(state, neck, spec, catalogue)
    kind = state.kind if spec.produces == "same" else spec.produces
    count = spec.out_levels if spec.out_levels is not None else state.count
    keeps = spec.keeps_reductions if spec.keeps_reductions is not None else spec.produces in ("same", state.kind)
    if kind == "vector":
        reductions: tuple[int, ...] | None = (0,) * (count or 1)
    elif spec.out_levels is None and keeps:
        reductions = state.reductions
    else:
        reductions = None
    return FeatureState(kind, reductions, count, raw=False)


def _select_levels(state: FeatureState, neck: dict[str, Any], backbone: BackboneSpec) -> FeatureState:
    name = neck["name"]
    if state.count is None:
        return replace(state, count=len(neck["levels"]) if neck.get("levels") else None, reductions=None)
    levels = neck.get("levels")
    if levels is None:
        default = tuple(backbone.default_levels) if state.raw and backbone.default_levels else None
        levels = default or tuple(range(state.count))
    if isinstance(levels, int):
        levels = (levels,)
    resolved = _level_indices(levels, state.count, f"neck {name} after backbone {backbone.name}")
    neck["levels"] = list(resolved)
    reductions = tuple(state.reductions[i] for i in resolved) if state.reductions is not None else None
    return FeatureState(state.kind, reductions, len(resolved), raw=False)


def _make_pyramid(state: FeatureState, neck: dict[str, Any], spec: NeckSpec, catalogue: NeckCatalogue) -> FeatureState:
    name = neck["name"]
    scales = tuple(neck.get("scales", spec.pyramid_scales))
    if state.reductions is not None and len(set(state.reductions)) != 1:
        raise IncompatibleComponentsError(
            f"neck {name} needs maps of one stride but receives {state.describe()}; "
            "the features already form a pyramid: remove it"
        )
    if state.count not in (None, 1, len(scales)):
        selector = catalogue.level_selector()
        add = f"--neck {selector.name}" if selector else "a neck that selects levels"
        raise IncompatibleComponentsError(
            f"neck {name} turns 1 or {len(scales)} same-stride maps into a pyramid but receives "
            f"{state.describe()}; add {add} before it with 1 or {len(scales)} levels"
        )
    reductions = None
    if state.reductions is not None:
        reductions = tuple(max(1, round(state.reductions[0] / s)) for s in scales)
    return FeatureState("maps", reductions, len(scales), raw=False)


def _one_stride(state: FeatureState, chosen: Sequence[int]) -> bool:
    """Whether the ``chosen`` levels of ``state`` all share one reduction (a plain ViT's features)."""
    return state.reductions is not None and len({state.reductions[i] for i in chosen}) == 1


def _auto_necks(
    state: FeatureState,
    backbone: BackboneSpec,
    decoder: DecoderSpec,
    task_type: str,
    levels: Sequence[int] | None,
    catalogue: NeckCatalogue,
) -> list[dict[str, Any]]:
    """The necks that take ``state`` to what ``decoder`` consumes (may be empty)."""
    necks: list[dict[str, Any]] = []
    wants = decoder.consumes
    if wants == "any":
        wants = "vector" if task_type in CLASSIFICATION_TASKS else "maps"
    converter = None  # the neck that turns the backbone's kind of features into the decoder's
    if state.kind != wants:
        convertible = wants == "vector" or (state.kind, wants) == ("tokens", "maps")
        converter = catalogue.converter(state.kind, wants) if convertible else None
        if converter is None:
            raise IncompatibleComponentsError(
                f"decoder {decoder.name} consumes {wants} but backbone {backbone.name} gives {state.kind} and no "
                f"installed neck turns {state.kind} into {wants}; give one with --neck or choose another decoder "
                "(geofm decoders list)"
            )
    if wants == "vector":
        return [{"name": converter.name}] if converter else []
    # maps (or tokens) for a dense decoder: choose the levels first
    wanted = decoder.num_levels if decoder.num_levels > 0 else None
    pyramid_maker = catalogue.pyramid_maker(wanted)
    pyramid_inputs = (1, len(pyramid_maker.pyramid_scales)) if pyramid_maker else (1,)
    if state.count is not None:
        if levels is not None:
            chosen = _level_indices(levels, state.count, f"levels for backbone {backbone.name}")
        elif state.raw and backbone.default_levels:
            chosen = _level_indices(backbone.default_levels, state.count, f"backbone {backbone.name}")
        else:
            chosen = tuple(range(state.count))
        if wanted == 1:
            chosen = chosen[-1:]
        elif wanted is not None and len(chosen) > wanted:
            chosen = _spread(chosen, wanted)
        elif (
            levels is None
            and decoder.needs_pyramid
            and _one_stride(state, chosen)
            and len(chosen) not in pyramid_inputs
        ):
            # a pyramid is made from 1 map, or one per level, of one stride: keep spread levels, else the last
            most = max(pyramid_inputs)
            chosen = _spread(chosen, most) if len(chosen) > most else chosen[-1:]
        if chosen != tuple(range(state.count)):
            selector = catalogue.needed(catalogue.level_selector(), "select levels")
            necks.append({"name": selector.name, "levels": list(chosen)})
        reductions = tuple(state.reductions[i] for i in chosen) if state.reductions is not None else None
        state = FeatureState(state.kind, reductions, len(chosen), raw=False)
    if converter is not None:
        necks.append({"name": converter.name})
        state = replace(state, kind=wants)
    if decoder.needs_pyramid and state.pyramid is False:
        one_stride = state.reductions is not None and len(set(state.reductions)) == 1
        if pyramid_maker is not None and one_stride and state.count in pyramid_inputs:
            necks.append({"name": pyramid_maker.name})
        else:
            selector, maker = catalogue.level_selector(), pyramid_maker
            raise IncompatibleComponentsError(
                f"decoder {decoder.name} needs a pyramid of maps with increasing reductions but receives "
                f"{state.describe()}; pass 1 or {max(pyramid_inputs)} levels of one stride "
                f"(--neck {selector.name if selector else 'NECK'}) and "
                f"--neck {maker.name if maker else 'a neck that makes a pyramid'}"
            )
    return necks


def _check_decoder(
    state: FeatureState,
    backbone: BackboneSpec,
    decoder: DecoderSpec,
    task_type: str,
    necks: list[dict[str, Any]],
    catalogue: NeckCatalogue,
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
        fix = _auto_necks(state, backbone, decoder, task_type, None, catalogue)
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
    (e.g. the levels a level selector keeps). Necks are planned from what their specs declare
    (:class:`~geofm.specs.NeckSpec`), never by name; ``neck_specs`` maps neck names to specs (default:
    the registry). Raises :class:`~geofm.errors.IncompatibleComponentsError` naming the neck to add.
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
    catalogue = NeckCatalogue(neck_specs)
    state = _initial_state(backbone_spec)
    if necks is None:
        return _auto_necks(state, backbone_spec, decoder_spec, task_type, levels, catalogue)
    plan = normalise_necks(necks)
    for index, neck in enumerate(plan):
        spec = catalogue.get(neck["name"])
        if index == 0 and spec.selects_levels and neck.get("levels") is None and levels is not None:
            neck["levels"] = list(levels)
        state = _apply(state, neck, spec, backbone_spec, catalogue)
    _check_decoder(state, backbone_spec, decoder_spec, task_type, plan, catalogue)
    return plan
