"""The backbone factories the plugin's specs name: one per variant, all through :func:`build_dofa`."""

from __future__ import annotations

from typing import Any

from geofm.backbone_kit import BackboneRequest, TransformerGeometry, variant_factory
from geofm.backbone_kit.options import as_bool, check_options, check_single_frame, round_up
from geofm.errors import ConfigError
from geofm_dofa.checkpoint import load_dofa_checkpoint
from geofm_dofa.model import DOFAEncoder
from geofm_dofa.variants import OPTIONS, SPEC_METADATA, VARIANTS
from geofm_dofa.wavelengths import dofa_wavelengths

__all__ = ["build_dofa", "dofa_base_patch16_224", "dofa_large_patch16_224", "dofa_small"]


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


def build_dofa(request: BackboneRequest) -> DOFAEncoder:
    """Build the DOFA encoder ``request.variant`` (a name in :data:`~geofm_dofa.variants.VARIANTS`).

    ``bands``: the input channels' band names, whose wavelengths (:mod:`geofm_dofa.wavelengths`)
    generate the patch embedding; ``None`` means channels as given (wavelengths or band names come with
    each call). No band adaptation ever happens: one checkpoint serves every band list. ``img_size``
    fixes the position grid (default 224; rounded up to a multiple of the patch); ``checkpoint`` is a
    file in either released layout, loaded strictly with ``pos_embed`` resized to the grid. Options: see
    :data:`~geofm_dofa.variants.OPTIONS`; the spec's ``extra`` metadata is accepted and ignored.

    The module's ``checkpoint_report`` says what was loaded and dropped (``None`` without a checkpoint).
    """
    variant, options, band_names = request.variant, request.options, request.bands
    check_options(variant, options, OPTIONS, SPEC_METADATA)
    check_single_frame(variant, request.num_frames)
    config = VARIANTS[variant]
    patch = int(options.get("patch_size", config.patch_size))
    if patch < 3:
        raise ConfigError(f"{variant}: patch_size must be at least 3 (the patch convolution pads 1 pixel)")
    waves = _explicit_wavelengths(options.get("wavelengths"), band_names, variant)
    if waves is None and band_names is not None:
        waves = dofa_wavelengths(band_names)
    model = DOFAEncoder(
        TransformerGeometry.of(config, options),
        img_size=round_up(int(request.img_size or config.img_size), patch),
        patch_size=patch,
        bands=band_names,
        wavelengths=waves,
        dynamic_img_size=as_bool(options.get("dynamic_img_size", True), "dynamic_img_size"),
        grad_checkpointing=as_bool(options.get("grad_checkpointing", False), "grad_checkpointing"),
    )
    if request.checkpoint is not None:
        model.checkpoint_report = load_dofa_checkpoint(model, request.checkpoint)
    return model


dofa_small = variant_factory(build_dofa, "dofa_small", VARIANTS["dofa_small"].summary)
dofa_base_patch16_224 = variant_factory(build_dofa, "dofa_base_patch16_224", VARIANTS["dofa_base_patch16_224"].summary)
dofa_large_patch16_224 = variant_factory(
    build_dofa, "dofa_large_patch16_224", VARIANTS["dofa_large_patch16_224"].summary
)
