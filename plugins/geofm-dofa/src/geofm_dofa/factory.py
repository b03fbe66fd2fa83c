"""The backbone factories the plugin's specs name: one per variant, all through :func:`build_dofa`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm_dofa.checkpoint import load_dofa_checkpoint
from geofm_dofa.model import DOFAEncoder
from geofm_dofa.variants import OPTIONS, SPEC_METADATA, VARIANTS
from geofm_dofa.wavelengths import dofa_wavelengths

__all__ = ["build_dofa", "dofa_base_patch16_224", "dofa_large_patch16_224", "dofa_small"]


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)


def _explicit_wavelengths(value: Any, bands: tuple[str, ...] | None, variant: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        waves = tuple(float(item) for item in items)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{variant}: option wavelengths={value!r} must be numbers (micrometres)") from error
    if bands is not None and len(waves) != len(bands):
        raise ConfigError(
            f"{variant}: {len(waves)} wavelengths for {len(bands)} bands ({', '.join(bands)}); give one per band"
        )
    if not waves or any(w <= 0 for w in waves):
        raise ConfigError(f"{variant}: wavelengths must be positive micrometres, one per band; got {list(waves)}")
    return waves


def build_dofa(
    variant: str,
    *,
    checkpoint: Path | str | None = None,
    bands: Sequence[str] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    **options: Any,
) -> DOFAEncoder:
    """Build the DOFA encoder ``variant`` (a name in :data:`~geofm_dofa.variants.VARIANTS`).

    ``bands``: the input channels' band names, whose wavelengths (:mod:`geofm_dofa.wavelengths`)
    generate the patch embedding; ``None`` means channels as given (wavelengths or band names come with
    each call). No band adaptation ever happens: one checkpoint serves every band list. ``img_size``
    fixes the position grid (default 224; rounded up to a multiple of the patch); ``checkpoint`` is a
    file in either released layout, loaded strictly with ``pos_embed`` resized to the grid. Options: see
    :data:`~geofm_dofa.variants.OPTIONS`; the spec's ``extra`` metadata is accepted and ignored.

    The module's ``checkpoint_report`` says what was loaded and dropped (``None`` without a checkpoint).
    """
    for key in SPEC_METADATA:  # geofm.compose passes the spec's ``extra`` as options
        options.pop(key, None)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"{variant} has no option {', '.join(unknown)}; its options: {', '.join(OPTIONS)}")
    if num_frames not in (None, 1):
        raise ConfigError(f"{variant} is a single-time model: num_frames must be 1, not {num_frames}")
    config = VARIANTS[variant]
    patch = int(options.get("patch_size", config.patch_size))
    if patch < 3:
        raise ConfigError(f"{variant}: patch_size must be at least 3 (the patch convolution pads 1 pixel)")
    size = int(img_size or config.img_size)
    size = -(-size // patch) * patch
    band_names = tuple(bands) if bands is not None else None
    waves = _explicit_wavelengths(options.get("wavelengths"), band_names, variant)
    if waves is None and band_names is not None:
        waves = dofa_wavelengths(band_names)
    model = DOFAEncoder(
        img_size=size,
        patch_size=patch,
        embed_dim=int(options.get("embed_dim", config.embed_dim)),
        depth=int(options.get("depth", config.depth)),
        num_heads=int(options.get("num_heads", config.num_heads)),
        mlp_ratio=float(options.get("mlp_ratio", config.mlp_ratio)),
        bands=band_names,
        wavelengths=waves,
        dynamic_img_size=_as_bool(options.get("dynamic_img_size", True), "dynamic_img_size"),
        grad_checkpointing=_as_bool(options.get("grad_checkpointing", False), "grad_checkpointing"),
    )
    if checkpoint is not None:
        model.checkpoint_report = load_dofa_checkpoint(model, checkpoint)
    return model


def _factory(variant: str) -> Any:
    def factory(
        *,
        checkpoint: Path | str | None = None,
        bands: Sequence[str] | None = None,
        num_frames: int | None = None,
        img_size: int | None = None,
        **options: Any,
    ) -> DOFAEncoder:
        return build_dofa(
            variant, checkpoint=checkpoint, bands=bands, num_frames=num_frames, img_size=img_size, **options
        )

    factory.__name__ = factory.__qualname__ = variant
    factory.__doc__ = f"Build {variant} ({VARIANTS[variant].summary}); see :func:`build_dofa`."
    return factory


dofa_small = _factory("dofa_small")
dofa_base_patch16_224 = _factory("dofa_base_patch16_224")
dofa_large_patch16_224 = _factory("dofa_large_patch16_224")
