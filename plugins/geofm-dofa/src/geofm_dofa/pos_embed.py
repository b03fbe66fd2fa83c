"""DOFA's position table: (1, 1 + h*w, D), the cls row first, then the token grid row-major.

The released table is learned and always taken from the checkpoint; :func:`resize_pos_embed` fits it to
another grid as the reference does when loading for another ``img_size``; :func:`sincos_pos_embed` is only
the starting table of a model trained from random initialisation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["grid_of", "resize_pos_embed", "sincos_pos_embed"]


def grid_of(table: Tensor) -> tuple[int, int] | None:
    """The square (g, g) token grid of a (1, 1 + g*g, D) table, or ``None`` when it is not one."""
    if table.ndim != 3 or table.shape[0] != 1 or table.shape[1] < 2:
        return None
    side = math.isqrt(table.shape[1] - 1)
    return (side, side) if side * side == table.shape[1] - 1 else None


def resize_pos_embed(table: Tensor, source: tuple[int, int], target: tuple[int, int]) -> Tensor:
    """``table`` (1, 1 + source grid, D) fitted to the ``target`` grid; the cls row is kept.

    The grid part is read as a D x h x w image and resized bilinearly (align_corners=False, no
    antialias), computed in float32, and returned in the table's dtype. Equal grids return ``table``.
    """
    if tuple(source) == tuple(target):
        return table
    dim = table.shape[-1]
    cls, grid = table[:, :1], table[:, 1:]
    image = grid.float().reshape(1, source[0], source[1], dim).permute(0, 3, 1, 2)
    image = F.interpolate(image, size=tuple(target), mode="bilinear", align_corners=False, antialias=False)
    grid = image.permute(0, 2, 3, 1).reshape(1, target[0] * target[1], dim).to(table.dtype)
    return torch.cat((cls, grid), dim=1)


def sincos_pos_embed(dim: int, grid: tuple[int, int]) -> Tensor:
    """The MAE 2-D sin-cos table (1, 1 + h*w, dim) with a zero cls row (random-initialisation start)."""
    if dim % 4:
        raise ValueError(f"a 2-D sin-cos position table needs a width divisible by 4, not {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(grid[0], dtype=torch.float64), torch.arange(grid[1], dtype=torch.float64), indexing="ij"
    )

    def encode(positions: Tensor) -> Tensor:
        angles = positions.reshape(-1, 1) * omega[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=1)

    table = torch.cat((encode(cols), encode(rows)), dim=1).float()
    return torch.cat((torch.zeros(1, dim), table), dim=0)[None]
