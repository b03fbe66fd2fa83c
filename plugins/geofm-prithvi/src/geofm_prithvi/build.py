"""The backbone factories the plugin's specs name: one per released variant, all through :func:`build_prithvi`."""

from __future__ import annotations

from geofm.backbone_kit import BackboneRequest, TransformerGeometry, variant_factory
from geofm.backbone_kit.options import as_bool, check_options, round_up
from geofm_prithvi.checkpoint import load_checkpoint
from geofm_prithvi.model import PrithviViT
from geofm_prithvi.variants import OPTIONS, PRETRAINING_BANDS, VARIANTS

__all__ = [
    "build_prithvi",
    "prithvi_eo_v1_100",
    "prithvi_eo_v2_100_tl",
    "prithvi_eo_v2_300",
    "prithvi_eo_v2_300_tl",
    "prithvi_eo_v2_600",
    "prithvi_eo_v2_600_tl",
    "prithvi_eo_v2_tiny_tl",
]


def build_prithvi(request: BackboneRequest) -> PrithviViT:
    """Build the Prithvi-EO encoder ``request.variant`` (a name in :data:`~geofm_prithvi.variants.VARIANTS`).

    ``checkpoint`` is a local file in either released layout (``None``: random initialisation);
    ``bands`` the model's input bands (``None``: the six pretraining bands), adapted from the pretrained
    ones when they differ; ``num_frames`` / ``img_size`` set the stored position grid (default: the
    pretraining 3 or 4 frames at 224 px; an ``img_size`` that is not a multiple of the patch is rounded
    up, as the composed model pads its input). ``options`` are :data:`~geofm_prithvi.variants.OPTIONS`.

    The module gets ``bands``, ``pretrained_bands`` and ``checkpoint_report`` (see
    :func:`~geofm_prithvi.checkpoint.load_checkpoint`; ``None`` without a checkpoint) attributes.
    """
    variant, options = request.variant, request.options
    spec = VARIANTS[variant]
    check_options(variant, options, OPTIONS)
    patch = options.get("patch_size", spec.patch_size)
    patch_hw = patch if isinstance(patch, int) else int(tuple(patch)[-1])
    model_bands = request.bands or PRETRAINING_BANDS
    model = PrithviViT(
        TransformerGeometry.of(spec, options),
        img_size=round_up(int(request.img_size or spec.img_size), patch_hw),
        patch_size=patch,
        num_frames=int(request.num_frames or spec.num_frames),
        in_chans=len(model_bands),
        coords_encoding=tuple(options.get("coords_encoding", spec.coords_encoding)),
        coords_scale_learn=as_bool(options.get("coords_scale_learn", spec.coords_scale_learn), "coords_scale_learn"),
        grad_checkpointing=as_bool(options.get("grad_checkpointing", False), "grad_checkpointing"),
    )
    model.bands = model_bands
    model.pretrained_bands = PRETRAINING_BANDS
    model.checkpoint_report = None
    if request.checkpoint is not None:
        model.checkpoint_report = load_checkpoint(
            model, request.checkpoint, checkpoint_bands=PRETRAINING_BANDS, model_bands=model_bands
        )
    return model


prithvi_eo_v1_100 = variant_factory(build_prithvi, "prithvi_eo_v1_100", VARIANTS["prithvi_eo_v1_100"].summary)
prithvi_eo_v2_300 = variant_factory(build_prithvi, "prithvi_eo_v2_300", VARIANTS["prithvi_eo_v2_300"].summary)
prithvi_eo_v2_300_tl = variant_factory(build_prithvi, "prithvi_eo_v2_300_tl", VARIANTS["prithvi_eo_v2_300_tl"].summary)
prithvi_eo_v2_600 = variant_factory(build_prithvi, "prithvi_eo_v2_600", VARIANTS["prithvi_eo_v2_600"].summary)
prithvi_eo_v2_600_tl = variant_factory(build_prithvi, "prithvi_eo_v2_600_tl", VARIANTS["prithvi_eo_v2_600_tl"].summary)
prithvi_eo_v2_tiny_tl = variant_factory(
    build_prithvi, "prithvi_eo_v2_tiny_tl", VARIANTS["prithvi_eo_v2_tiny_tl"].summary
)
prithvi_eo_v2_100_tl = variant_factory(build_prithvi, "prithvi_eo_v2_100_tl", VARIANTS["prithvi_eo_v2_100_tl"].summary)
