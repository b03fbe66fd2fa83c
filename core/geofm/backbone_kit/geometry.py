"""The size of a ViT-style encoder's transformer, as variants declare it and options override it (no torch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TransformerGeometry"]


@dataclass(frozen=True)
class TransformerGeometry:
    """Token ``width``, number of blocks (``depth``), attention heads and MLP hidden width / ``width``."""

    width: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0

    @property
    def mlp_width(self) -> int:
        """The MLP's hidden width, ``int(width * mlp_ratio)``."""
        return int(self.width * self.mlp_ratio)

    @classmethod
    def of(
        cls, variant: object, options: Mapping[str, Any], *, width: str = "embed_dim", heads: str = "num_heads"
    ) -> TransformerGeometry:
        """The geometry of ``variant`` with the factory ``options`` that override it.

        ``width`` and ``heads`` name the token width and the heads, both as the variant's fields and as
        options (the plugin's names); depth and MLP ratio are ``depth`` and ``mlp_ratio`` in both.
        """
        names = (width, "depth", heads, "mlp_ratio")
        value = {name: options.get(name, getattr(variant, name)) for name in names}
        return cls(int(value[width]), int(value["depth"]), int(value[heads]), float(value["mlp_ratio"]))
