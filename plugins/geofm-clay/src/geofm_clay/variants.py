"""The Clay architectures the plugin registers (pure metadata, no torch): sizes, chip and weights file."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HF_REPO", "OPTIONS", "VARIANTS", "ClayVariant"]

HF_REPO = "made-with-clay/Clay"
"""The Hugging Face repository of the released Clay checkpoints."""


@dataclass(frozen=True)
class ClayVariant:
    """One Clay encoder size as in the specification's variant table."""

    name: str
    dim: int
    depth: int
    heads: int
    dim_head: int
    mlp_ratio: float
    patch_size: int
    img_size: int
    hf_file: str
    default_levels: tuple[int, ...]
    summary: str


VARIANTS: dict[str, ClayVariant] = {
    "clay_v1_base": ClayVariant(
        name="clay_v1_base",
        dim=768,
        depth=12,
        heads=12,
        dim_head=64,
        mlp_ratio=4.0,
        patch_size=8,
        img_size=224,
        hf_file="clay-v1-base.ckpt",
        default_levels=(3, 5, 7, 11),
        summary="Clay v1 base (ViT-B, patch 8): any bands via wavelength-conditioned patch embedding",
    ),
    "clay_v1_5_large": ClayVariant(
        name="clay_v1_5_large",
        dim=1024,
        depth=24,
        heads=16,
        dim_head=64,
        mlp_ratio=4.0,
        patch_size=8,
        img_size=256,
        hf_file="v1.5/clay-v1.5.ckpt",
        default_levels=(5, 11, 17, 23),
        summary="Clay v1.5 large (ViT-L, patch 8): any bands via wavelength-conditioned patch embedding",
    ),
}
"""Backbone name -> its architecture."""

OPTIONS: dict[str, str] = {
    "dim": "token width (default: the variant's)",
    "depth": "number of transformer layers",
    "heads": "attention heads",
    "dim_head": "width of each attention head",
    "mlp_ratio": "MLP hidden width / dim",
    "patch_size": "patch size in pixels (default 8)",
    "grad_checkpointing": "recompute layers in the backward pass to save memory (default false)",
    "gsd": "ground sample distance in metres used when a batch has none (default: the sensor's, 10 for Sentinel-2)",
    "sensor": "take the bands' wavelengths from this Clay sensor's table (e.g. landsat-c2l2-sr) "
    "instead of geofm's band vocabulary",
    "wavelengths": "explicit central wavelength (micrometres) per input band",
}
"""The keyword options the backbone factories accept (name -> description)."""
