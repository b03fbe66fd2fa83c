"""The Prithvi-EO encoder: 3-D patch embedding, fixed 3-D sin-cos positions, timm ViT blocks.

One configurable class covers every released variant (and tiny test configurations). Parameter and
buffer names equal the reference implementation's encoder, so released checkpoints load strictly
(see :mod:`geofm_prithvi.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from timm.models.vision_transformer import Block
from torch import nn

from geofm.backbone_kit import GradCheckpointing, TokenBackbone, TransformerGeometry, init_linears, run_blocks
from geofm.errors import DataError
from geofm_prithvi.encodings import LocationEncoder, TemporalEncoder, latlon_to_location, timestamps_to_year_doy
from geofm_prithvi.pos_embed import resize_pos_embed, sincos_3d_table

__all__ = ["PatchEmbed3D", "PrithviViT"]


def _triple(value: int | Sequence[int], name: str) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (1, value, value)
    items = tuple(int(v) for v in value)
    if len(items) == 2:
        return (1, items[0], items[1])
    if len(items) != 3:
        raise ValueError(f"{name} must be an int, (h, w) or (t, h, w); got {value!r}")
    return (items[0], items[1], items[2])


class PatchEmbed3D(nn.Module):
    """Conv3d with kernel = stride = patch: (B, C, T, H, W) -> (B, T'H'W', D), tokens in (t, h, w) order."""

    def __init__(self, patch_size: tuple[int, int, int], in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed the patches of a (B, C, T, H, W) input whose T, H, W are multiples of the patch."""
        return self.proj(x).flatten(2).transpose(1, 2)


class PrithviViT(TokenBackbone, GradCheckpointing, nn.Module):
    """The Prithvi-EO encoder (the ``encoder`` of the reference ``PrithviMAE``).

    ``geometry`` sizes the transformer; ``patch_size`` is (tubelet, height, width) (an int means (1, p, p));
    ``img_size`` and ``num_frames`` set the grid of the stored position table (other inputs get it rebuilt /
    interpolated per call); ``coords_encoding`` adds the TL encodings (``"time"``, ``"location"``) whose
    ``scale`` is learned when ``coords_scale_learn``. ``grad_checkpointing`` recomputes each block's
    activations in the backward pass to save memory.
    """

    def __init__(
        self,
        geometry: TransformerGeometry,
        *,
        img_size: int | Sequence[int] = 224,
        patch_size: int | Sequence[int] = (1, 16, 16),
        num_frames: int = 1,
        in_chans: int = 6,
        coords_encoding: Sequence[str] = (),
        coords_scale_learn: bool = False,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        unknown = set(coords_encoding) - {"time", "location"}
        if unknown:
            raise ValueError(f"coords_encoding may hold 'time' and 'location', not {sorted(unknown)}")
        self.patch_size_3d = _triple(patch_size, "patch_size")
        tubelet, patch_h, patch_w = self.patch_size_3d
        height, width = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if height % patch_h or width % patch_w or num_frames % tubelet:
            raise ValueError(
                f"img_size {img_size} and num_frames {num_frames} must be multiples of the patch {self.patch_size_3d}"
            )
        embed_dim, depth = geometry.width, geometry.depth
        self.geometry, self.in_chans, self.embed_dim, self.depth = geometry, in_chans, embed_dim, depth
        self.num_frames = num_frames
        self.img_size = (height, width)
        self.grid_size = (num_frames // tubelet, height // patch_h, width // patch_w)
        self.tubelet_size = tubelet
        self.declare_token_features(embed_dim, depth, patch_h)
        self.grad_checkpointing = grad_checkpointing

        self.patch_embed = PatchEmbed3D(self.patch_size_3d, in_chans, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.register_buffer("pos_embed", sincos_3d_table(embed_dim, self.grid_size), persistent=True)
        self.temporal_encoding = "time" in coords_encoding
        self.location_encoding = "location" in coords_encoding
        if self.temporal_encoding:
            self.temporal_embed_enc = TemporalEncoder(embed_dim, coords_scale_learn)
        if self.location_encoding:
            self.location_embed_enc = LocationEncoder(embed_dim, coords_scale_learn)
        self.blocks = nn.ModuleList(
            Block(embed_dim, geometry.num_heads, geometry.mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self._init_weights()

    def _init_weights(self) -> None:
        weight = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.normal_(self.cls_token, std=0.02)
        init_linears(self.blocks)

    def _to_5d(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:
            x = x.unsqueeze(2)
        if x.ndim != 5:
            raise DataError(f"Prithvi expects (B, C, H, W) or (B, C, T, H, W) input, got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_chans:
            raise DataError(
                f"Prithvi was built for {self.in_chans} input bands but the input has {x.shape[1]} channels "
                f"(shape {tuple(x.shape)}); pass the input's bands when building the backbone"
            )
        tubelet, patch_h, patch_w = self.patch_size_3d
        _, _, frames, height, width = x.shape
        if frames % tubelet or height % patch_h or width % patch_w:
            raise DataError(
                f"input of {frames} frames x {height} x {width} px is not a multiple of the patch "
                f"{self.patch_size_3d}; pad it (geofm.build_model pads and crops automatically)"
            )
        return x

    def grid_for(self, shape: Sequence[int]) -> tuple[int, int, int]:
        """The token grid (T', H', W') of an input of shape (B, C, [T,] H, W)."""
        frames = shape[2] if len(shape) == 5 else 1
        tubelet, patch_h, patch_w = self.patch_size_3d
        return (frames // tubelet, shape[-2] // patch_h, shape[-1] // patch_w)

    def _frame_coords(self, coords: torch.Tensor, frames: int, what: str) -> torch.Tensor:
        if coords.shape[1] == frames:
            return coords
        if coords.shape[1] == 1:
            return coords.expand(-1, frames, *coords.shape[2:])
        if coords.shape[1] == frames * self.tubelet_size:
            return coords[:, :: self.tubelet_size]
        raise DataError(f"{what} has {coords.shape[1]} frames but the input has {frames * self.tubelet_size}")

    def _add_coords(
        self,
        x: torch.Tensor,
        grid: tuple[int, int, int],
        temporal_coords: torch.Tensor | None,
        location_coords: torch.Tensor | None,
        timestamps: torch.Tensor | None,
        center_latlon: torch.Tensor | None,
    ) -> torch.Tensor:
        tokens_per_frame = grid[1] * grid[2]
        if self.temporal_encoding:
            mask = None
            if temporal_coords is None and timestamps is not None:
                stamps = torch.as_tensor(timestamps)
                stamps = stamps.reshape(stamps.shape[0], -1)
                temporal_coords, mask = timestamps_to_year_doy(stamps)
            if temporal_coords is not None and (mask is None or bool(mask.any())):
                coords = self._frame_coords(torch.as_tensor(temporal_coords, device=x.device), grid[0], "temporal")
                encoding = self.temporal_embed_enc(coords, tokens_per_frame)
                if mask is not None:
                    mask = self._frame_coords(mask.to(x.device), grid[0], "timestamps")
                    encoding = encoding * mask.repeat_interleave(tokens_per_frame, dim=1).unsqueeze(-1)
                x = x + encoding.to(x.dtype)
        if self.location_encoding:
            mask = None
            if location_coords is None and center_latlon is not None:
                location_coords, mask = latlon_to_location(torch.as_tensor(center_latlon))
            if location_coords is not None and (mask is None or bool(mask.any())):
                encoding = self.location_embed_enc(torch.as_tensor(location_coords, device=x.device))
                if mask is not None:
                    encoding = encoding * mask.to(x.device).reshape(-1, 1, 1)
                x = x + encoding.to(x.dtype)
        return x

    def forward_features(
        self,
        x: torch.Tensor,
        temporal_coords: torch.Tensor | None = None,
        location_coords: torch.Tensor | None = None,
        timestamps: torch.Tensor | None = None,
        center_latlon: torch.Tensor | None = None,
        **ignored: Any,
    ) -> list[torch.Tensor]:
        """The output of every block, (B, 1 + T'H'W', D) each; the last one after the final norm.

        ``temporal_coords`` (B, T, 2) [year, day of year] and ``location_coords`` (B, 2) (lon, lat) are
        the reference's inputs; otherwise the TL encodings come from geofm's ``timestamps`` (B, T) and
        ``center_latlon`` (B, 2), skipping samples (and frames) whose values are NaN. Non-TL variants and
        absent coordinates add nothing. Other batch metadata is ignored.
        """
        x = self._to_5d(x)
        grid = self.grid_for(x.shape)
        tokens = self.patch_embed(x)
        pos_embed = resize_pos_embed(self.pos_embed, self.grid_size, grid)
        tokens = tokens + pos_embed[:, 1:].to(tokens.dtype)
        tokens = self._add_coords(tokens, grid, temporal_coords, location_coords, timestamps, center_latlon)
        cls = (self.cls_token + pos_embed[:, :1]).to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        hidden = torch.cat([cls, tokens], dim=1)
        return run_blocks(self.blocks, hidden, checkpointing=self.grad_checkpointing, final_norm=self.norm)

    def forward(self, x: torch.Tensor, **meta: Any) -> list[torch.Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x, **meta)
