"""Prithvi's fixed sin-cos position tables: the 3-D table, its resizing, and the 1-D encoding.

The table has one row per token (index ``t*H'*W' + h*W' + w``) plus a leading all-zero cls row; its
channels are ``[w | h | t]`` with widths ``6D/16 : 6D/16 : 4D/16``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize_pos_embed", "sincos_1d", "sincos_3d_table"]


def sincos_1d(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    """Sin-cos encoding of ``positions`` (any shape, flattened): (M, embed_dim), in the positions' dtype.

    ``omega_i = 1 / 10000^(i / (embed_dim/2))``; the row is ``[sin(p*omega) ..., cos(p*omega) ...]``.
    """
    if embed_dim % 2:
        raise ValueError(f"sin-cos encoding needs an even width, got {embed_dim}")
    omega = torch.arange(embed_dim // 2, dtype=positions.dtype, device=positions.device)
    omega = 1.0 / 10000 ** (omega / (embed_dim / 2.0))
    angles = positions.reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def sincos_3d_table(embed_dim: int, grid: tuple[int, int, int], cls_token: bool = True) -> torch.Tensor:
    """The (1, [1 +] T'H'W', D) table for a (T', H', W') token grid, computed in float64, returned float32."""
    if embed_dim % 16:
        raise ValueError(f"the 3-D position table needs embed_dim divisible by 16, got {embed_dim}")
    t_size, h_size, w_size = grid
    w_dim = h_dim = embed_dim // 16 * 6
    t_dim = embed_dim // 16 * 4
    f64 = torch.float64
    w_part = sincos_1d(w_dim, torch.arange(w_size, dtype=f64)).repeat(t_size * h_size, 1)
    h_part = sincos_1d(h_dim, torch.arange(h_size, dtype=f64)).repeat_interleave(w_size, dim=0).repeat(t_size, 1)
    t_part = sincos_1d(t_dim, torch.arange(t_size, dtype=f64)).repeat_interleave(h_size * w_size, dim=0)
    table = torch.cat([w_part, h_part, t_part], dim=1)
    if cls_token:
        table = torch.cat([torch.zeros(1, embed_dim, dtype=f64), table], dim=0)
    return table.to(torch.float32).unsqueeze(0)


def resize_pos_embed(
    pos_embed: torch.Tensor, grid: tuple[int, int, int], new_grid: tuple[int, int, int]
) -> torch.Tensor:
    """The table of a model built for ``grid`` (T', H', W'), adapted to an input whose grid is ``new_grid``.

    A different number of frames rebuilds the table for the new T' on the original H'W' grid; a
    different H'W' then interpolates the spatial part frame by frame (bicubic, ``align_corners=True``),
    keeping the cls row. ``pos_embed`` is (1, 1 + T'H'W', D).
    """
    if tuple(new_grid) == tuple(grid):
        return pos_embed
    embed_dim = pos_embed.shape[-1]
    t_new, h_new, w_new = new_grid
    if t_new != grid[0]:
        base_grid = (t_new, grid[1], grid[2])
        table = sincos_3d_table(embed_dim, base_grid).to(device=pos_embed.device, dtype=pos_embed.dtype)
    else:
        base_grid = tuple(grid)
        table = pos_embed
    if (h_new, w_new) == (base_grid[1], base_grid[2]):
        return table
    cls_row, patches = table[:, :1], table[:, 1:]
    patches = patches.reshape(*base_grid, embed_dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=(h_new, w_new), mode="bicubic", align_corners=True)
    patches = patches.permute(0, 2, 3, 1).reshape(1, -1, embed_dim)
    return torch.cat([cls_row, patches], dim=1)
