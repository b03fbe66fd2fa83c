"""The TerraMind v1 encoder sizes the plugin registers (pure metadata, no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from geofm.backbone_kit import GRAD_CHECKPOINTING, quarter_levels

__all__ = ["CITATION", "LICENSE", "OPTIONS", "PATCH_SIZE", "PRETRAINING_IMG_SIZE", "VARIANTS", "TerraMindVariant"]

LICENSE = "Apache-2.0"
"""Licence of the code and of the released weights."""

CITATION = (
    "Jakubik, J. et al. (2025). TerraMind: Large-Scale Generative Multimodality for "
    "Earth Observation. ICCV 2025. arXiv:2504.11171 (pretraining data: TerraMesh, arXiv:2504.11172)"
)

PATCH_SIZE = 16
"""Pixels per token side, every variant."""

PRETRAINING_IMG_SIZE = 224
"""The pretraining chip (a 14 x 14 position table per modality)."""


@dataclass(frozen=True)
class TerraMindVariant:
    """One released TerraMind v1 encoder; its name, hub repository and file follow from ``size``.

    ``gated_mlp`` selects SwiGLU blocks without biases (base, large) instead of GELU MLP blocks with biases
    (tiny, small); ``decoder_depth`` is the number of decoder blocks stored beside the encoder in the
    released file (dropped by the backbone); ``checkpoint_keys`` the number of tensors in that file.
    """

    size: str
    dim: int
    depth: int
    num_heads: int
    gated_mlp: bool
    decoder_depth: int
    checkpoint_keys: int
    mlp_ratio: float = 4.0
    img_size: int = PRETRAINING_IMG_SIZE

    @property
    def name(self) -> str:
        """The backbone name, ``terramind_v1_<size>``."""
        return f"terramind_v1_{self.size}"

    @property
    def hf_repo(self) -> str:
        """The Hugging Face repository of the released file."""
        return f"ibm-esa-geospatial/TerraMind-1.0-{self.size}"

    @property
    def hf_file(self) -> str:
        """The released file (the whole encoder-decoder model)."""
        return f"TerraMind_v1_{self.size}.pt"

    @property
    def embed_dim(self) -> int:
        """The token width (``dim``), as the backbone spec names it."""
        return self.dim

    @property
    def default_levels(self) -> tuple[int, ...]:
        """The last block of each quarter of the encoder."""
        return quarter_levels(self.depth)

    @property
    def bias(self) -> bool:
        """Whether qkv, attention output and MLP layers have biases."""
        return not self.gated_mlp

    @property
    def summary(self) -> str:
        """One line for ``geofm backbones list``."""
        blocks = "SwiGLU" if self.gated_mlp else "GELU"
        return (
            f"TerraMind v1 {self.size} encoder ({self.dim} x {self.depth}, {blocks}): "
            "Sentinel-2 / Sentinel-1 / DEM modalities, merged per token"
        )


VARIANTS: dict[str, TerraMindVariant] = {
    v.name: v
    for v in (
        # size, dim, depth, heads, gated MLP, decoder depth, checkpoint keys
        TerraMindVariant("tiny", 192, 12, 3, False, 4, 306),
        TerraMindVariant("small", 384, 12, 6, False, 6, 350),
        TerraMindVariant("base", 768, 12, 12, True, 12, 374),
        TerraMindVariant("large", 1024, 24, 16, True, 24, 674),
    )
}
"""Backbone name -> its architecture and released file."""

OPTIONS: dict[str, str] = {
    "modalities": "input modalities in order, e.g. [S2L1C,S1GRD] (S2L2A, S2L1C, S2RGB, S1GRD, S1RTC, DEM); "
    "default: inferred from the bands (Sentinel-2 with CIRRUS -> S2L1C, else S2L2A; VV/VH -> S1GRD), "
    "S2L2A without bands",
    "merge_method": "how the modalities' tokens merge per position: mean (default), max, or concat "
    "(features of dim x number of modalities)",
    "grad_checkpointing": GRAD_CHECKPOINTING,
    "dim": "token width (overrides the variant's; for small test configurations)",
    "depth": "number of transformer blocks",
    "num_heads": "attention heads",
    "mlp_ratio": "MLP hidden width / dim before the SwiGLU 2/3 factor (default 4)",
}
"""The keyword options the backbone factories accept (name -> description)."""
