"""The released Prithvi-EO variants: architecture, pretraining bands and normalisation, weights source.

Pure metadata (no torch): :mod:`geofm_prithvi.plugin` turns each entry into a ``BackboneSpec`` and
:mod:`geofm_prithvi.build` into a model. Numbers follow the Hugging Face model cards and the reference
implementation (``prithvi_mae.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from geofm.backbone_kit import GRAD_CHECKPOINTING, quarter_levels

__all__ = [
    "CITATION_V1",
    "CITATION_V2",
    "LICENSE",
    "OPTIONS",
    "PRETRAINING_BANDS",
    "V1_MEAN",
    "V1_STD",
    "V2_MEAN",
    "V2_STD",
    "VARIANTS",
    "PrithviVariant",
]

PRETRAINING_BANDS: tuple[str, ...] = ("BLUE", "GREEN", "RED", "NIR_NARROW", "SWIR_1", "SWIR_2")
"""Canonical names of the six HLS bands (B02 B03 B04 B8A/B05 B11/B06 B12/B07), in pretraining order."""

V1_MEAN = (775.23, 1080.99, 1228.59, 2497.20, 2204.21, 1610.83)
V1_STD = (1281.53, 1270.03, 1399.48, 1368.34, 1291.68, 1154.51)
V2_MEAN = (1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0)
V2_STD = (2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0)

LICENSE = "Apache-2.0"
CITATION_V1 = (
    "Jakubik, J. et al. (2023). Foundation Models for Generalist Geospatial Artificial Intelligence. arXiv:2310.18660"
)
CITATION_V2 = (
    "Szwarcman, D. et al. (2024). Prithvi-EO-2.0: A Versatile Multi-Temporal Foundation Model for Earth "
    "Observation Applications. arXiv:2412.02732"
)

OPTIONS: dict[str, str] = {
    "embed_dim": "token width (overrides the variant's; for small test configurations)",
    "depth": "number of transformer blocks",
    "num_heads": "attention heads",
    "mlp_ratio": "MLP hidden width / embed_dim (default 4)",
    "patch_size": "patch size in pixels, or (tubelet, h, w)",
    "coords_encoding": "extra encodings: a list of 'time' and 'location' (TL variants have both)",
    "coords_scale_learn": "learn the scale of the TL encodings (true for the TL checkpoints)",
    "grad_checkpointing": GRAD_CHECKPOINTING,
}
"""The factories' keyword options (besides checkpoint, bands, num_frames, img_size) and what they do."""

# The MAE decoder stored beside the encoder in every released file (dropped by the backbone).
MAE_DECODER = {"embed_dim": 512, "depth": 8, "num_heads": 16}


@dataclass(frozen=True)
class PrithviVariant:
    """One released Prithvi-EO encoder.

    ``patch_size`` is (tubelet, height, width) in frames and pixels; ``num_frames`` and ``img_size`` are
    the pretraining input; ``coords_encoding`` lists the extra encodings of the TL variants
    (``"time"``, ``"location"``); ``checkpoint_keys`` is the number of tensors in the released file
    (``None`` where not documented).
    """

    name: str
    summary: str
    version: int
    embed_dim: int
    depth: int
    num_heads: int
    patch_size: tuple[int, int, int]
    num_frames: int
    default_levels: tuple[int, ...]
    hf_repo: str
    hf_file: str
    checkpoint_keys: int | None = None
    coords_encoding: tuple[str, ...] = ()
    img_size: int = 224
    in_chans: int = 6
    mlp_ratio: float = 4.0

    @property
    def mean(self) -> tuple[float, ...]:
        """Per-band mean of the pretraining inputs (HLS reflectance x 10000)."""
        return V1_MEAN if self.version == 1 else V2_MEAN

    @property
    def std(self) -> tuple[float, ...]:
        """Per-band standard deviation of the pretraining inputs."""
        return V1_STD if self.version == 1 else V2_STD

    @property
    def citation(self) -> str:
        """How to cite the paper that introduced the weights."""
        return CITATION_V1 if self.version == 1 else CITATION_V2

    @property
    def coords_scale_learn(self) -> bool:
        """TL variants learn the scale of their temporal and location encodings."""
        return bool(self.coords_encoding)


_TL = ("time", "location")
_HUB = "ibm-nasa-geospatial"
# Revision and sha256 are not pinned: the published digests of these files could not be read from the hub's
# file listings when the specs were written (no route to the hub), so downloads follow the default branch and
# are not verified; `geofm weights list` says "unknown". Pin them in the WeightsSpec once known.

_VARIANT_TABLE: tuple[tuple[str, int, int, int, int, int, int | None, tuple[str, ...], str], ...] = (
    # size, version, embed_dim, depth, num_heads, patch, checkpoint keys, encodings, summary
    ("100M", 1, 768, 12, 12, 16, 254, (), "Prithvi-EO-1.0 100M (ViT-B, 3 frames, HLS 6 bands, 16 px patches)"),
    ("300M", 2, 1024, 24, 16, 16, 398, (), "Prithvi-EO-2.0 300M (ViT-L, 4 frames, HLS 6 bands, 16 px patches)"),
    ("300M-TL", 2, 1024, 24, 16, 16, 402, _TL,
     "Prithvi-EO-2.0 300M-TL (ViT-L with time and location encodings, 16 px patches)"),
    ("600M", 2, 1280, 32, 16, 14, 494, (), "Prithvi-EO-2.0 600M (ViT-H, 4 frames, HLS 6 bands, 14 px patches)"),
    ("600M-TL", 2, 1280, 32, 16, 14, 498, _TL,
     "Prithvi-EO-2.0 600M-TL (ViT-H with time and location encodings, 14 px patches)"),
    ("tiny-TL", 2, 192, 12, 3, 16, None, _TL,
     "Prithvi-EO-2.0 tiny-TL (ViT-Ti 192 x 12, time and location encodings, 16 px patches)"),
    ("100M-TL", 2, 768, 12, 12, 16, None, _TL,
     "Prithvi-EO-2.0 100M-TL (ViT-B with time and location encodings, 16 px patches)"),
)  # fmt: skip
"""One row per released encoder, in release order. The name, hub repository and file follow from the
version and size (``2``, ``300M-TL`` -> ``prithvi_eo_v2_300_tl``, ``Prithvi-EO-2.0-300M-TL``,
``Prithvi_EO_V2_300M_TL.pt``); v1 was pretrained on 3 frames, v2 on 4."""


def _variant(
    size: str,
    version: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    patch: int,
    checkpoint_keys: int | None,
    coords_encoding: tuple[str, ...],
    summary: str,
) -> PrithviVariant:
    return PrithviVariant(
        name=f"prithvi_eo_v{version}_{size.lower().replace('m', '').replace('-', '_')}",
        summary=summary,
        version=version,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        patch_size=(1, patch, patch),
        num_frames=3 if version == 1 else 4,
        default_levels=quarter_levels(depth),
        hf_repo=f"{_HUB}/Prithvi-EO-{version}.0-{size}",
        hf_file=f"Prithvi_EO_V{version}_{size.replace('-', '_')}.pt",
        checkpoint_keys=checkpoint_keys,
        coords_encoding=coords_encoding,
    )


VARIANTS: dict[str, PrithviVariant] = {v.name: v for v in (_variant(*row) for row in _VARIANT_TABLE)}
"""Variant name -> :class:`PrithviVariant`, in release order."""
