"""TerraMind's building blocks: bias-free LayerNorm, pre-norm transformer blocks, modality patch embeddings.

Parameter and buffer names equal the reference's, so the released checkpoints' encoder keys load strictly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from geofm.errors import DataError

__all__ = [
    "Attention",
    "Block",
    "LayerNorm",
    "Mlp",
    "ModalityEmbedding",
    "resize_pos_table",
    "sincos_2d_table",
]


class LayerNorm(nn.Module):
    """LayerNorm with a learned weight and no learned bias (the bias is a zero buffer, kept in checkpoints)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.normalized_shape = (dim,)
        self.weight = nn.Parameter(torch.ones(dim))
        self.register_buffer("bias", torch.zeros(dim))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise the last dimension."""
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, eps=self.eps)


class Attention(nn.Module):
    """Multi-head self-attention: one qkv projection split as (3, heads, dim / heads), then ``proj``."""

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the tokens of (B, N, D)."""
        batch, length, dim = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head dim)) v
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` with exact (erf) GELU (tiny, small), or ``gated``: SwiGLU ``fc2(SiLU(fc1(x)) * fc3(x))``.

    The gated form is that of base and large; its ``hidden`` is already the 2/3-scaled width.
    """

    def __init__(self, dim: int, hidden: int, bias: bool, gated: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.act = nn.SiLU() if gated else nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, bias=bias)
        self.gated = gated
        if gated:
            self.fc3 = nn.Linear(dim, hidden, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP to (..., dim)."""
        hidden = self.act(self.fc1(x))
        return self.fc2(hidden * self.fc3(x) if self.gated else hidden)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, gated_mlp: bool, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = LayerNorm(dim)
        self.attn = Attention(dim, num_heads, bias)
        self.norm2 = LayerNorm(dim)
        self.mlp = Mlp(dim, int(2 * hidden / 3) if gated_mlp else hidden, bias, gated=gated_mlp)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block to (B, N, D)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def sincos_2d_table(grid: int, dim: int, temperature: float = 10000.0) -> Tensor:
    """The fixed (1, grid * grid, dim) sin-cos table: token r * grid + c gets [sin rw, cos rw, sin cw, cos cw].

    w_k = 1 / temperature^(k / q), k = 0 .. q - 1, q = dim / 4; float32, as the reference builds it.
    """
    if dim % 4:
        raise ValueError(f"dim {dim} must be divisible by 4 for the 2-D sin-cos position table")
    quarter = dim // 4
    omega = 1.0 / (temperature ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    rows, cols = torch.meshgrid(
        torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij"
    )
    out_r = rows.reshape(-1, 1) * omega[None]
    out_c = cols.reshape(-1, 1) * omega[None]
    return torch.cat([out_r.sin(), out_r.cos(), out_c.sin(), out_c.cos()], dim=1)[None]


def resize_pos_table(table: Tensor, height: int, width: int) -> Tensor:
    """A square (1, g*g, D) table for a ``height`` x ``width`` token grid: bicubic, align_corners=False.

    Returns ``table`` itself when the grid is already g x g.
    """
    grid = math.isqrt(table.shape[1])
    if (height, width) == (grid, grid):
        return table
    dim = table.shape[-1]
    image = table.reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
    resized = F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False)
    return resized.permute(0, 2, 3, 1).reshape(1, height * width, dim)


class ModalityEmbedding(nn.Module):
    """One raw-pixel modality: 16 x 16 patches -> ``proj`` (no bias), plus position table and ``mod_emb``.

    A patch is flattened with the pixel row slowest, then the pixel column, then the channel (element
    ``(i * p + j) * C + c``), tokens in row-major grid order. ``pos_emb`` is the fixed table of the
    ``grid`` x ``grid`` pretraining grid, resized bicubically for other input grids.
    """

    def __init__(self, channels: int, dim: int, grid: int, patch_size: int = 16) -> None:
        super().__init__()
        self.channels = channels
        self.patch_size = patch_size
        self.dim = dim
        self.proj = nn.Linear(channels * patch_size * patch_size, dim, bias=False)
        self.mod_emb = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_emb", sincos_2d_table(grid, dim))
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.normal_(self.mod_emb, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) pixels -> (B, H/p * W/p, D) tokens with position and modality embeddings added."""
        batch, channels, height, width = x.shape
        p = self.patch_size
        if channels != self.channels:
            raise DataError(f"this modality's embedding takes {self.channels} channels, the input has {channels}")
        if height % p or width % p:
            raise DataError(
                f"input of {height} x {width} px is not a multiple of TerraMind's patch {p}; pad it "
                "(geofm.build_model pads and crops automatically)"
            )
        rows, cols = height // p, width // p
        patches = x.reshape(batch, channels, rows, p, cols, p).permute(0, 2, 4, 3, 5, 1)
        tokens = self.proj(patches.reshape(batch, rows * cols, p * p * channels))
        pos = resize_pos_table(self.pos_emb, rows, cols).to(tokens.dtype)
        return tokens + (pos + self.mod_emb.to(tokens.dtype))
