"""Shared pieces of the backbone plugins: spec declarations, factory options, and (torch) model helpers.

A backbone plugin declares its variants as data (:class:`TokenVariant`, :class:`TransformerGeometry`),
turns each into a :class:`~geofm.specs.BackboneSpec` (:func:`token_backbone_spec`), builds one factory per
variant (:func:`variant_factory`) whose builder takes a :class:`BackboneRequest` and checks its options
(:func:`check_options`, :func:`check_single_frame`, :func:`as_bool`), and runs its transformer blocks
through the torch helpers (:func:`run_blocks`, :func:`init_linears`, :func:`single_frame_pixels`,
:class:`ResidualMlp`, :class:`GradCheckpointing`, :class:`TokenBackbone`).

Importing this package imports no torch, so a plugin's ``plugin.py`` may use it: the torch helpers are
loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geofm.backbone_kit.geometry import TransformerGeometry
from geofm.backbone_kit.options import (
    GRAD_CHECKPOINTING,
    as_bool,
    check_options,
    check_single_frame,
    flat_band_names,
    round_up,
)
from geofm.backbone_kit.specs import TokenVariant, quarter_levels, token_backbone_spec
from geofm.backbone_kit.variants import BackboneRequest, variant_factory
from geofm.lazy import lazy_exports

if TYPE_CHECKING:
    from geofm.backbone_kit.modules import (
        GradCheckpointing,
        ResidualMlp,
        TokenBackbone,
        init_linears,
        run_blocks,
        single_frame_pixels,
    )

__all__ = [
    "GRAD_CHECKPOINTING",
    "BackboneRequest",
    "GradCheckpointing",
    "ResidualMlp",
    "TokenBackbone",
    "TokenVariant",
    "TransformerGeometry",
    "as_bool",
    "check_options",
    "check_single_frame",
    "flat_band_names",
    "init_linears",
    "quarter_levels",
    "round_up",
    "run_blocks",
    "single_frame_pixels",
    "token_backbone_spec",
    "variant_factory",
]

_MODULES = "geofm.backbone_kit.modules"
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        name: _MODULES
        for name in (
            "GradCheckpointing",
            "ResidualMlp",
            "TokenBackbone",
            "init_linears",
            "run_blocks",
            "single_frame_pixels",
        )
    },
)
"""Public names of :mod:`geofm.backbone_kit.modules` are imported on first use (they need torch)."""
