"""The backbone factories the plugin's specs name: one per released variant, all through :func:`build_prithvi`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geofm.errors import ConfigError
from geofm_prithvi.checkpoint import load_checkpoint
from geofm_prithvi.model import PrithviViT
from geofm_prithvi.variants import PRETRAINING_BANDS, VARIANTS

__all__ = [
    "ARCHITECTURE_OPTIONS",
    "build_prithvi",
    "prithvi_eo_v1_100",
    "prithvi_eo_v2_100_tl",
    "prithvi_eo_v2_300",
    "prithvi_eo_v2_300_tl",
    "prithvi_eo_v2_600",
    "prithvi_eo_v2_600_tl",
    "prithvi_eo_v2_tiny_tl",
]

ARCHITECTURE_OPTIONS: dict[str, str] = {
    "embed_dim": "token width (overrides the variant's; for small test configurations)",
    "depth": "number of transformer blocks",
    "num_heads": "attention heads",
    "mlp_ratio": "MLP hidden width / embed_dim (default 4)",
    "patch_size": "patch size in pixels, or (tubelet, h, w)",
    "coords_encoding": "extra encodings: a list of 'time' and 'location' (TL variants have both)",
    "coords_scale_learn": "learn the scale of the TL encodings (true for the TL checkpoints)",
    "grad_checkpointing": "recompute block activations in the backward pass to save memory (default false)",
}
"""The factory's keyword options (besides checkpoint, bands, num_frames, img_size) and what they do."""


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"option {name}={value!r} is not a boolean; use true or false")
    return bool(value)


def build_prithvi(
    variant: str,
    *,
    checkpoint: Path | str | None = None,
    bands: Sequence[str] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    **options: Any,
) -> PrithviViT:
    """Build the Prithvi-EO encoder ``variant`` (a name in :data:`~geofm_prithvi.variants.VARIANTS`).

    ``checkpoint`` is a local file in either released layout (``None``: random initialisation);
    ``bands`` the model's input bands (``None``: the six pretraining bands), adapted from the pretrained
    ones when they differ; ``num_frames`` / ``img_size`` set the stored position grid (default: the
    pretraining 3 or 4 frames at 224 px; an ``img_size`` that is not a multiple of the patch is rounded
    up, as the composed model pads its input). ``options`` are :data:`ARCHITECTURE_OPTIONS`.

    The module gets ``bands``, ``pretrained_bands`` and ``checkpoint_report`` (see
    :func:`~geofm_prithvi.checkpoint.load_checkpoint`; ``None`` without a checkpoint) attributes.
    """
    spec = VARIANTS[variant]
    unknown = sorted(set(options) - set(ARCHITECTURE_OPTIONS))
    if unknown:
        raise ConfigError(
            f"{variant} has no option {', '.join(unknown)}; its options are {', '.join(ARCHITECTURE_OPTIONS)}"
        )
    patch = options.get("patch_size", spec.patch_size)
    patch_hw = patch if isinstance(patch, int) else int(tuple(patch)[-1])
    size = int(img_size or spec.img_size)
    size = math.ceil(size / patch_hw) * patch_hw
    model_bands = tuple(bands) if bands else PRETRAINING_BANDS
    model = PrithviViT(
        img_size=size,
        patch_size=patch,
        num_frames=int(num_frames or spec.num_frames),
        in_chans=len(model_bands),
        embed_dim=int(options.get("embed_dim", spec.embed_dim)),
        depth=int(options.get("depth", spec.depth)),
        num_heads=int(options.get("num_heads", spec.num_heads)),
        mlp_ratio=float(options.get("mlp_ratio", spec.mlp_ratio)),
        coords_encoding=tuple(options.get("coords_encoding", spec.coords_encoding)),
        coords_scale_learn=_as_bool(options.get("coords_scale_learn", spec.coords_scale_learn), "coords_scale_learn"),
        grad_checkpointing=_as_bool(options.get("grad_checkpointing", False), "grad_checkpointing"),
    )
    model.bands = model_bands
    model.pretrained_bands = PRETRAINING_BANDS
    model.checkpoint_report = None
    if checkpoint is not None:
        model.checkpoint_report = load_checkpoint(
            model, checkpoint, checkpoint_bands=PRETRAINING_BANDS, model_bands=model_bands
        )
    return model


def _factory(variant: str) -> Any:
    def factory(
        *,
        checkpoint: Path | str | None = None,
        bands: Sequence[str] | None = None,
        num_frames: int | None = None,
        img_size: int | None = None,
        **options: Any,
    ) -> PrithviViT:
        return build_prithvi(
            variant, checkpoint=checkpoint, bands=bands, num_frames=num_frames, img_size=img_size, **options
        )

    factory.__name__ = factory.__qualname__ = variant
    factory.__doc__ = f"Build {variant} ({VARIANTS[variant].summary}); see :func:`build_prithvi`."
    return factory


prithvi_eo_v1_100 = _factory("prithvi_eo_v1_100")
prithvi_eo_v2_300 = _factory("prithvi_eo_v2_300")
prithvi_eo_v2_300_tl = _factory("prithvi_eo_v2_300_tl")
prithvi_eo_v2_600 = _factory("prithvi_eo_v2_600")
prithvi_eo_v2_600_tl = _factory("prithvi_eo_v2_600_tl")
prithvi_eo_v2_tiny_tl = _factory("prithvi_eo_v2_tiny_tl")
prithvi_eo_v2_100_tl = _factory("prithvi_eo_v2_100_tl")
