"""The Clay architectures the plugin registers (pure metadata, no torch): sizes, chip and weights file."""

from __future__ import annotations

from dataclasses import dataclass

from geofm.backbone_kit import quarter_levels

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
    img_size: int
    hf_file: str
    default_levels: tuple[int, ...]
    summary: str
    dim_head: int = 64
    mlp_ratio: float = 4.0
    patch_size: int = 8

    @property
    def embed_dim(self) -> int:
        """The token width (``dim``), as the backbone spec names it."""
        return self.dim


_SUMMARY = "Clay {} (ViT-{}, patch 8): any bands via wavelength-conditioned patch embedding"

VARIANTS: dict[str, ClayVariant] = {
    variant.name: variant
    for variant in (
        ClayVariant("clay_v1_base", 768, 12, 12, 224, "clay-v1-base.ckpt", (3, 5, 7, 11),
                    _SUMMARY.format("v1 base", "B")),
        ClayVariant("clay_v1_5_large", 1024, 24, 16, 256, "v1.5/clay-v1.5.ckpt", quarter_levels(24),
                    _SUMMARY.format("v1.5 large", "L")),
    )
}  # fmt: skip
"""Backbone name -> its architecture (name, dim, depth, heads, pretraining chip, weights file, levels, summary)."""

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
