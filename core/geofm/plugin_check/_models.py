"""Building backbones, necks and decoders at a tiny size and checking what they return against their specs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from geofm.compose import build_backbone
from geofm.contracts import check_built, check_features
from geofm.errors import ContractError
from geofm.features import FeatureContext
from geofm.plugin_check._rows import CheckFailed, Rows
from geofm.specs import BackboneSpec, DecoderSpec, NeckSpec

__all__ = ["backbone_input_size", "check_backbone", "check_decoder", "check_neck", "synthetic_features"]

DEFAULT_BANDS = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
"""The bands given to a backbone whose spec declares none (it takes any bands)."""

_WIDTH = 32
"""Channels of the synthetic features fed to necks and decoders."""
_SIZE = 64
"""Side of the image the synthetic features of necks and decoders come from."""


_NOUN = {"tokens": "token", "maps": "map", "vector": "vector"}


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in value.shape)


def _sides(size: int, reduction: int) -> set[int]:
    return {size // reduction, math.ceil(size / reduction)}


def _random(*shape: int, device: str = "cpu") -> Tensor:
    if device == "meta":
        return torch.empty(*shape, device="meta")
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


# --- backbones -------------------------------------------------------------------------------------------


def backbone_input_size(spec: BackboneSpec) -> int:
    """The smallest square side both the patch size and the coarsest reduction divide, twice over."""
    return 2 * math.lcm(max(1, spec.patch_size), *(max(1, r) for r in spec.feature_reductions or (1,)))


def _frame_cases(spec: BackboneSpec) -> list[int]:
    return [1] if spec.max_frames == 1 else [1, 2]


def _build(spec: BackboneSpec, bands: Sequence[str], frames: int, size: int, device: str) -> Any:
    with torch.device(device):
        return build_backbone(spec.name, weights="none", bands=bands, num_frames=frames, img_size=size)


def _agree_with_spec(spec: BackboneSpec, module: Any) -> None:
    """The built module's declared outputs are the spec's (at the spec's default options)."""
    name = f"backbone {spec.name}"
    for attribute, declared in (("out_channels", spec.feature_channels), ("out_reductions", spec.feature_reductions)):
        built = [int(v) for v in getattr(module, attribute)]
        if built != list(declared):
            field = "feature_channels" if attribute == "out_channels" else "feature_reductions"
            raise CheckFailed(
                f"{name}: the module's {attribute} {built} differ from the spec's {field} {list(declared)}"
            )
    if spec.output_kind == "tokens" and int(module.num_prefix_tokens) != spec.num_prefix_tokens:
        raise CheckFailed(
            f"{name}: the module has {module.num_prefix_tokens} prefix token(s), "
            f"the spec declares {spec.num_prefix_tokens}"
        )
    if int(module.tubelet_size) < 1:
        raise CheckFailed(f"{name}: tubelet_size is {module.tubelet_size}; it must be >= 1 (1 for images)")


def _features_agree(spec: BackboneSpec, module: Any, features: Any, size: int, frames: int) -> None:
    """Each feature has the shape the spec declares: maps (B, C, H/r, W/r), tokens (B, P + T'(H/r)(W/r), C)."""
    name = f"backbone {spec.name}"
    if not isinstance(features, list | tuple):
        raise CheckFailed(f"{name}: forward_features returned a {type(features).__name__}, not a list of tensors")
    if len(features) != len(spec.feature_channels):
        raise CheckFailed(
            f"{name}: forward_features returned {len(features)} features, "
            f"the spec declares {len(spec.feature_channels)}"
        )
    steps = max(1, frames // max(1, int(module.tubelet_size)))
    for index, (feature, channels, reduction) in enumerate(
        zip(features, spec.feature_channels, spec.feature_reductions, strict=True)
    ):
        shape = _shape(feature)
        if spec.output_kind == "maps":
            if len(shape) != 4:
                raise CheckFailed(f"{name}: feature {index} has shape {shape}; maps (B, C, H, W) are declared")
            if shape[1] != channels:
                raise CheckFailed(f"{name}: feature {index} has {shape[1]} channels, the spec declares {channels}")
            if shape[2] not in _sides(size, reduction) or shape[3] not in _sides(size, reduction):
                raise CheckFailed(
                    f"{name}: feature {index} is {shape[2]}x{shape[3]} for a {size}x{size} input; the spec declares "
                    f"reduction {reduction} ({size // reduction}x{size // reduction})"
                )
            continue
        if len(shape) != 3:
            raise CheckFailed(f"{name}: feature {index} has shape {shape}; tokens (B, N, C) are declared")
        if shape[2] != channels:
            raise CheckFailed(f"{name}: feature {index} has {shape[2]} channels, the spec declares {channels}")
        expected = {
            spec.num_prefix_tokens + steps * h * w for h in _sides(size, reduction) for w in _sides(size, reduction)
        }
        if shape[1] not in expected:
            raise CheckFailed(
                f"{name}: feature {index} has {shape[1]} tokens; the spec's reduction {reduction} and "
                f"{spec.num_prefix_tokens} prefix token(s) give {min(expected)} for a {size}x{size} input of "
                f"{frames} frame(s)"
            )


def _forward(spec: BackboneSpec, module: Any, bands: Sequence[str], frames: int, size: int, device: str) -> None:
    shape = (1, len(bands), frames, size, size) if frames > 1 else (1, len(bands), size, size)
    module.eval()
    with torch.no_grad():
        features = module.forward_features(_random(*shape, device=device))
    _features_agree(spec, module, features, size, frames)
    check_features(features, module, (size, size), frames=frames, name=f"backbone {spec.name}")


def _parameters(module: Any) -> int:
    return sum(int(p.numel()) for p in module.parameters())


def _millions(count: int) -> str:
    return f"{count / 1e6:.1f}M parameters" if count >= 100_000 else f"{count:,} parameters"


def _on_meta(spec: BackboneSpec, rows: Rows, first: Any, bands: Sequence[str], size: int, large: str) -> None:
    """The rows of a large backbone, built and run on the meta device: every shape, no weights."""
    for frames in _frame_cases(spec):
        suffix = "" if frames == 1 else f" T={frames}"
        try:
            module = first if frames == 1 else _build(spec, bands, frames, size, "meta")
            check_built("backbones", module, spec)
            _agree_with_spec(spec, module)
        except (CheckFailed, ContractError) as error:
            rows.add("backbone", spec.name, f"build{suffix}", "FAIL", str(error))
            continue
        except Exception as error:
            rows.add(
                "backbone",
                spec.name,
                f"build{suffix}",
                "SKIP",
                f"{large} (it does not build on the meta device: {error})",
            )
            continue
        if frames == 1:
            rows.add(
                "backbone", spec.name, "build", "SKIP", f"{large} (its attributes match the spec on the meta device)"
            )
        try:
            _forward(spec, module, bands, frames, size, "meta")
        except (CheckFailed, ContractError) as error:
            rows.add("backbone", spec.name, f"forward{suffix}", "FAIL", str(error))
        except Exception as error:
            rows.add(
                "backbone",
                spec.name,
                f"forward{suffix}",
                "SKIP",
                f"{large} (it does not run on the meta device: {error})",
            )
        else:
            rows.add(
                "backbone", spec.name, f"forward{suffix}", "PASS", "shapes as declared, checked on the meta device"
            )


def check_backbone(spec: BackboneSpec, rows: Rows, *, large: int | None) -> None:
    """Rows ``build`` and ``forward`` (plus ``build T=2`` and ``forward T=2`` for time series) of one backbone.

    Built with random weights, the spec's bands (or :data:`DEFAULT_BANDS` when it declares none) and a
    small input (:func:`backbone_input_size`). A backbone of more than ``large`` parameters (counted on
    the meta device) is built and run on the meta device only, which checks every shape without
    allocating its weights; ``large=None`` builds every backbone.
    """
    bands = tuple(spec.bands) or DEFAULT_BANDS
    size = backbone_input_size(spec)
    if large is not None:
        try:
            first = _build(spec, bands, 1, size, "meta")
        except Exception:  # not buildable on the meta device: it is built for real below, which reports errors
            first = None
        count = _parameters(first) if first is not None else 0
        if count > large:
            _on_meta(spec, rows, first, bands, size, f"large ({_millions(count)}): run with --all to build it")
            return
    for frames in _frame_cases(spec):
        suffix = "" if frames == 1 else f" T={frames}"
        module = None
        with rows.check("backbone", spec.name, f"build{suffix}") as notes:
            built = _build(spec, bands, frames, size, "cpu")
            check_built("backbones", built, spec)
            _agree_with_spec(spec, built)
            notes.append(f"{_millions(_parameters(built))}, {len(bands)} bands, {size}x{size}, {frames} frame(s)")
            module = built
        if module is None:
            continue
        with rows.check("backbone", spec.name, f"forward{suffix}") as notes:
            _forward(spec, module, bands, frames, size, "cpu")
            notes.append(f"{len(spec.feature_channels)} {_NOUN[spec.output_kind]} features as declared")


# --- necks and decoders ----------------------------------------------------------------------------------


def synthetic_features(consumes: str, levels: int, reductions: Sequence[int]) -> tuple[list[Tensor], FeatureContext]:
    """``levels`` features of kind ``consumes`` (maps for ``"any"``) from a ``_SIZE`` square image."""
    if consumes == "vector":
        return [_random(1, _WIDTH) for _ in range(levels)], FeatureContext((_SIZE, _SIZE))
    if consumes == "tokens":
        side = _SIZE // reductions[0]
        tokens = [_random(1, 1 + side * side, _WIDTH) for _ in range(levels)]
        return tokens, FeatureContext((_SIZE, _SIZE), grid=(1, side, side), num_prefix_tokens=1)
    maps = [_random(1, _WIDTH, _SIZE // r, _SIZE // r) for r in reductions]
    return maps, FeatureContext((_SIZE, _SIZE))


def _check_on_features(
    kind: str,
    spec: NeckSpec | DecoderSpec,
    rows: Rows,
    inputs: tuple[list[int], list[int], str],
    note: str,
    forward: Callable[[Any, list[Tensor], FeatureContext], str],
) -> None:
    """Rows ``build`` and ``forward`` of a neck or decoder (``kind``) on synthetic features.

    ``inputs`` are the features' channels, reductions and kind, which ``note`` describes in the build row;
    ``forward(module, features, context)`` runs the module in eval mode without gradients, checks what
    it returns and says what it checked.
    """
    channels, reductions, consumed = inputs
    module = None
    with rows.check(kind, spec.name, "build") as notes:
        built = spec.load_factory()(in_channels=list(channels), in_reductions=list(reductions))
        check_built(f"{kind}s", built, spec)
        notes.append(note)
        module = built
    if module is None:
        return
    with rows.check(kind, spec.name, "forward") as notes:
        features, context = synthetic_features(consumed, len(channels), reductions)
        module.eval()
        with torch.no_grad():
            notes.append(forward(module, features, context))


def _neck_inputs(spec: NeckSpec) -> tuple[list[int], list[int], str]:
    """Four same-stride features (what a neck after a transformer gets), or one vector."""
    if spec.consumes == "vector":
        return [_WIDTH], [0], "vector"
    return [_WIDTH] * 4, [8] * 4, "tokens" if spec.consumes == "tokens" else "maps"


def _check_output(name: str, index: str, value: Any, kind: str, channels: int, reduction: int) -> None:
    shape = _shape(value)
    label = f"{name}: output{index}"
    if kind == "vector" or reduction == 0:
        if len(shape) != 2 or shape[1] != channels:
            raise CheckFailed(f"{label} has shape {shape}; the module declares a vector (B, {channels})")
    elif kind == "tokens":
        if len(shape) != 3 or shape[2] != channels:
            raise CheckFailed(f"{label} has shape {shape}; the module declares tokens (B, N, {channels})")
    else:
        if len(shape) != 4 or shape[1] != channels:
            raise CheckFailed(f"{label} has shape {shape}; the module declares maps of {channels} channels")
        if shape[2] not in _sides(_SIZE, reduction) or shape[3] not in _sides(_SIZE, reduction):
            raise CheckFailed(
                f"{label} is {shape[2]}x{shape[3]} for a {_SIZE}x{_SIZE} input; the module declares reduction "
                f"{reduction} ({_SIZE // reduction}x{_SIZE // reduction})"
            )


def check_neck(spec: NeckSpec, rows: Rows) -> None:
    """Rows ``build`` and ``forward`` of one neck, on synthetic features of the kind it consumes."""
    channels, reductions, consumed = _neck_inputs(spec)
    name = f"neck {spec.name}"

    def forward(module: Any, features: list[Tensor], context: FeatureContext) -> str:
        outputs = module(features, context)
        if not isinstance(outputs, list | tuple):
            raise CheckFailed(f"{name}: forward returned a {type(outputs).__name__}, not a list of tensors")
        out_channels, out_reductions = list(module.out_channels), list(module.out_reductions)
        if len(outputs) != len(out_channels):
            raise CheckFailed(
                f"{name}: forward returned {len(outputs)} features, the module declares {len(out_channels)}"
            )
        if spec.out_levels is not None and len(outputs) != spec.out_levels:
            raise CheckFailed(f"{name}: forward returned {len(outputs)} features, the spec declares {spec.out_levels}")
        produced = consumed if spec.produces == "same" else spec.produces
        for index, (output, width, reduction) in enumerate(zip(outputs, out_channels, out_reductions, strict=True)):
            _check_output(name, f" {index}", output, produced, int(width), int(reduction))
        return f"{len(outputs)} {produced} as declared"

    note = f"on {len(channels)} {_NOUN[consumed]} feature(s) of {channels[0]} channels"
    _check_on_features("neck", spec, rows, (channels, reductions, consumed), note, forward)


def _decoder_inputs(spec: DecoderSpec) -> tuple[list[int], list[int], str]:
    """Features a decoder of this spec is given: a pyramid (4, 8, 16 ...), same-stride maps, tokens or vectors."""
    levels = max(1, spec.num_levels)
    if spec.consumes == "vector":
        return [_WIDTH] * levels, [0] * levels, "vector"
    if spec.needs_pyramid:
        return [_WIDTH] * levels, [2 ** (i + 2) for i in range(levels)], "maps"
    return [_WIDTH] * levels, [16] * levels, "tokens" if spec.consumes == "tokens" else "maps"


def check_decoder(spec: DecoderSpec, rows: Rows) -> None:
    """Rows ``build`` and ``forward`` of one decoder, on synthetic features of what it consumes."""
    channels, reductions, consumed = _decoder_inputs(spec)
    name = f"decoder {spec.name}"

    def forward(module: Any, features: list[Tensor], context: FeatureContext) -> str:
        output = module(features)
        if not isinstance(output, Tensor):
            raise CheckFailed(f"{name}: forward returned a {type(output).__name__}, not a tensor")
        _check_output(name, "", output, "maps", int(module.out_channels), int(module.out_reduction))
        return f"output {_shape(output)} as declared"

    note = f"on {len(channels)} {_NOUN[consumed]} feature(s) of {channels[0]} channels, reductions {reductions}"
    _check_on_features("decoder", spec, rows, (channels, reductions, consumed), note, forward)
