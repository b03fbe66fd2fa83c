"""A tiny ViT for tests and quick runs: timm blocks, any bands, any number of frames, any patch-multiple size.

Patches are embedded with a Conv3d of tubelet 1, so (B, C, H, W) and (B, C, T, H, W) both work; the fixed
sin-cos position embedding (time x height x width) is rebuilt for the grid of each input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from geofm.errors import DataError, WeightsError

__all__ = ["TinyViT", "build_tiny_vit", "load_strict", "sincos_1d", "sincos_3d"]

DEFAULT_IN_CHANS = 6
DEFAULT_EMBED_DIM = 64
DEFAULT_DEPTH = 4
DEFAULT_NUM_HEADS = 4
DEFAULT_PATCH_SIZE = 8
"""The size of the tiny ViT when not given, the same for :class:`TinyViT` and :func:`build_tiny_vit`."""


def sincos_1d(dim: int, positions: Tensor) -> Tensor:
    """Sin-cos embedding (N, dim) of 1-D ``positions`` (dim even): sines in the first half, cosines after."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even width, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64, device=positions.device) / (dim / 2))
    angles = positions.double().reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_3d(dim: int, frames: int, height: int, width: int, device: torch.device | None = None) -> Tensor:
    """Fixed position embedding (frames*height*width, dim), time-major, as Prithvi's 3-D sin-cos.

    The width is split into time, height and width parts (each even), which sum to ``dim``.
    """
    part = (dim // 3) // 2 * 2
    sizes = (dim - 2 * part, part, part)
    grids = torch.meshgrid(
        torch.arange(frames, device=device),
        torch.arange(height, device=device),
        torch.arange(width, device=device),
        indexing="ij",
    )
    return torch.cat([sincos_1d(size, grid.flatten()) for size, grid in zip(sizes, grids, strict=True)], dim=1)


class TinyViT(nn.Module):
    """A small pre-norm ViT; ``forward_features`` returns every block's tokens (B, 1 + T*H'*W', D)."""

    output_kind = "tokens"
    num_prefix_tokens = 1
    tubelet_size = 1

    def __init__(
        self,
        in_chans: int = DEFAULT_IN_CHANS,
        embed_dim: int = DEFAULT_EMBED_DIM,
        depth: int = DEFAULT_DEPTH,
        num_heads: int = DEFAULT_NUM_HEADS,
        patch_size: int = DEFAULT_PATCH_SIZE,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads or embed_dim < 6:
            raise ValueError(f"embed_dim {embed_dim} must be >= 6 and divisible by num_heads {num_heads}")
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.patch_size = patch_size
        self.patch_embed = nn.Conv3d(
            in_chans, embed_dim, kernel_size=(1, patch_size, patch_size), stride=(1, patch_size, patch_size)
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.out_channels = [embed_dim] * depth
        self.out_reductions = [patch_size] * depth
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def grid(self, x: Tensor) -> tuple[int, int, int]:
        """The token grid (T, H', W') of input ``x``."""
        frames = x.shape[2] if x.ndim == 5 else 1
        return frames, x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size

    def forward_features(self, x: Tensor, **meta: Any) -> list[Tensor]:
        """Tokens after each block, the last one normalised; ``meta`` is accepted and ignored."""
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.ndim != 5 or x.shape[1] != self.in_chans:
            raise DataError(
                f"tiny_vit expects (B, {self.in_chans}, H, W) or (B, {self.in_chans}, T, H, W), got {tuple(x.shape)}"
            )
        if x.shape[-2] % self.patch_size or x.shape[-1] % self.patch_size:
            raise DataError(
                f"tiny_vit: image size {tuple(x.shape[-2:])} is not a multiple of the patch size {self.patch_size}; "
                "pad the input (the composed model does)"
            )
        tokens = self.patch_embed(x)  # (B, D, T, H', W')
        _, dim, frames, height, width = tokens.shape
        tokens = tokens.flatten(2).transpose(1, 2)
        tokens = tokens + sincos_3d(dim, frames, height, width, tokens.device).to(tokens.dtype)
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], dim=1)
        features = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            features.append(self.norm(tokens) if index == len(self.blocks) - 1 else tokens)
        return features

    def forward(self, x: Tensor, **meta: Any) -> list[Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x, **meta)


def load_strict(module: nn.Module, checkpoint: Path, name: str) -> None:
    """Load the flat state dict in ``checkpoint`` into ``module``; any key difference is a WeightsError."""
    from geofm.weights import load_state_dict, state_mismatch

    state = load_state_dict(checkpoint)
    problems = state_mismatch(module.state_dict(), state)
    if problems:
        raise WeightsError(
            f"{checkpoint} does not fit {name} ({'; '.join(problems)}). "
            "Pass a flat state dict of this backbone (model.state_dict()) or --weights none."
        )
    module.load_state_dict(state, strict=True)


def build_tiny_vit(
    *,
    checkpoint: Path | None = None,
    bands: Sequence[str] | None = None,
    num_frames: int | None = None,
    img_size: int | None = None,
    embed_dim: int = DEFAULT_EMBED_DIM,
    depth: int = DEFAULT_DEPTH,
    num_heads: int = DEFAULT_NUM_HEADS,
    patch_size: int = DEFAULT_PATCH_SIZE,
    **meta: Any,
) -> TinyViT:
    """Build the tiny ViT: ``len(bands)`` input channels (6 without bands); loads ``checkpoint`` strictly.

    ``num_frames`` and ``img_size`` need no configuration (any frame count and any patch-multiple size
    work); unknown keyword options are ignored.
    """
    model = TinyViT(
        in_chans=len(bands) if bands else DEFAULT_IN_CHANS,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        patch_size=patch_size,
    )
    if checkpoint is not None:
        load_strict(model, Path(checkpoint), "tiny_vit")
    return model
