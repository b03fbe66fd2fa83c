"""What necks know about the input besides the features themselves (no torch needed to describe it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FeatureContext"]


@dataclass(frozen=True)
class FeatureContext:
    """The geometry of one forward pass, handed to every neck.

    ``image_size`` is the (H, W) the backbone saw (after padding to a multiple of its patch size);
    ``grid`` is the token grid (T', H', W') for token backbones (``None`` for CNNs); ``num_prefix_tokens``
    is how many cls/register tokens precede the patch tokens.
    """

    image_size: tuple[int, int]
    grid: tuple[int, int, int] | None = None
    num_prefix_tokens: int = 0
