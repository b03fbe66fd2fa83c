"""The backbone factories the plugin's specs name: one per released size, all through :func:`build_terramind`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm_terramind.checkpoint import load_checkpoint
from geofm_terramind.modalities import plan_inputs
from geofm_terramind.model import MERGE_METHODS, TerraMindEncoder
from geofm_terramind.variants import OPTIONS, PATCH_SIZE, PRETRAINING_IMG_SIZE, VARIANTS

__all__ = [
    "build_terramind",
    "terramind_v1_base",
    "terramind_v1_large",
    "terramind_v1_small",
    "terramind_v1_tiny",
]

_SPEC_METADATA = ("modality_table", "default_modalities", "statistics_sources", "merge_methods", "blocks")
"""The spec's ``extra`` entries (passed by geofm.compose as options) that are metadata, not options."""


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)


def build_terramind(
    variant: str,
    *,
    checkpoint: Path | str | None = None,
    bands: Sequence[str] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    **options: Any,
) -> TerraMindEncoder:
    """Build the TerraMind v1 encoder ``variant`` (a name of :data:`~geofm_terramind.variants.VARIANTS`).

    ``bands`` are the canonical bands of the stacked input, in channel order: each modality takes the
    channels of its bands and its input layer is adapted to them (``None``: every modality takes its
    pretraining bands, one modality after the other). ``modalities`` defaults to those the bands imply
    (:func:`~geofm_terramind.modalities.infer_modalities`). ``checkpoint`` is a released file (or one in its
    layout), loaded strictly (:func:`~geofm_terramind.checkpoint.load_checkpoint`). ``img_size`` sets the
    stored position grid (default 224, the pretraining grid of the released tables); any input size
    works. Other options: :data:`~geofm_terramind.variants.OPTIONS`.

    The module gets a ``checkpoint_report`` attribute (``None`` without a checkpoint).
    """
    for key in _SPEC_METADATA:  # geofm.compose passes the spec's ``extra`` as options
        options.pop(key, None)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"{variant} has no option {', '.join(unknown)}; its options are {', '.join(OPTIONS)}")
    if num_frames not in (None, 1):
        raise ConfigError(f"{variant} is a single-time model: num_frames must be 1, not {num_frames}")
    merge_method = str(options.get("merge_method", "mean")).strip().lower()
    if merge_method not in MERGE_METHODS:
        raise ConfigError(f"{variant}: merge_method must be one of {', '.join(MERGE_METHODS)}, not {merge_method!r}")
    spec = VARIANTS[variant]
    size = int(img_size or PRETRAINING_IMG_SIZE)
    if size % PATCH_SIZE:
        size += PATCH_SIZE - size % PATCH_SIZE  # the composed model pads inputs to the patch as well
    plan = plan_inputs(options.get("modalities"), tuple(bands) if bands else None)
    model = TerraMindEncoder(
        plan,
        dim=int(options.get("dim", spec.dim)),
        depth=int(options.get("depth", spec.depth)),
        num_heads=int(options.get("num_heads", spec.num_heads)),
        mlp_ratio=float(options.get("mlp_ratio", spec.mlp_ratio)),
        gated_mlp=spec.gated_mlp,
        bias=spec.bias,
        img_size=size,
        patch_size=PATCH_SIZE,
        merge_method=merge_method,
        grad_checkpointing=_as_bool(options.get("grad_checkpointing", False), "grad_checkpointing"),
    )
    model.checkpoint_report = load_checkpoint(model, checkpoint) if checkpoint is not None else None
    return model


def _factory(variant: str) -> Any:
    def factory(
        *,
        checkpoint: Path | str | None = None,
        bands: Sequence[str] | None = None,
        num_frames: int | None = None,
        img_size: int | None = None,
        **options: Any,
    ) -> TerraMindEncoder:
        return build_terramind(
            variant, checkpoint=checkpoint, bands=bands, num_frames=num_frames, img_size=img_size, **options
        )

    factory.__name__ = factory.__qualname__ = variant
    factory.__doc__ = f"Build {variant} ({VARIANTS[variant].summary}); see :func:`build_terramind`."
    return factory


terramind_v1_tiny = _factory("terramind_v1_tiny")
terramind_v1_small = _factory("terramind_v1_small")
terramind_v1_base = _factory("terramind_v1_base")
terramind_v1_large = _factory("terramind_v1_large")
