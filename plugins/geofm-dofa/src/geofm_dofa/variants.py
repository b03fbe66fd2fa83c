"""The DOFA architectures the plugin registers (pure metadata, no torch): sizes, weights files, licences.

Numbers follow the reference (TorchGeo 0.9's ``DOFA`` as wrapped by TerraTorch 1.2.13) and its released
checkpoints: :mod:`geofm_dofa.plugin` turns each entry into a ``BackboneSpec``, :mod:`geofm_dofa.factory`
into a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from geofm.backbone_kit import GRAD_CHECKPOINTING, quarter_levels

__all__ = [
    "CITATION",
    "CODE_LICENSE",
    "HUB_REVISION",
    "OPTIONS",
    "ORIGINAL_HUB_REPO",
    "SPEC_METADATA",
    "TORCHGEO_HUB_REPO",
    "VARIANTS",
    "WAVELENGTH_DIM",
    "WEIGHTS_LICENSE",
    "DofaVariant",
    "DofaWeights",
]

TORCHGEO_HUB_REPO = "torchgeo/dofa"
"""The Hugging Face repository of the torchgeo extraction of the weights (what the reference downloads)."""

HUB_REVISION = "b8db318b64a90b9e085ec04ba8851233c5893666"
"""The revision of :data:`TORCHGEO_HUB_REPO` the reference pins (geofm downloads the repository's main)."""

ORIGINAL_HUB_REPO = "earthflow/DOFA"
"""The original release (MAE pretraining files with extra keys, which the backbone drops)."""

WAVELENGTH_DIM = 128
"""Width of the wavelength code and of the weight-generating transformer (fixed in every DOFA)."""

WEIGHTS_LICENSE = "CC-BY-4.0"
CODE_LICENSE = "reference code MIT (zhu-xlab/DOFA, TorchGeo); TerraTorch Apache-2.0; this plugin Apache-2.0"
CITATION = (
    "Xiong, Z. et al. (2024). Neural Plasticity-Inspired Multimodal Foundation Model for Earth Observation. "
    "arXiv:2403.15356 (earlier title: Neural Plasticity-Inspired Foundation Model for Observing the Earth "
    "Crossing Modalities)"
)


@dataclass(frozen=True)
class DofaWeights:
    """One released file of a variant: its tag, hub repository and file, layout and key count."""

    tag: str
    hf_repo: str
    hf_file: str
    layout: str


@dataclass(frozen=True)
class DofaVariant:
    """One DOFA encoder size as in the specification's variant table.

    ``weights`` lists the released files (the first is the default); ``checkpoint_keys`` is the number of
    tensors in the torchgeo file (``None`` where nothing is released).
    """

    name: str
    summary: str
    embed_dim: int
    depth: int
    num_heads: int
    default_levels: tuple[int, ...]
    weights: tuple[DofaWeights, ...] = ()
    checkpoint_keys: int | None = None
    mlp_ratio: float = 4.0
    patch_size: int = 16
    img_size: int = 224


_TORCHGEO_LAYOUT = (
    "torchgeo: flat tensor dict (cls_token, pos_embed, patch_embed.*, blocks.*), loaded strictly; "
    "pos_embed resized (bilinear) on load for another img_size"
)
_ORIGINAL_LAYOUT = (
    "earthflow original: the torchgeo keys plus mask_token, norm.*, projector.* (MAE leftovers, dropped and "
    "reported), loaded strictly; pos_embed resized (bilinear) on load for another img_size"
)


def _released(size: str, digest: str) -> tuple[DofaWeights, ...]:
    """The two releases of the ``size`` (base, large) encoder: the torchgeo extraction, then the original."""
    return (
        DofaWeights("default", TORCHGEO_HUB_REPO, f"dofa_{size}_patch16_224-{digest}.pth", _TORCHGEO_LAYOUT),
        DofaWeights("original", ORIGINAL_HUB_REPO, f"DOFA_ViT_{size}_e100.pth", _ORIGINAL_LAYOUT),
    )


_SUMMARY = "DOFA {} (ViT-{} {} x {}, patch 16, 224 px): any bands via wavelength-generated patch embedding{}"

VARIANTS: dict[str, DofaVariant] = {
    variant.name: variant
    for variant in (
        DofaVariant("dofa_small", _SUMMARY.format("small", "S", 384, 12, "; no released weights"), 384, 12, 6,
                    quarter_levels(12)),
        DofaVariant("dofa_base_patch16_224", _SUMMARY.format("base", "B", 768, 12, ""), 768, 12, 12,
                    quarter_levels(12), _released("base", "a0275954"), checkpoint_keys=168),
        DofaVariant("dofa_large_patch16_224", _SUMMARY.format("large", "L", 1024, 24, ""), 1024, 24, 16,
                    quarter_levels(24), _released("large", "0ff904d3"), checkpoint_keys=312),
    )
}  # fmt: skip
"""Backbone name -> its architecture and released files."""

OPTIONS: dict[str, str] = {
    "wavelengths": "central wavelength (micrometres) of each input band, instead of the band table "
    "(for bands geofm's vocabulary does not know; with bands unset they also fix the channel count)",
    "dynamic_img_size": "inputs whose size differs from img_size get the position table interpolated per call "
    "(default true); false: such an input is an error, as in the reference",
    "grad_checkpointing": GRAD_CHECKPOINTING,
    "embed_dim": "token width (overrides the variant's; for small test configurations)",
    "depth": "number of transformer blocks",
    "num_heads": "attention heads",
    "mlp_ratio": "MLP hidden width / embed_dim (default 4)",
    "patch_size": "patch (generated kernel) size in pixels, at least 3 (default 16)",
}
"""The keyword options the factories accept besides checkpoint, bands, num_frames and img_size."""

SPEC_METADATA = ("band_wavelengths_um", "sensors", "statistics", "hub_revision", "checkpoint_keys", "wavelength_dim")
"""The spec's ``extra`` entries: shown by ``geofm backbones show``, passed by geofm.compose, ignored by the factory."""
