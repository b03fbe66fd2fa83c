"""Backbone factories of the plugin (the specs name them): build a :class:`ClayEncoder` and load weights."""

from __future__ import annotations

from collections.abc import Sequence

from geofm.backbone_kit import BackboneRequest, TransformerGeometry, check_options, check_single_frame, variant_factory
from geofm.errors import ConfigError
from geofm_clay.checkpoint import load_clay_checkpoint
from geofm_clay.model import ClayEncoder
from geofm_clay.sensors import DEFAULT_SENSOR, get_sensor, wavelengths_for
from geofm_clay.variants import OPTIONS, VARIANTS

__all__ = ["build_clay", "clay_v1_5_large", "clay_v1_base"]


_SPEC_METADATA = ("sensors", "default_sensor")


def build_clay(request: BackboneRequest) -> ClayEncoder:
    """Build the Clay encoder ``request.variant`` (a name of :data:`~geofm_clay.variants.VARIANTS`).

    ``bands`` are the input channels' band names (default: Clay's Sentinel-2 L2A bands); their
    wavelengths condition the patch embedding. ``checkpoint`` is a Clay Lightning checkpoint, loaded
    strictly. Options: see :data:`~geofm_clay.variants.OPTIONS`; the spec's ``extra`` entries that are not
    options (``sensors``, ``default_sensor``) are accepted and ignored.
    """
    variant, options, bands = request.variant, request.options, request.bands
    check_options(variant, options, OPTIONS, _SPEC_METADATA)
    check_single_frame(variant, request.num_frames)
    config = VARIANTS[variant]
    sensor = options.get("sensor")
    band_names = bands if bands is not None else get_sensor(DEFAULT_SENSOR).canonical
    explicit: Sequence[float] | None = options.get("wavelengths")
    if explicit is not None:
        waves = tuple(float(w) for w in explicit)
        if len(waves) != len(band_names):
            raise ConfigError(f"{len(waves)} wavelengths for {len(band_names)} bands ({', '.join(band_names)})")
    else:
        waves = wavelengths_for(band_names, sensor)
    default_gsd = options.get("gsd", get_sensor(sensor).gsd if sensor else get_sensor(DEFAULT_SENSOR).gsd)
    module = ClayEncoder(
        TransformerGeometry.of(config, options, width="dim", heads="heads"),
        dim_head=options.get("dim_head", config.dim_head),
        patch_size=options.get("patch_size", config.patch_size),
        band_names=band_names,
        wavelengths=waves,
        default_gsd=float(default_gsd),
        img_size=request.img_size or config.img_size,
        grad_checkpointing=bool(options.get("grad_checkpointing", False)),
    )
    if request.checkpoint is not None:
        load_clay_checkpoint(module, request.checkpoint)
    return module


clay_v1_base = variant_factory(build_clay, "clay_v1_base", VARIANTS["clay_v1_base"].summary)
clay_v1_5_large = variant_factory(build_clay, "clay_v1_5_large", VARIANTS["clay_v1_5_large"].summary)
