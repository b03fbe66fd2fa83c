"""Backbone factories of the plugin (the specs name them): build a :class:`ClayEncoder` and load weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm_clay.checkpoint import load_clay_checkpoint
from geofm_clay.model import ClayEncoder
from geofm_clay.sensors import DEFAULT_SENSOR, get_sensor, wavelengths_for
from geofm_clay.variants import OPTIONS, VARIANTS

__all__ = ["build_clay", "clay_v1_5_large", "clay_v1_base"]


_ARCHITECTURE = ("dim", "depth", "heads", "dim_head", "mlp_ratio", "patch_size")
_SPEC_METADATA = ("sensors", "default_sensor")


def build_clay(
    variant: str,
    *,
    checkpoint: Path | None = None,
    bands: tuple[str, ...] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    **options: Any,
) -> ClayEncoder:
    """Build the Clay encoder ``variant`` (a name of :data:`~geofm_clay.variants.VARIANTS`).

    ``bands`` are the input channels' band names (default: Clay's Sentinel-2 L2A bands); their
    wavelengths condition the patch embedding. ``checkpoint`` is a Clay Lightning checkpoint, loaded
    strictly. Options: see :data:`~geofm_clay.variants.OPTIONS`; the spec's ``extra`` entries that are not
    options (``sensors``, ``default_sensor``) are accepted and ignored.
    """
    for key in _SPEC_METADATA:  # geofm.compose passes the spec's ``extra`` as options
        options.pop(key, None)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"{variant} has no option {', '.join(unknown)}; its options: {', '.join(OPTIONS)}")
    if num_frames not in (None, 1):
        raise ConfigError(f"{variant} is a single-time model: num_frames must be 1, not {num_frames}")
    config = VARIANTS[variant]
    architecture = {name: options.get(name, getattr(config, name)) for name in _ARCHITECTURE}
    sensor = options.get("sensor")
    band_names = tuple(bands) if bands is not None else get_sensor(DEFAULT_SENSOR).canonical
    explicit: Sequence[float] | None = options.get("wavelengths")
    if explicit is not None:
        waves = tuple(float(w) for w in explicit)
        if len(waves) != len(band_names):
            raise ConfigError(f"{len(waves)} wavelengths for {len(band_names)} bands ({', '.join(band_names)})")
    else:
        waves = wavelengths_for(band_names, sensor)
    default_gsd = options.get("gsd", get_sensor(sensor).gsd if sensor else get_sensor(DEFAULT_SENSOR).gsd)
    module = ClayEncoder(
        **architecture,
        band_names=band_names,
        wavelengths=waves,
        default_gsd=float(default_gsd),
        img_size=img_size or config.img_size,
        grad_checkpointing=bool(options.get("grad_checkpointing", False)),
    )
    if checkpoint is not None:
        load_clay_checkpoint(module, checkpoint)
    return module


def clay_v1_base(**kwargs: Any) -> ClayEncoder:
    """Clay v1 base (dim 768, 12 layers, patch 8); see :func:`build_clay`."""
    return build_clay("clay_v1_base", **kwargs)


def clay_v1_5_large(**kwargs: Any) -> ClayEncoder:
    """Clay v1.5 large (dim 1024, 24 layers, patch 8); see :func:`build_clay`."""
    return build_clay("clay_v1_5_large", **kwargs)
