"""The DOFA encoder: wavelength-generated patch embedding, learned position table, timm ViT blocks.

One configurable class covers every variant (and tiny test configurations). Parameter names equal the
reference's (TorchGeo ``DOFA`` without its classification ``fc_norm`` / ``head``), so the released files
load strictly (see :mod:`geofm_dofa.checkpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from geofm.backbone_kit import (
    GradCheckpointing,
    TokenBackbone,
    TransformerGeometry,
    flat_band_names,
    init_linears,
    run_blocks,
    single_frame_pixels,
)
from geofm.errors import DataError
from geofm_dofa.embedding import DOFAEmbedding
from geofm_dofa.pos_embed import resize_pos_embed, sincos_pos_embed
from geofm_dofa.variants import WAVELENGTH_DIM
from geofm_dofa.wavelengths import dofa_wavelengths

__all__ = ["DOFAEncoder"]


class DOFAEncoder(TokenBackbone, GradCheckpointing, nn.Module):
    """DOFA's ViT encoder; ``forward_features`` returns every block's tokens (B, 1 + h*w, D), cls first.

    ``geometry`` sizes the transformer; ``img_size`` fixes the position table's grid (``img_size /
    patch_size`` squared); ``bands`` / ``wavelengths`` (micrometres) describe the channels the module expects
    by default (``None``: the channels are given per call). ``dynamic_img_size`` lets inputs of another size
    through by interpolating the position table per call (bilinear, as on load); without it such an input is
    an error, as in the reference. No final norm is applied to any block's output (the reference's backbone
    never uses ``fc_norm`` / ``norm``). The module follows geofm's backbone contract (:mod:`geofm.specs`).
    """

    def __init__(
        self,
        geometry: TransformerGeometry,
        *,
        img_size: int = 224,
        patch_size: int = 16,
        bands: Sequence[str] | None = None,
        wavelengths: Sequence[float] | None = None,
        dynamic_img_size: bool = True,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"img_size {img_size} is not a multiple of the patch size {patch_size}")
        if bands is not None and wavelengths is not None and len(bands) != len(wavelengths):
            raise ValueError(f"{len(wavelengths)} wavelengths for {len(bands)} bands")
        embed_dim, depth = geometry.width, geometry.depth
        self.geometry, self.embed_dim, self.depth, self.img_size = geometry, embed_dim, depth, img_size
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.declare_token_features(embed_dim, depth, patch_size)
        self.bands: tuple[str, ...] | None = tuple(bands) if bands is not None else None
        if wavelengths is None and bands is not None:
            wavelengths = dofa_wavelengths(bands)
        self.wavelengths: tuple[float, ...] | None = (
            tuple(float(w) for w in wavelengths) if wavelengths is not None else None
        )
        self.dynamic_img_size = dynamic_img_size
        self.grad_checkpointing = grad_checkpointing
        self.checkpoint_report: dict[str, Any] | None = None

        self.patch_embed = DOFAEmbedding(WAVELENGTH_DIM, patch_size, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        # learned in pretraining and frozen by the reference (requires_grad=False), loaded from the checkpoint
        self.pos_embed = nn.Parameter(sincos_pos_embed(embed_dim, self.grid_size), requires_grad=False)
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            Block(embed_dim, geometry.num_heads, geometry.mlp_ratio, qkv_bias=True, norm_layer=norm)
            for _ in range(depth)
        )
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.normal_(self.cls_token, std=0.02)
        init_linears(self.blocks)

    def _wavelengths(self, channels: int, wavelengths: Any, band_names: Any, device: torch.device) -> Tensor:
        if wavelengths is not None:
            values = torch.as_tensor(wavelengths, dtype=torch.float32, device=device)
            if values.ndim == 2 and bool((values == values[:1]).all()):
                values = values[0]  # a collated batch of identical per-sample lists
            source = "wavelengths"
        elif band_names is not None:
            values = torch.tensor(
                dofa_wavelengths(flat_band_names(band_names, "DOFA")), dtype=torch.float32, device=device
            )
            source = "band_names"
        elif self.wavelengths is not None:
            values = torch.tensor(self.wavelengths, dtype=torch.float32, device=device)
            source = f"the bands it was built with ({', '.join(self.bands or ()) or 'explicit wavelengths'})"
        else:
            raise DataError(
                "this DOFA encoder was built without bands (channels as given): pass wavelengths=[...] "
                "(micrometres, one per channel) or band_names=[...] to forward_features, or build it with bands"
            )
        values = values.reshape(-1)
        if values.numel() != channels:
            raise DataError(
                f"DOFA got {values.numel()} wavelengths from {source} for an input of {channels} channels: give "
                "one wavelength (micrometres) per channel, or build the backbone with the input's bands"
            )
        if not bool(torch.isfinite(values).all()) or bool((values <= 0).any()):
            raise DataError(f"DOFA wavelengths must be positive micrometres; got {values.tolist()}")
        return values

    def _positions(self, grid: tuple[int, int]) -> Tensor:
        if grid == self.grid_size:
            return self.pos_embed
        if not self.dynamic_img_size:
            size = (grid[0] * self.patch_size, grid[1] * self.patch_size)
            raise DataError(
                f"this DOFA encoder takes {self.img_size}x{self.img_size} inputs (img_size), not {size[0]}x{size[1]}; "
                f"build it with img_size={size[0]} (square) or dynamic_img_size=true"
            )
        return resize_pos_embed(self.pos_embed, self.grid_size, grid)

    def forward_features(
        self,
        x: Tensor,
        wavelengths: Sequence[float] | Tensor | None = None,
        band_names: Any = None,
        **ignored: Any,
    ) -> list[Tensor]:
        """Every block's output (B, 1 + h*w, D), cls first, no final norm.

        ``wavelengths`` (C,) in micrometres is the reference's input and wins; otherwise the batch's
        ``band_names`` give them (through :func:`~geofm_dofa.wavelengths.dofa_wavelengths`), else the
        bands the module was built with. Other batch metadata (``timestamps``, ``center_latlon``, ``gsd``)
        is ignored: DOFA uses none.
        """
        pixels = single_frame_pixels(
            x, "DOFA", self.patch_size, "pad or crop it (geofm.build_model pads automatically)"
        )
        batch, channels, height, width = pixels.shape
        waves = self._wavelengths(channels, wavelengths, band_names, pixels.device)
        tokens = self.patch_embed(pixels, waves)
        grid = (height // self.patch_size, width // self.patch_size)
        positions = self._positions(grid).to(tokens.dtype)
        tokens = tokens + positions[:, 1:]
        cls = (self.cls_token + positions[:, :1]).to(tokens.dtype).expand(batch, -1, -1)
        hidden = torch.cat((cls, tokens), dim=1)
        return run_blocks(self.blocks, hidden, checkpointing=self.grad_checkpointing)

    def forward(self, x: Tensor, **meta: Any) -> list[Tensor]:
        """Same as :meth:`forward_features`."""
        return self.forward_features(x, **meta)

    @property
    def num_patches(self) -> int:
        """Tokens of an ``img_size`` input (without the cls token)."""
        return math.prod(self.grid_size)
