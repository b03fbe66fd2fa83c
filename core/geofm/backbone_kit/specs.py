"""Declaring a transformer backbone's spec from its variant data (no torch)."""

from __future__ import annotations

from typing import Any, Protocol

from geofm.specs import BackboneSpec

__all__ = ["TokenVariant", "quarter_levels", "token_backbone_spec"]


class TokenVariant(Protocol):
    """What :func:`token_backbone_spec` reads from a plugin's variant record."""

    @property
    def name(self) -> str:
        """The backbone name (and the factory's attribute name)."""

    @property
    def summary(self) -> str:
        """One line for ``geofm backbones list``."""

    @property
    def embed_dim(self) -> int:
        """Channels of every block's token feature."""

    @property
    def depth(self) -> int:
        """Number of blocks, so of features."""

    @property
    def default_levels(self) -> tuple[int, ...]:
        """The features a dense decoder takes by default."""

    @property
    def img_size(self) -> int:
        """The pretraining input side in pixels."""


def quarter_levels(depth: int) -> tuple[int, ...]:
    """The last block of each quarter of a ``depth``-block transformer: (2, 5, 8, 11) for 12 blocks."""
    return tuple(depth * quarter // 4 - 1 for quarter in range(1, 5))


def token_backbone_spec(variant: TokenVariant, *, factory_module: str, patch_size: int, **fields: Any) -> BackboneSpec:
    """The spec of a plain ViT-style backbone: one (B, N, ``variant.embed_dim``) token feature per block.

    Name, summary, width, depth, default levels and image size come from ``variant``; the factory is
    ``factory_module:<name>``; every feature has a reduction of ``patch_size``. ``fields`` are the other
    :class:`~geofm.specs.BackboneSpec` fields (the spec's defaults where absent).
    """
    return BackboneSpec(
        name=variant.name,
        factory=f"{factory_module}:{variant.name}",
        output_kind="tokens",
        summary=variant.summary,
        embed_dim=variant.embed_dim,
        depth=variant.depth,
        feature_channels=(variant.embed_dim,) * variant.depth,
        feature_reductions=(patch_size,) * variant.depth,
        default_levels=variant.default_levels,
        patch_size=patch_size,
        img_size=variant.img_size,
        **fields,
    )
