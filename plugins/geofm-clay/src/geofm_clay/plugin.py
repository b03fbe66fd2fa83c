"""Hook implementations of geofm-clay: the Clay backbone specs (no torch here; factories are lazy)."""

from __future__ import annotations

from collections.abc import Iterable

from geofm.backbone_kit import token_backbone_spec
from geofm.hookspecs import hookimpl
from geofm.specs import BackboneSpec, WeightsSpec
from geofm_clay.sensors import DEFAULT_SENSOR, SENSORS, sensors_metadata
from geofm_clay.variants import HF_REPO, OPTIONS, VARIANTS

__all__ = ["geofm_backbones"]

CODE_LICENSE = "Apache-2.0"
WEIGHTS_LICENSE = "OpenRAIL-M (the made-with-clay/Clay model card says license: openrail; check it before use)"
CITATION = (
    "Clay Foundation (2024). Clay Foundation Model: an open source AI model for Earth. "
    "https://github.com/Clay-foundation/model, weights https://huggingface.co/made-with-clay/Clay"
)


def _weights(hf_file: str) -> WeightsSpec:
    # revision and sha256 not pinned: the hub's published digests were not readable when this was written;
    # `geofm weights list` says "unknown" (pin them here once known)
    sensor = SENSORS[DEFAULT_SENSOR]
    return WeightsSpec(
        tag="default",
        bands=sensor.canonical,
        mean=sensor.mean,
        std=sensor.std,
        hf_repo=HF_REPO,
        hf_file=hf_file,
        license=WEIGHTS_LICENSE,
        citation=CITATION,
        layout="Lightning checkpoint: state_dict['model.encoder.*'] kept (prefix stripped), the rest dropped",
    )


@hookimpl
def geofm_backbones() -> Iterable[BackboneSpec]:
    """Clay v1 base and Clay v1.5 large."""
    for variant in VARIANTS.values():
        yield token_backbone_spec(
            variant,
            factory_module="geofm_clay.factory",
            patch_size=variant.patch_size,
            options=OPTIONS,
            num_prefix_tokens=1,
            accepts=("time", "location", "wavelengths", "gsd"),
            input_bands="any",
            weights={"default": _weights(variant.hf_file)},
            default_weights="default",
            license=f"code {CODE_LICENSE}; weights {WEIGHTS_LICENSE}",
            citation=CITATION,
            extra={
                "heads": variant.heads,
                "dim_head": variant.dim_head,
                "mlp_ratio": variant.mlp_ratio,
                "default_sensor": DEFAULT_SENSOR,
                "sensors": sensors_metadata(),
            },
        )
