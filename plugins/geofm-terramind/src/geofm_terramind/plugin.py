"""Hook implementations of geofm-terramind: the TerraMind v1 backbone specs (no torch; factories are lazy)."""

from __future__ import annotations

from collections.abc import Iterable

from geofm.backbone_kit import token_backbone_spec
from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, WeightsSpec
from geofm_terramind.modalities import DEFAULT_MODALITY, MODALITIES, modalities_metadata
from geofm_terramind.variants import (
    CITATION,
    LICENSE,
    OPTIONS,
    PATCH_SIZE,
    VARIANTS,
    TerraMindVariant,
)

__all__ = ["STATISTICS_SOURCES", "backbone_spec", "geofm_backbones", "weights_statistics"]

STATISTICS_SOURCES: dict[str, str] = {
    **dict.fromkeys(MODALITIES["S2L2A"].bands, "S2L2A"),
    "CIRRUS": "S2L1C",
    "VV": "S1GRD",
    "VH": "S1GRD",
}
"""Which modality's pretraining statistics normalise each band of a run (one value per band; see README)."""


def weights_statistics() -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """(bands, mean, std) of the weights spec: every band of every modality that geofm's vocabulary names.

    Bands in S2L1C order then VV, VH, so that a Sentinel-2 L1C + Sentinel-1 stack (Sen1Floods11 ``s1s2``)
    arrives in the modalities' own order. A band shared by modalities gets the statistics of the modality
    in :data:`STATISTICS_SOURCES` (Sentinel-2: S2L2A, the default modality; CIRRUS: S2L1C; VV / VH: S1GRD).
    """
    bands = (*MODALITIES["S2L1C"].bands, "VV", "VH")
    mean, std = [], []
    for band in bands:
        modality = MODALITIES[STATISTICS_SOURCES[band]]
        index = modality.bands.index(band)
        mean.append(modality.mean[index])
        std.append(modality.std[index])
    return bands, tuple(mean), tuple(std)


def _weights(variant: TerraMindVariant) -> WeightsSpec:
    bands, mean, std = weights_statistics()
    return WeightsSpec(
        tag="default",
        bands=bands,
        mean=mean,
        std=std,
        hf_repo=variant.hf_repo,
        hf_file=variant.hf_file,
        license=LICENSE,
        citation=CITATION,
        layout=(
            f"flat dict of the whole encoder-decoder model ({variant.checkpoint_keys} tensors): "
            "encoder_embeddings.<key of each built modality>.*, encoder.*, encoder_norm.* kept; the decoder, "
            "tokenised-modality embeddings, other modalities and mask_token dropped"
        ),
    )


def backbone_spec(variant: TerraMindVariant) -> BackboneSpec:
    """The :class:`~geofm.specs.BackboneSpec` of one released variant."""
    blocks = "SwiGLU, no biases" if variant.gated_mlp else "GELU MLP, biases"
    # merge_method=concat widens every feature to dim x modalities; the module's out_channels say so
    return token_backbone_spec(
        variant,
        factory_module="geofm_terramind.factory",
        patch_size=PATCH_SIZE,
        options=OPTIONS,
        weights={"default": _weights(variant)},
        default_weights="default",
        # each band is normalised with the statistics of the modality it feeds (L1C and L2A differ)
        statistics="geofm_terramind.modalities:run_statistics",
        license=LICENSE,
        citation=CITATION,
        # geofm.compose passes ``extra`` to the factory as options; the factory drops these keys
        extra={
            "modality_table": modalities_metadata(),
            "default_modalities": [DEFAULT_MODALITY],
            "statistics_sources": dict(STATISTICS_SOURCES),
            "merge_methods": ["mean", "max", "concat"],
            "blocks": f"{variant.depth} x ({variant.num_heads} heads, {blocks})",
        },
    )


@hookimpl
def geofm_backbones() -> Iterable[BackboneSpec]:
    """TerraMind v1 tiny, small, base and large encoders."""
    return [backbone_spec(variant) for variant in VARIANTS.values()]
