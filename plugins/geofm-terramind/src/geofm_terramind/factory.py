"""The backbone factories the plugin's specs name: one per released size, all through :func:`build_terramind`."""

from __future__ import annotations

from geofm.backbone_kit import BackboneRequest, TransformerGeometry, variant_factory
from geofm.backbone_kit.options import as_bool, check_options, check_single_frame, round_up
from geofm.errors import ConfigError
from geofm_terramind.checkpoint import load_checkpoint
from geofm_terramind.modalities import plan_inputs
from geofm_terramind.model import MERGE_METHODS, TerraMindEncoder
from geofm_terramind.variants import OPTIONS, PATCH_SIZE, VARIANTS

__all__ = [
    "build_terramind",
    "terramind_v1_base",
    "terramind_v1_large",
    "terramind_v1_small",
    "terramind_v1_tiny",
]

_SPEC_METADATA = ("modality_table", "default_modalities", "statistics_sources", "merge_methods", "blocks")
"""The spec's ``extra`` entries (passed by geofm.compose as options) that are metadata, not options."""


def build_terramind(request: BackboneRequest) -> TerraMindEncoder:
    """Build the TerraMind v1 encoder ``request.variant`` (a name of :data:`~geofm_terramind.variants.VARIANTS`).

    ``bands`` are the canonical bands of the stacked input, in channel order: each modality takes the
    channels of its bands and its input layer is adapted to them (``None``: every modality takes its
    pretraining bands, one modality after the other). ``modalities`` defaults to those the bands imply
    (:func:`~geofm_terramind.modalities.infer_modalities`). ``checkpoint`` is a released file (or one in its
    layout), loaded strictly (:func:`~geofm_terramind.checkpoint.load_checkpoint`). ``img_size`` sets the
    stored position grid (default 224, the pretraining grid of the released tables); any input size
    works. Other options: :data:`~geofm_terramind.variants.OPTIONS`.

    The module gets a ``checkpoint_report`` attribute (``None`` without a checkpoint).
    """
    variant, options = request.variant, request.options
    check_options(variant, options, OPTIONS, _SPEC_METADATA)
    check_single_frame(variant, request.num_frames)
    merge_method = str(options.get("merge_method", "mean")).strip().lower()
    if merge_method not in MERGE_METHODS:
        raise ConfigError(f"{variant}: merge_method must be one of {', '.join(MERGE_METHODS)}, not {merge_method!r}")
    spec = VARIANTS[variant]
    model = TerraMindEncoder(
        plan_inputs(options.get("modalities"), request.bands or None),
        TransformerGeometry.of(spec, options, width="dim"),
        gated_mlp=spec.gated_mlp,
        bias=spec.bias,
        img_size=round_up(int(request.img_size or spec.img_size), PATCH_SIZE),  # the composed model pads inputs too
        patch_size=PATCH_SIZE,
        merge_method=merge_method,
        grad_checkpointing=as_bool(options.get("grad_checkpointing", False), "grad_checkpointing"),
    )
    model.checkpoint_report = load_checkpoint(model, request.checkpoint) if request.checkpoint is not None else None
    return model


terramind_v1_tiny = variant_factory(build_terramind, "terramind_v1_tiny", VARIANTS["terramind_v1_tiny"].summary)
terramind_v1_small = variant_factory(build_terramind, "terramind_v1_small", VARIANTS["terramind_v1_small"].summary)
terramind_v1_base = variant_factory(build_terramind, "terramind_v1_base", VARIANTS["terramind_v1_base"].summary)
terramind_v1_large = variant_factory(build_terramind, "terramind_v1_large", VARIANTS["terramind_v1_large"].summary)
