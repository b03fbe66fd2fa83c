"""Hook implementations of the ``geofm-prithvi`` plugin: the Prithvi-EO backbones (specs only, no torch).

The factories (:mod:`geofm_prithvi.build`) are named lazily, so listing these backbones never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, WeightsSpec
from geofm_prithvi.variants import LICENSE, PRETRAINING_BANDS, VARIANTS, PrithviVariant

__all__ = ["backbone_spec", "geofm_backbones"]

# Mirrors geofm_prithvi.build.ARCHITECTURE_OPTIONS (kept here so that plugin.py imports no torch).
_OPTIONS: dict[str, str] = {
    "embed_dim": "token width (overrides the variant's; for small test configurations)",
    "depth": "number of transformer blocks",
    "num_heads": "attention heads",
    "mlp_ratio": "MLP hidden width / embed_dim (default 4)",
    "patch_size": "patch size in pixels, or (tubelet, h, w)",
    "coords_encoding": "extra encodings: a list of 'time' and 'location' (TL variants have both)",
    "coords_scale_learn": "learn the scale of the TL encodings (true for the TL checkpoints)",
    "grad_checkpointing": "recompute block activations in the backward pass to save memory (default false)",
}


def backbone_spec(variant: PrithviVariant) -> BackboneSpec:
    """The :class:`~geofm.specs.BackboneSpec` of one released variant."""
    weights = WeightsSpec(
        tag="default",
        bands=PRETRAINING_BANDS,
        mean=variant.mean,
        std=variant.std,
        hf_repo=variant.hf_repo,
        hf_file=variant.hf_file,
        license=LICENSE,
        citation=variant.citation,
        layout="prithvi_mae",
    )
    _, patch, _ = variant.patch_size
    accepts = ("time", "location") if variant.coords_encoding else ()
    return BackboneSpec(
        name=variant.name,
        summary=variant.summary,
        factory=f"geofm_prithvi.build:{variant.name}",
        options=_OPTIONS,
        output_kind="tokens",
        embed_dim=variant.embed_dim,
        depth=variant.depth,
        feature_channels=(variant.embed_dim,) * variant.depth,
        feature_reductions=(patch,) * variant.depth,
        default_levels=variant.default_levels,
        num_prefix_tokens=1,
        patch_size=patch,
        img_size=variant.img_size,
        num_frames=variant.num_frames,
        max_frames=0,
        accepts=accepts,
        input_bands="fixed",
        weights={"default": weights},
        default_weights="default",
        license=LICENSE,
        citation=variant.citation,
        # Passed by geofm.compose as factory options (user options win): keep to factory option names.
        extra={
            "num_heads": variant.num_heads,
            "mlp_ratio": variant.mlp_ratio,
            "patch_size": list(variant.patch_size),
            "coords_encoding": list(variant.coords_encoding),
            "coords_scale_learn": variant.coords_scale_learn,
        },
    )


@hookimpl
def geofm_backbones() -> Iterable[BackboneSpec]:
    """The seven released Prithvi-EO encoders (v1 100M; v2 300M, 600M, their TL versions, tiny-TL, 100M-TL)."""
    return [backbone_spec(variant) for variant in VARIANTS.values()]
