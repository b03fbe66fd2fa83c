"""Hook implementations of the ``geofm-prithvi`` plugin: the Prithvi-EO backbones (specs only, no torch).

The factories (:mod:`geofm_prithvi.build`) are named lazily, so listing these backbones never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable

from geofm.backbone_kit import token_backbone_spec
from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, WeightsSpec
from geofm_prithvi.variants import LICENSE, OPTIONS, PRETRAINING_BANDS, VARIANTS, PrithviVariant

__all__ = ["backbone_spec", "geofm_backbones"]


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
    return token_backbone_spec(
        variant,
        factory_module="geofm_prithvi.build",
        patch_size=patch,
        options=OPTIONS,
        num_prefix_tokens=1,
        num_frames=variant.num_frames,
        max_frames=0,
        accepts=accepts,
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
