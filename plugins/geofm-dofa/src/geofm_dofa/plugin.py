"""Hook implementations of geofm-dofa: the DOFA backbone specs (no torch here; factories are lazy)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from geofm.backbone_kit import token_backbone_spec
from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, WeightsSpec
from geofm_dofa.variants import (
    CITATION,
    CODE_LICENSE,
    HUB_REVISION,
    OPTIONS,
    VARIANTS,
    WAVELENGTH_DIM,
    WEIGHTS_LICENSE,
    DofaVariant,
)
from geofm_dofa.wavelengths import CANONICAL_WAVELENGTHS, sensor_wavelengths

__all__ = ["backbone_spec", "geofm_backbones"]

STATISTICS = (
    "none: DOFA releases no pretraining statistics; inputs are normalised with the dataset's own per-band "
    "mean and std (computed on its training split unless given)"
)


def _extra(variant: DofaVariant) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "band_wavelengths_um": dict(CANONICAL_WAVELENGTHS),
        "sensors": sensor_wavelengths(),
        "statistics": STATISTICS,
        "wavelength_dim": WAVELENGTH_DIM,
    }
    if variant.weights:
        extra["hub_revision"] = f"{variant.weights[0].hf_repo}@{HUB_REVISION} (the revision the reference pins)"
        extra["checkpoint_keys"] = variant.checkpoint_keys
    return extra


def backbone_spec(variant: DofaVariant) -> BackboneSpec:
    """The :class:`~geofm.specs.BackboneSpec` of one DOFA variant."""
    weights = {
        item.tag: WeightsSpec(
            tag=item.tag,
            bands=(),  # any bands: the weights carry no band list and no statistics
            mean=(),
            std=(),
            hf_repo=item.hf_repo,
            hf_file=item.hf_file,
            license=WEIGHTS_LICENSE,
            citation=CITATION,
            layout=item.layout,
        )
        for item in variant.weights
    }
    return token_backbone_spec(
        variant,
        factory_module="geofm_dofa.factory",
        patch_size=variant.patch_size,
        options=OPTIONS,
        num_prefix_tokens=1,
        accepts=("wavelengths",),
        input_bands="any",
        weights=weights,
        default_weights="default" if weights else None,
        license=f"weights {WEIGHTS_LICENSE}; code: {CODE_LICENSE}" if weights else f"code: {CODE_LICENSE}",
        citation=CITATION,
        extra=_extra(variant),
    )


@hookimpl
def geofm_backbones() -> Iterable[BackboneSpec]:
    """DOFA small (no released weights), base and large (torchgeo and original releases)."""
    return [backbone_spec(variant) for variant in VARIANTS.values()]
